"""Fits side by side in worker processes: compare(n_jobs=...) and the job's --n-jobs."""

import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_mini import SpikeSAE, compare
from sklearn_mini.baselines import PCA
from sklearn_mini.datasets import make_sparse_counts, make_spiking_features
from sklearn_mini.evaluation._parallel import map_tasks, n_workers
from sklearn_mini.report import run_job

TIMES = ("fit_time", "transform_time")


def _square_and_warn(x):
    warnings.warn(f"task {x}", UserWarning)
    return x * x, os.getpid()


def test_workers_return_results_in_task_order_and_their_warnings_reach_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = list(map_tasks(_square_and_warn, [(x,) for x in range(5)], n_jobs=2))
    assert [square for square, _ in results] == [0, 1, 4, 9, 16]
    assert os.getpid() not in {pid for _, pid in results}  # they ran in other processes
    assert [str(w.message) for w in caught] == [f"task {x}" for x in range(5)]


def test_one_worker_runs_each_task_here_when_it_is_asked_for():
    calls = []
    results = map_tasks(lambda x: calls.append(x) or x, [(1,), (2,)], n_jobs=None)
    assert calls == []  # nothing runs before the caller asks: it can log first
    assert next(results) == 1 and calls == [1]
    assert list(results) == [2] and calls == [1, 2]
    assert next(map_tasks(_square_and_warn, [(3,)], n_jobs=-1))[1] == os.getpid()


def test_never_more_workers_than_tasks():
    assert n_workers(None, 10) == 1 and n_workers(-1, 1) == 1 and n_workers(1, 10) == 1
    assert n_workers(8, 3) == 3 and n_workers(2, 10) == 2
    assert n_workers(-1, 100) == os.cpu_count()


def test_compare_scores_do_not_depend_on_n_jobs():
    X, _ = make_sparse_counts(n_samples=1200, n_features=16, n_atoms=8, n_active=2,
                              random_state=1)
    models = {"SpikeSAE": SpikeSAE(d_sae=8, topk=2, n_epochs=2, random_state=0),
              "PCA": PCA(n_components=2)}
    one = compare(models, X, cv=3)
    two = compare(models, X, cv=3, n_jobs=2)
    assert list(two["method"]) == ["SpikeSAE", "PCA"]
    scores = [c for c in one.columns if c != "method" and not c.startswith(TIMES)]
    np.testing.assert_allclose(two[scores].to_numpy(float), one[scores].to_numpy(float),
                               rtol=1e-6)
    with pytest.raises(NotFittedError):  # clones were fitted, not the models passed in
        check_is_fitted(models["SpikeSAE"])


def test_the_job_gives_the_same_tables_with_worker_processes(tmp_path):
    spikes, _ = make_spiking_features(n_units=12, duration=40, random_state=2)
    common = dict(d_sae=12, topk=2, level0=3, n_epochs=3, cebra_iterations=20, verbose=0,
                  log=lambda line: None, ks=(1, 2), stability_seeds=1)
    rows1, fitted1, _, matched1 = run_job(spikes, tmp_path / "one", n_jobs=1, **common)
    rows2, fitted2, _, matched2 = run_job(spikes, tmp_path / "two", n_jobs=2, **common)

    for first, second in ((rows1, rows2), (matched1, matched2)):
        assert [(r["method"], r.get("k")) for r in first] == \
            [(r["method"], r.get("k")) for r in second]
        for a, b in zip(first, second):
            if a["method"] == "CEBRA":  # CEBRA's samplers draw from the OS: not repeatable
                continue
            # sklearn's NMF runs its BLAS on every thread here and on one in a worker, and
            # its multiplicative updates carry the rounding differences on; the SAEs,
            # PCA and OMP give the same numbers.
            rtol = 1e-2 if a["method"] == "NMF" else 1e-6
            for key in a:
                if key not in ("method", "k", *TIMES):
                    assert b[key] == pytest.approx(a[key], rel=rtol, abs=1e-9), (a["method"], key)
    np.testing.assert_allclose(fitted2["SpikeSAE"][-1].components_,
                               fitted1["SpikeSAE"][-1].components_, rtol=1e-6, atol=1e-7)
    stability = [[line for line in (path / "summary.md").read_text().splitlines()
                  if line.startswith("Seed stability")] for path in (tmp_path / "one",
                                                                     tmp_path / "two")]
    assert stability[0] == stability[1] and len(stability[0]) == 1
