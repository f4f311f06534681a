"""SAE fits alone and beside a busy process, in one run.

Users always have something else running. For every size this times the same fit
(same data, same seed) alone and then beside a CPU-bound child process that this script
starts and stops itself (a Python busy loop, bounded in time), with sklearn_mini's
thread choice (:mod:`sklearn_mini._core.threads`) and with torch's default (every core,
``THREADED_MIN_MACS = 0``). ``busy / alone`` is the slowdown a user sees; the thread
count in use is printed too. Each time is the fastest of ``--repeats`` fits.

    python benchmarks/bench_contention.py              # small, mid and large sizes
    python benchmarks/bench_contention.py --crossover  # 1 vs all threads, the rule's data
    python benchmarks/bench_contention.py --demo       # `sklearn-mini demo` alone and busy
    python benchmarks/bench_contention.py --examples   # every docs example alone and busy
    python benchmarks/bench_contention.py --smoke      # seconds-long run, for CI

Sizes are ``n_samples, n_features, d_sae, topk, n_epochs``: small is the issue's
(33,600 x 100 bins, d_sae 40, topk 1, 2 epochs), mid and large are the first two sizes of
``bench_sae.py`` (128 units x 2048 latents, 384 x 6144).
"""

import argparse
import contextlib
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

from sklearn_mini import SpikeSAE
from sklearn_mini._core import threads

SIZES = {
    "small": (33_600, 100, 40, 1, 2),
    "mid": (16_384, 128, 2048, 8, 1),
    "large": (16_384, 384, 6144, 16, 1),
}
SMOKE_SIZES = {"small": (4096, 32, 16, 1, 1)}
CROSSOVER_SIZES = [(100, 40, 1), (128, 512, 8), (128, 2048, 8), (300, 1024, 8),
                   (739, 1478, 14), (384, 6144, 16), (1024, 16384, 32)]
ROOT = pathlib.Path(__file__).resolve().parents[1]
BURN_LIMIT_S = 1800  # the busy child stops by itself after this, whatever happens here


@contextlib.contextmanager
def busy_process():
    """A CPU-bound child process for the duration of the block."""
    code = f"import time\nend = time.time() + {BURN_LIMIT_S}\nwhile time.time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(1.0)  # let it reach its loop
    try:
        yield child
    finally:
        child.kill()
        child.wait()


@contextlib.contextmanager
def rule(name):
    """``'sklearn_mini'``: the package's thread choice; ``'torch default'``: every core."""
    saved = threads.THREADED_MIN_MACS
    threads.THREADED_MIN_MACS = saved if name == "sklearn_mini" else 0
    try:
        yield
    finally:
        threads.THREADED_MIN_MACS = saved


def counts(n_samples, n_features, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.poisson(0.3, (n_samples, n_features)) / 4).astype(np.float32)


def fit_seconds(X, d_sae, topk, n_epochs, repeats):
    """Fastest of ``repeats`` fits, and the thread count the fit ran with."""
    used = []
    best = np.inf
    for _ in range(repeats):
        sae = SpikeSAE(d_sae=d_sae, topk=topk, n_epochs=n_epochs, random_state=0, device="cpu")
        start = time.perf_counter()
        with _record_threads(used):
            sae.fit(X)
        best = min(best, time.perf_counter() - start)
    return best, max(used)


@contextlib.contextmanager
def _record_threads(used):
    """Note the thread counts that ``cpu_threads`` picks inside the block."""
    original = threads.n_threads_for

    def spy(macs, allowed):
        used.append(original(macs, allowed))
        return used[-1]

    threads.n_threads_for = spy
    try:
        yield
    finally:
        threads.n_threads_for = original


def contention(sizes, repeats):
    print("| size | rule | threads | alone s | busy s | busy / alone |")
    print("|---|---|---|---|---|---|")
    for name, (n, f, d, k, epochs) in sizes.items():
        X = counts(n, f)
        fit_seconds(X[:2048], d, k, 1, 1)  # warm-up
        for which in ("sklearn_mini", "torch default"):
            with rule(which):
                alone, used = fit_seconds(X, d, k, epochs, repeats)
                with busy_process():
                    busy, _ = fit_seconds(X, d, k, epochs, repeats)
            print(f"| {name} ({n} x {f}, d_sae {d}, topk {k}, {epochs} ep) | {which} | {used} "
                  f"| {alone:.2f} | {busy:.2f} | {busy / alone:.2f} |", flush=True)


def crossover(repeats):
    """One fit epoch on one thread and on every thread, alone and beside a busy process."""
    allowed = torch.get_num_threads()
    print(f"| n_features x d_sae (topk) | MACs per product | alone 1 / {allowed} thr s "
          f"| busy 1 / {allowed} thr s | speed-up alone | speed-up busy |")
    print("|---|---|---|---|---|---|")
    data = {size: counts(16_384 if size[0] * size[1] < 5e6 else 4096, size[0])
            for size in CROSSOVER_SIZES}
    times = {}
    for mode in ("alone", "busy"):
        with busy_process() if mode == "busy" else contextlib.nullcontext():
            for size in CROSSOVER_SIZES:
                f, d, k = size
                for n_threads in (1, allowed):
                    torch.set_num_threads(n_threads)
                    with rule("torch default"):
                        times[mode, size, n_threads] = fit_seconds(data[size], d, k, 1, repeats)[0]
                torch.set_num_threads(allowed)
    for size in CROSSOVER_SIZES:
        f, d, k = size
        a1, aN = times["alone", size, 1], times["alone", size, allowed]
        b1, bN = times["busy", size, 1], times["busy", size, allowed]
        print(f"| {f} x {d} ({k}) | {1024 * f * d:.2g} | {a1:.2f} / {aN:.2f} | {b1:.2f} / {bN:.2f} "
              f"| {a1 / aN:.2f} | {b1 / bN:.2f} |")


def alone_and_busy(name, command):
    """Wall time of ``command`` alone and beside a busy process, as a table row."""
    results = {}
    for mode in ("alone", "busy"):
        with busy_process() if mode == "busy" else contextlib.nullcontext():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            results[mode] = time.perf_counter() - start
    print(f"| {name} | alone {results['alone']:.1f} s | busy {results['busy']:.1f} s "
          f"| busy / alone {results['busy'] / results['alone']:.2f} |")


def demo():
    """``python -m sklearn_mini demo`` alone and beside a busy process, with its default
    fits side by side (``--n-jobs -1``) and one after another (``--n-jobs 1``)."""
    for n_jobs in ("-1", "1"):
        with tempfile.TemporaryDirectory() as out:
            alone_and_busy(f"demo --n-jobs {n_jobs}",
                           [sys.executable, "-m", "sklearn_mini", "demo", "--out", out,
                            "--verbose", "0", "--n-jobs", n_jobs])


def examples():
    """Every documentation example alone and beside a busy process (issue 22, bug 12:
    an example the test suite runs must not need an idle machine)."""
    for script in sorted((ROOT / "docs" / "examples").glob("*.py")):
        alone_and_busy(script.name, [sys.executable, str(script)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--examples", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"cpu_count {os.cpu_count()} | torch threads {torch.get_num_threads()} "
          f"| OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if args.crossover:
        crossover(args.repeats)
    elif args.demo:
        demo()
    elif args.examples:
        examples()
    else:
        contention(SMOKE_SIZES if args.smoke else SIZES, 1 if args.smoke else args.repeats)


if __name__ == "__main__":
    main()
