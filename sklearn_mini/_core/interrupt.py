"""Turn Ctrl-C (SIGINT) and SIGTERM during a fit into a clean stop after the current step.

The default SIGINT behaviour raises KeyboardInterrupt wherever Python happens to be,
possibly between an optimiser's updates of two parameters. Inside :func:`stop_signals`
the first signal only sets a flag that the training loop reads after each step; a second
Ctrl-C raises KeyboardInterrupt at once, for a user who really wants out.
"""

import contextlib
import signal
import threading


class StopRequest:
    """Set by a signal handler; read by the training loop."""

    def __init__(self):
        self.signal_name = None

    def __bool__(self):
        return self.signal_name is not None


@contextlib.contextmanager
def stop_signals():
    """Yield a :class:`StopRequest` set by SIGINT / SIGTERM while the block runs.

    Signal handlers can only be installed from the main thread; elsewhere (a joblib
    thread, a Dask worker thread) the request is never set and signals behave as usual.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    names = {signal.SIGINT: "SIGINT"}
    if hasattr(signal, "SIGTERM"):
        names[signal.SIGTERM] = "SIGTERM"

    def handler(signum, frame):
        if request and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        request.signal_name = names[signum]

    previous = {}
    try:
        for signum in names:
            previous[signum] = signal.signal(signum, handler)
        yield request
    finally:
        for signum, old in previous.items():
            # None: a handler installed outside Python, which cannot be put back.
            signal.signal(signum, signal.SIG_DFL if old is None else old)
