"""The elephant GPFA adapter: windows in, orthonormal latents out, counts back."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mini.adapters import GPFA
from sklearn_mini.datasets import make_lorenz_spikes

pytest.importorskip("elephant", reason="GPFA needs elephant (the test extra installs it)")

FAST = dict(window=5, x_dim=1, em_max_iters=5)


@pytest.fixture(scope="module")
def counts():
    return make_lorenz_spikes(n_trials=30, n_bins=10, n_units=8, random_state=2)[0]


def test_latents_loadings_and_reconstruction(counts):
    model = GPFA(window=10, x_dim=3, em_max_iters=30).fit(counts[:200])
    latents = model.transform(counts[200:])
    assert latents.shape == (100, 3)
    np.testing.assert_allclose(model.loadings_.T @ model.loadings_, np.eye(3), atol=1e-10)
    root = latents @ model.loadings_.T + model.offset_
    np.testing.assert_allclose(model.inverse_transform(latents), np.maximum(root, 0) ** 2)
    # The smoothed latents explain part of the held-out counts, and the fit's timescales
    # are positive and finite.
    assert 0.0 < model.score(counts[200:]) < 1.0
    assert np.all(np.isfinite(model.timescales_)) and np.all(model.timescales_ > 0)


def test_a_partial_last_window_is_read_from_the_window_ending_at_the_last_bin(counts):
    model = GPFA(**{**FAST, "window": 10, "x_dim": 2}).fit(counts)
    odd = model.transform(counts[:57])
    np.testing.assert_allclose(odd[:50], model.transform(counts[:50]))
    np.testing.assert_allclose(odd[50:], model.transform(counts[47:57])[3:])


def test_negative_input_is_a_clear_error(counts):
    with pytest.raises(ValueError, match="Negative values in data passed to GPFA"):
        GPFA(**FAST).fit(counts - 1)


@parametrize_with_checks([GPFA(**FAST)], expected_failed_checks=lambda e: {
    "check_methods_sample_order_invariance": "rows are time bins read in windows",
    "check_methods_subset_invariance": "rows are time bins read in windows"})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_lfads_and_gpfa_stand_in_compare_beside_pca(counts):
    from sklearn_mini import compare
    from sklearn_mini.baselines import PCA
    from sklearn_mini.dynamics import LFADS

    table = compare({"LFADS": LFADS(window=10, fac_dim=2, gen_dim=8, ic_dim=4, enc_dim=8,
                                    n_epochs=2, random_state=0),
                     "GPFA": GPFA(window=10, x_dim=2, em_max_iters=5),
                     "PCA": PCA(2)}, counts, cv=2)
    assert table["method"].tolist() == ["LFADS", "GPFA", "PCA"]
    assert not table.isna().any().any()
