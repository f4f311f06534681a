"""Hyperparameter sweeps on joblib backends: processes (n_jobs) and a Dask cluster."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini.datasets import make_sparse_counts

GRID = {"topk": [1, 3], "d_sae": [8, 24]}


def _search(n_jobs=None):
    X, _ = make_sparse_counts(n_samples=1200, n_features=16, n_atoms=12, random_state=0)
    sae = SpikeSAE(n_epochs=4, batch_size=128, device="cpu", random_state=0)
    return GridSearchCV(sae, GRID, cv=KFold(2), n_jobs=n_jobs).fit(X)


@pytest.fixture(scope="module")
def serial():
    return _search(n_jobs=1)


def test_process_pool_sweep_matches_serial(serial):
    parallel = _search(n_jobs=2)
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-5)


@pytest.mark.slow
def test_dask_cluster_sweep_matches_serial(serial):
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        # Dask's nanny starts workers with one BLAS/OpenMP thread each: torch follows.
        threads = client.run(lambda: __import__("torch").get_num_threads())
        assert set(threads.values()) == {1}
        with parallel_config(backend="dask"):
            on_dask = _search(n_jobs=-1)
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=1e-5)


def test_matryoshka_in_a_halving_search():
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, _ = make_sparse_counts(n_samples=1200, n_features=16, n_atoms=12, random_state=0)
    sae = MatryoshkaSAE(levels=((4, 1), (16, 2)), n_epochs=3, batch_size=128, device="cpu",
                        random_state=0)
    grid = {"levels": [((4, 1), (16, 2)), ((8, 1), (24, 3))], "lr": [5e-3, 1e-2]}
    search = HalvingGridSearchCV(sae, grid, cv=KFold(2), factor=2, min_resources=300,
                                 n_jobs=2, random_state=0).fit(X)
    assert search.best_params_ in search.cv_results_["params"]


def test_process_workers_limit_torch_threads():
    import os

    from joblib import Parallel, delayed

    def torch_threads():
        import torch

        return torch.get_num_threads()

    counts = Parallel(n_jobs=2)(delayed(torch_threads)() for _ in range(2))
    assert max(counts) <= max(1, (os.cpu_count() or 2) // 2)


def test_randomized_search_over_a_raw_spikes_pipeline():
    from scipy.stats import randint
    from sklearn.model_selection import RandomizedSearchCV
    from sklearn.pipeline import make_pipeline

    from sklearn_mini import SpikeBinner
    from sklearn_mini.datasets import make_spiking_features

    spikes, _ = make_spiking_features(n_units=20, duration=120.0, random_state=0)
    pipe = make_pipeline(SpikeBinner(bin_size=0.05),
                         SpikeSAE(n_epochs=2, batch_size=256, device="cpu", random_state=0))
    search = RandomizedSearchCV(pipe, {"spikesae__topk": randint(1, 4),
                                       "spikebinner__bin_size": [0.05, 0.1]},
                                n_iter=3, cv=KFold(2), n_jobs=2, random_state=0).fit(spikes)
    assert np.isfinite(search.best_score_)
