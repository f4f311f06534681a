"""Native LFADS: recovery of a Lorenz latent state, the estimator's contract, save/load."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_mini
from sklearn_mini.datasets import make_lorenz_spikes
from sklearn_mini.dynamics import LFADS
from sklearn_mini.dynamics._lfads_net import gaussian_kl
from sklearn_mini.dynamics.lfads import poisson_nll

FAST = dict(window=5, fac_dim=2, gen_dim=8, ic_dim=4, enc_dim=8, n_epochs=2)


def _readout_r2(train_z, test_z, train_latents, test_latents):
    """Held-out R^2 of a linear read-out of the true latent state."""
    fit = LinearRegression().fit(train_z, train_latents)
    return r2_score(test_latents, fit.predict(test_z))


@pytest.mark.slow
def test_lfads_factors_recover_a_lorenz_state_on_held_out_trials_better_than_pca():
    X, latents, _ = make_lorenz_spikes(n_trials=100, n_bins=50, n_units=30, random_state=0)
    n_train = 80 * 50  # 80 trials to train, 20 held out
    model = LFADS(window=50, fac_dim=8, gen_dim=32, ic_dim=16, enc_dim=32, n_epochs=200,
                  batch_size=16, random_state=0).fit(X[:n_train])
    factors = model.transform(X)
    r2 = _readout_r2(factors[:n_train], factors[n_train:], latents[:n_train],
                     latents[n_train:])
    pca = PCA(8).fit(X[:n_train])
    r2_pca = _readout_r2(pca.transform(X[:n_train]), pca.transform(X[n_train:]),
                         latents[:n_train], latents[n_train:])
    assert r2 >= 0.8, r2
    assert r2 > r2_pca, (r2, r2_pca)
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_gaussian_kl_hand_value():
    # KL(N(1, 0.5) || N(0, 2)) = 0.5 (0.25 + 0.5 - 1 - ln 0.25) per dimension
    mean, var = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.5, 0.5]])
    expected = 2 * 0.5 * (0.25 + 0.5 - 1 - np.log(0.25))
    assert gaussian_kl(mean, var, 2.0).item() == pytest.approx(expected, rel=1e-6)
    assert gaussian_kl(torch.zeros(1, 3), torch.full((1, 3), 2.0), 2.0).item() == 0.0


def test_poisson_nll_hand_value():
    # exp(log 2) - 3 log 2 = 2 - 3 ln 2
    value = poisson_nll(torch.tensor([np.log(2.0)]), torch.tensor([3.0]))
    assert value.item() == pytest.approx(2 - 3 * np.log(2.0), rel=1e-6)


@pytest.fixture(scope="module")
def counts():
    return make_lorenz_spikes(n_trials=12, n_bins=10, n_units=6, random_state=1)[0]


def test_rows_windows_and_rates_line_up(counts):
    model = LFADS(**{**FAST, "window": 10}, random_state=0).fit(counts)
    odd = counts[:57]  # 5 whole windows and 7 rows read from the window ending at row 57
    factors = model.transform(odd)
    assert factors.shape == (57, 2)
    np.testing.assert_allclose(model.transform(counts[:50]), factors[:50], rtol=1e-6)
    np.testing.assert_allclose(factors[50:], model.transform(counts[47:57])[3:], rtol=1e-6)
    np.testing.assert_allclose(model.predict_rates(odd), model.inverse_transform(factors),
                               rtol=1e-5)
    assert np.all(model.predict_rates(odd) > 0)


def test_same_seed_same_model_and_the_global_rng_is_untouched(counts):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = LFADS(**FAST, random_state=0).fit(counts).transform(counts)
    after = torch.rand(1)
    b = LFADS(**FAST, random_state=0).fit(counts).transform(counts)
    c = LFADS(**FAST, random_state=1).fit(counts).transform(counts)
    assert torch.equal(before, after)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("params", [dict(co_dim=2, con_dim=4, ci_enc_dim=4),
                                    dict(cd_rate=0.3)], ids=["controller", "coordinated"])
def test_controller_and_coordinated_dropout_train(counts, params):
    model = LFADS(**{**FAST, "n_epochs": 3}, **params, random_state=0).fit(counts)
    assert np.all(np.isfinite(model.loss_curve_))
    assert model.transform(counts).shape == (len(counts), 2)


def test_bad_input_is_a_clear_error(counts):
    with pytest.raises(ValueError, match="Negative values in data passed to LFADS"):
        LFADS(**FAST).fit(-counts - 1)
    with pytest.raises(ValueError, match="fewer than one window"):
        LFADS(**{**FAST, "window": 500}).fit(counts)
    model = LFADS(**FAST, random_state=0).fit(counts)
    with pytest.raises(ValueError, match=r"factors of shape \(n_bins, 2\)"):
        model.inverse_transform(np.zeros((3, 5)))


def test_save_load_round_trip(counts, tmp_path):
    model = LFADS(**FAST, co_dim=1, con_dim=3, ci_enc_dim=3, random_state=0).fit(counts)
    model.save(tmp_path / "lfads")
    loaded = LFADS.load(tmp_path / "lfads")
    np.testing.assert_array_equal(loaded.transform(counts), model.transform(counts))
    assert loaded.get_params() == model.get_params()
    assert loaded.score(counts) == pytest.approx(model.score(counts))
    # ... and through the package's save/load (which Pipelines use)
    again = sklearn_mini.load(sklearn_mini.save(model, tmp_path / "again"), device="cpu")
    np.testing.assert_array_equal(again.transform(counts), model.transform(counts))


WINDOWS = ("rows are consecutive time bins read in windows: a bin's factors depend on the "
           "bins around it, so reordering or subsetting rows changes them by design.")


@parametrize_with_checks([LFADS(**FAST, random_state=0)], expected_failed_checks=lambda e: {
    "check_methods_sample_order_invariance": WINDOWS,
    "check_methods_subset_invariance": WINDOWS})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
