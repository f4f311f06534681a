"""Independent fits run one after another, or side by side in worker processes.

Why processes and not threads: an SAE fit of a few hundred units runs torch on one
thread (``_core/threads.py``), so on a machine with more cores a job of several such
fits leaves them idle unless the fits run at once, and Python threads would serialise
on the interpreter. joblib's workers get ``cpu_count // workers`` OpenMP threads each,
which the thread rule takes as its ceiling, so parallel fits never oversubscribe the
cores.

Warnings raised in a worker are recorded there and raised again in the caller, in
order, so ``n_jobs`` changes neither what a user sees nor what ``warnings`` filters
catch.
"""

import warnings

from joblib import Parallel, delayed, effective_n_jobs


def n_workers(n_jobs, n_tasks):
    """Worker processes for ``n_tasks`` tasks: joblib's meaning of ``n_jobs`` (None: 1,
    -1: every core), never more than the tasks (an idle worker would only take threads
    from the busy ones)."""
    if n_tasks <= 1:
        return 1
    return max(1, min(effective_n_jobs(n_jobs), n_tasks))


def map_tasks(function, tasks, n_jobs=None):
    """``function(*task)`` for every task; an iterator of the results, in task order.

    With one worker the calls happen in this process, one per ``next``, so a caller can
    log before each starts. Otherwise every task goes to a pool of :func:`n_workers`
    processes at once (put the longest first) and results come back in order.
    """
    tasks = list(tasks)
    workers = n_workers(n_jobs, len(tasks))
    if workers == 1:
        return (function(*task) for task in tasks)
    results = Parallel(n_jobs=workers, return_as="generator")(
        delayed(_recording_warnings)(function, task) for task in tasks)
    return (_rewarn(*result) for result in results)


def _recording_warnings(function, task):
    """In the worker: the result and the warnings the call raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*task)
    return result, [(w.message, w.category) for w in caught]


def _rewarn(result, caught):
    """In the caller: raise the worker's warnings again, then hand back its result."""
    for message, category in caught:
        warnings.warn(message, category, stacklevel=2)
    return result
