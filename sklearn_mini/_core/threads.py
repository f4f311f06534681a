"""How many CPU threads torch may use for one fit or one pass of inference.

torch's default is one OpenMP thread per core, and its threads spin while they wait for
each other. Beside any other busy process that is a disaster for the small matrix
products of an SAE: a spinning thread holds a core the other process wants, and every
parallel region waits for whichever thread the OS descheduled. So a problem runs on one
thread unless its products are large enough that threads still pay when the machine is
shared; then it gets every thread the caller allows.

The caller's limits are the ceiling and are never raised: ``torch.set_num_threads``,
``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits`` and the one-thread workers of
joblib and Dask all show up in ``torch.get_num_threads()``. The caller's setting is
restored on the way out.

``THREADED_MIN_MACS`` comes from ``benchmarks/bench_contention.py --crossover`` on a
2-core CPU (one fit epoch, 1 vs 2 threads, alone and beside a CPU-bound process; two
runs). Two threads were 1.4-1.8x faster alone at every size, but beside the busy process
they were slower than one thread by 37-39% at 1024 x 100 x 40 multiply-adds per encoder
product, 27-44% from 1024 x 128 x 512 to 1024 x 300 x 1024, 21-29% at 1024 x 739 x 1478,
17-20% at 1024 x 384 x 6144 and 8-11% at 1024 x 1024 x 16384. Threads are used from
where that loss falls to about a fifth: a busy neighbour then costs a large fit little
more than running alone on one thread would, and an idle machine makes it 1.6-1.8x faster.
"""

from contextlib import contextmanager

import torch

# Multiply-adds of one encoder product (rows x inputs x latents) from which threads pay.
THREADED_MIN_MACS = 2e9


def n_threads_for(macs, allowed):
    """Threads for products of ``macs`` multiply-adds when the caller allows ``allowed``."""
    return allowed if macs >= THREADED_MIN_MACS else 1


@contextmanager
def cpu_threads(macs, device):
    """Run the block with the threads :func:`n_threads_for` picks (CPU devices only).

    Yields the number of threads in use (``None`` on other devices).
    """
    if torch.device(device).type != "cpu":
        yield None
        return
    before = torch.get_num_threads()
    chosen = n_threads_for(macs, before)
    if chosen != before:
        torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        if chosen != before:
            torch.set_num_threads(before)
