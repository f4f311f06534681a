"""Thread choice per problem: one thread for small products, the caller's limit kept."""

import numpy as np
import pytest
import torch

from sklearn_mini import SpikeSAE
from sklearn_mini._core import threads
from sklearn_mini.datasets import make_sparse_counts


@pytest.fixture
def spy(monkeypatch):
    """The thread counts in use whenever the model runs a matrix product."""
    seen = []
    real_linear = torch.nn.functional.linear

    def linear(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_linear(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "linear", linear)
    real_addmm = torch.addmm

    def addmm(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_addmm(*args, **kwargs)

    monkeypatch.setattr(torch, "addmm", addmm)
    return seen


def test_rule_hand_values():
    assert threads.n_threads_for(1024 * 100 * 40, 8) == 1
    assert threads.n_threads_for(threads.THREADED_MIN_MACS, 8) == 8
    assert threads.n_threads_for(threads.THREADED_MIN_MACS, 1) == 1


def test_small_fit_runs_on_one_thread_and_restores_the_callers_setting(spy):
    X, _ = make_sparse_counts(n_samples=600, n_features=12, n_atoms=6, random_state=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sae = SpikeSAE(d_sae=8, topk=1, n_epochs=2, device="cpu", random_state=0).fit(X)
        sae.transform(X)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert spy and set(spy) == {1}


def test_large_products_get_the_callers_threads_and_never_more(monkeypatch):
    monkeypatch.setattr(threads, "THREADED_MIN_MACS", 0)
    before = torch.get_num_threads()
    try:
        for allowed in (1, 2):
            torch.set_num_threads(allowed)
            with threads.cpu_threads(1e12, "cpu") as used:
                assert used == torch.get_num_threads() == allowed
            assert torch.get_num_threads() == allowed
    finally:
        torch.set_num_threads(before)


def test_threadpoolctl_limit_is_respected(monkeypatch):
    import threadpoolctl  # a dependency of scikit-learn: always there

    monkeypatch.setattr(threads, "THREADED_MIN_MACS", 0)
    with threadpoolctl.threadpool_limits(1):
        with threads.cpu_threads(1e12, "cpu") as used:
            assert used == 1


def test_other_devices_are_left_alone():
    before = torch.get_num_threads()
    with threads.cpu_threads(1.0, "cuda") as used:
        assert used is None and torch.get_num_threads() == before


def test_restored_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with threads.cpu_threads(1.0, "cpu"):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_results_do_not_depend_on_the_callers_thread_count_for_small_fits():
    X, _ = make_sparse_counts(n_samples=600, n_features=12, n_atoms=6, random_state=0)
    before = torch.get_num_threads()
    fitted = []
    try:
        for allowed in (1, 2):
            torch.set_num_threads(allowed)
            fitted.append(SpikeSAE(d_sae=8, topk=1, n_epochs=2, device="cpu",
                                   random_state=0).fit(X).components_)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(fitted[0], fitted[1])
