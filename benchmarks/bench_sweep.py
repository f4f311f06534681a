"""Wall time of a 16-candidate GridSearchCV over SpikeSAE: n_jobs=1, n_jobs=2, Dask.

    python benchmarks/bench_sweep.py            # 16 candidates x 2 folds
    python benchmarks/bench_sweep.py --smoke    # a tiny version (CI)

All three run in this one process, side by side, on the same data and grid, and must
find the same best parameters. The Dask run starts a LocalCluster of ``--workers``
processes with one thread each (what a multi-node cluster's workers would be, started
with ``dask worker --nthreads 1``).
"""

import argparse
import time

from joblib import parallel_config
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts


def sweep(X, grid, n_jobs, epochs):
    sae = SpikeSAE(n_epochs=epochs, batch_size=256, device="cpu", random_state=0)
    start = time.perf_counter()
    search = GridSearchCV(sae, grid, cv=KFold(2), n_jobs=n_jobs).fit(X)
    return time.perf_counter() - start, search.best_params_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, f, epochs = (1000, 16, 2) if args.smoke else (20_000, 64, 10)
    grid = ({"topk": [1, 2], "d_sae": [8, 16]} if args.smoke else
            {"topk": [2, 4, 8, 16], "d_sae": [64, 128, 256, 512]})
    X, _ = make_sparse_counts(n_samples=n, n_features=f, n_atoms=32, random_state=0)
    n_candidates = len(grid["topk"]) * len(grid["d_sae"])
    print(f"{n_candidates} candidates x 2 folds, X {X.shape}, {epochs} epochs")
    results = {"n_jobs=1": sweep(X, grid, 1, epochs), "n_jobs=2": sweep(X, grid, 2, epochs)}
    try:
        import distributed
    except ImportError:
        print("dask[distributed] not installed: Dask run skipped")
    else:
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster), parallel_config(backend="dask"):
            results[f"dask {args.workers}x1"] = sweep(X, grid, -1, epochs)
    serial = results["n_jobs=1"][0]
    for name, (seconds, best) in results.items():
        print(f"{name:<12}{seconds:>8.1f} s  {serial / seconds:>5.2f}x  best {best}")
    bests = {str(best) for _, best in results.values()}
    if len(bests) != 1:
        raise SystemExit(f"backends disagree on the best parameters: {bests}")


if __name__ == "__main__":
    main()
