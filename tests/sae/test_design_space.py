"""The SAE design space as SpikeSAE options: sparsities, penalties, losses, decoders,
optimiser settings and sequence input, all on the one training core."""

import itertools
import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from sklearn_mini import MatryoshkaSAE, SpikeSAE, load
from sklearn_mini._core.losses import LOSSES
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.sparsity import SPARSITIES, make_sparsifier
from sklearn_mini._core.training import Level, TrainConfig, Trainer
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.sae._sequence import windows

# Fits on ``scaled`` (3 batches an epoch) run 1000 steps, the wave-1 minimum: these tests
# check how a parameter moves the fit, for which the 4000-step default is not needed.
QUICK = 334


@pytest.fixture(scope="module")
def scaled():
    X, _ = make_sparse_counts(n_samples=3000, n_features=32, n_atoms=16, n_active=3,
                              noise="poisson", random_state=0)
    return X / X.max()


@pytest.mark.parametrize("sparsity, loss", list(itertools.product(SPARSITIES, LOSSES)))
def test_every_sparsity_and_loss_fits_without_nan(sparsity, loss, scaled):
    X = scaled[:1000].copy()
    X[:50] = 0.0  # all-zero rows (silent bins) must not produce NaN in any loss
    sae = SpikeSAE(d_sae=32, topk=3, sparsity=sparsity, loss=loss, n_epochs=5,
                   batch_size=128, random_state=0).fit(X)
    assert np.all(np.isfinite(sae.loss_curve_))
    assert np.all(np.isfinite(sae.transform(X))) and np.all(sae.transform(X) >= 0)
    assert np.all(np.isfinite(sae.reconstruct(X)))
    assert sae.score(X) > -1.0


@pytest.mark.slow
@pytest.mark.parametrize("coefs", [(3e-5, 3e-4, 3e-3)])
def test_jumprelu_l0_falls_as_l0_coef_grows(coefs, scaled):
    l0 = [SpikeSAE(d_sae=64, sparsity="jumprelu", l0_coef=c, n_epochs=QUICK,
                   random_state=0).fit(scaled).mean_l0_
          for c in coefs]
    assert l0[0] > l0[1] > l0[2], l0


def test_jumprelu_trains_its_thresholds_and_infers_with_them(scaled):
    sae = SpikeSAE(d_sae=48, sparsity="jumprelu", device="cpu", n_epochs=QUICK,
                   random_state=0).fit(scaled)
    assert sae.theta_.shape == (48,) and np.all(sae.theta_ >= 0) and sae.theta_.max() > 0
    Z = sae.transform(scaled)
    pre = sae._module.pre_activations(torch.tensor(scaled, dtype=torch.float32)).detach().numpy()
    np.testing.assert_array_equal(Z > 0, pre > sae.theta_)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["standard", "decoder_norm", "tanh"])
def test_l1_variants_l0_falls_as_l1_coef_grows(kind, scaled):
    l0 = [SpikeSAE(d_sae=64, sparsity="relu", l1_penalty=kind, l1_coef=c,
                   n_epochs=QUICK, random_state=0).fit(scaled).mean_l0_ for c in (1e-4, 1e-3, 3e-3)]
    assert l0[0] > l0[1] > l0[2], l0


def test_standard_l1_keeps_unit_atoms_and_decoder_norm_frees_them(scaled):
    std = SpikeSAE(d_sae=32, sparsity="relu", n_epochs=QUICK, random_state=0).fit(scaled)
    np.testing.assert_allclose(np.linalg.norm(std.components_, axis=1), 1.0, rtol=1e-5)
    free = SpikeSAE(d_sae=32, sparsity="relu", l1_penalty="decoder_norm",
                    n_epochs=QUICK, random_state=0).fit(scaled)
    assert np.abs(np.linalg.norm(free.components_, axis=1) - 1).max() > 0.01


def test_gated_gate_decides_and_magnitude_scales(scaled):
    sae = SpikeSAE(d_sae=32, sparsity="gated", device="cpu", n_epochs=QUICK,
                   random_state=0).fit(scaled)
    module = sae._module
    pre = module.pre_activations(torch.tensor(scaled[:200], dtype=torch.float32)).detach()
    gate, mag = pre[..., 0].numpy(), pre[..., 1].numpy()
    np.testing.assert_allclose(sae.transform(scaled[:200]),
                               np.where(gate > 0, np.maximum(mag, 0), 0), rtol=1e-6, atol=1e-7)
    assert module.r_mag.detach().abs().max() > 0  # the magnitude scale was trained


def test_gated_aux_loss_trains_gate_through_frozen_decoder():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(6, 8, subtract_decoder_bias=True, output_relu=True, generator=gen,
                       dtype=torch.float64, encoder="gated")
    x = torch.rand(16, 6, generator=gen, dtype=torch.float64)
    cfg = TrainConfig(levels=(Level(8, 2),), sparsifier=make_sparsifier("gated", l1_coef=0.0),
                      aux_coef=0.0, loss="mse")
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    pre = module.pre_activations(x)
    penalty = cfg.sparsifier.penalty(type("B", (), dict(
        x=x, pre=pre, codes=None, module=module, scale=1.0,
        reconstruction_loss=trainer.reconstruction_loss))())
    penalty.backward()
    # The frozen decoder gets no gradient from the gate reconstruction (l1_coef=0 here).
    assert module.W_dec.grad is None or not module.W_dec.grad.any()
    assert module.W_enc.grad.abs().sum() > 0 and module.b_enc.grad.abs().sum() > 0


def test_l1_warmup_ramps_the_sparsity_coefficient():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(4, 8, subtract_decoder_bias=False, output_relu=False, generator=gen)
    cfg = TrainConfig(levels=(Level(8, 2),), sparsifier=make_sparsifier("relu"),
                      l1_warmup=0.5, batch_size=10)
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    seen = []
    original = trainer.train_step

    def spy(x, lr):  # the scale each optimiser step trains with
        seen.append(trainer.sparsity_scale)
        return original(x, lr)

    trainer.train_step = spy
    trainer.run(torch.rand(100, 4, generator=gen), n_epochs=2)  # 20 steps, warm-up 10
    assert seen == pytest.approx([min(1.0, (i + 1) / 10) for i in range(20)])
    seen.clear()
    trainer.run(torch.rand(100, 4, generator=gen), n_epochs=1, sparsity_warmup=False)
    assert seen == [1.0] * 10


def test_nadam_momentum_decay_reaches_the_optimiser(scaled):
    sae = SpikeSAE(d_sae=16, topk=2, optimizer="nadam", momentum_decay=0.01, n_epochs=1,
                   random_state=0).fit(scaled)
    gen = torch.Generator().manual_seed(0)
    cfg, _ = sae._train_config(sae._levels, 100, 32)
    trainer = Trainer(sae._module, cfg, gen, torch.device("cpu"))
    assert isinstance(trainer.optimizer, torch.optim.NAdam)
    assert trainer.optimizer.param_groups[0]["momentum_decay"] == 0.01
    other = SpikeSAE(d_sae=16, topk=2, optimizer="nadam", n_epochs=1, random_state=0).fit(scaled)
    assert not np.array_equal(other.components_, sae.components_)


@pytest.mark.slow
def test_poisson_loss_matches_unit_means_and_handles_silent_bins():
    X, _ = make_sparse_counts(n_samples=6000, n_features=24, n_atoms=12, n_active=3,
                              noise="poisson", rate_scale=4.0, random_state=1)
    X[::50] = 0.0
    sae = SpikeSAE(d_sae=48, topk=4, loss="poisson", random_state=0).fit(X)
    X_hat = sae.reconstruct(X)
    assert np.all(np.isfinite(X_hat)) and np.all(X_hat > 0)  # softplus rates
    active = X.mean(axis=0) > 0
    ratio = X_hat.mean(axis=0)[active] / X.mean(axis=0)[active]
    assert np.all(np.abs(ratio - 1) <= 0.05), ratio
    assert np.all(X_hat.mean(axis=0)[~active] < 0.01)  # a silent unit is predicted near 0
    assert np.all(np.isfinite(sae.transform(np.zeros((5, 24)))))


@pytest.mark.slow
def test_msle_asym_tau_above_one_raises_reconstructions(scaled):
    common = dict(d_sae=32, topk=2, loss="msle_asym", n_epochs=QUICK, random_state=0)
    low = SpikeSAE(tau=1.0, **common).fit(scaled).reconstruct(scaled)
    high = SpikeSAE(tau=4.0, **common).fit(scaled).reconstruct(scaled)
    assert high.mean() > low.mean() * 1.02, (high.mean(), low.mean())


def _nonlinear_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    atoms = rng.random((8, 20))
    codes = rng.random((n, 8)) * (rng.random((n, 8)) < 0.2)
    return np.tanh(2.0 * codes @ atoms)  # saturating: not a sum of atoms


def test_nonlinear_decoder_uses_decoder_and_has_no_components():
    X = _nonlinear_data()
    mlp = SpikeSAE(d_sae=32, topk=3, decoder_layers=(32,), random_state=0).fit(X)
    assert not hasattr(mlp, "components_")
    assert isinstance(mlp.decoder_, torch.nn.Sequential)
    Z = mlp.transform(X[:100])
    with torch.no_grad():
        by_decoder = mlp.decoder_(torch.tensor(Z, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(mlp.inverse_transform(Z), by_decoder, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mlp.reconstruct(X[:100]), by_decoder, rtol=1e-5, atol=1e-6)
    assert mlp.score(_nonlinear_data(seed=1)) > 0.5  # it learns (held-out data)


@pytest.mark.parametrize("params", [
    dict(sparsity="jumprelu"), dict(sparsity="gated", loss="poisson"),
    dict(sparsity="relu", decoder_layers=(12,)), dict(seq_len=3, sparsity="topk"),
    dict(sparsity="relu", l1_penalty="tanh"),
])
def test_save_load_and_pickle_identical(params, scaled, tmp_path):
    sae = SpikeSAE(d_sae=24, topk=2, n_epochs=3, random_state=0, **params).fit(scaled[:600])
    for again in (load(sae.save(tmp_path / "m")), pickle.loads(pickle.dumps(sae))):
        np.testing.assert_array_equal(again.transform(scaled[:600]), sae.transform(scaled[:600]))
        np.testing.assert_array_equal(again.reconstruct(scaled[:50]), sae.reconstruct(scaled[:50]))


# ----------------------------------------------------------------------- sequences
def _ar_data(n=6000, n_units=16, seed=0):
    """Each bin is driven by the previous bin's latent state (a sparse AR(1) chain)."""
    rng = np.random.default_rng(seed)
    atoms = rng.random((6, n_units))
    state = np.zeros(6)
    rows = []
    for _ in range(n):
        state = 0.7 * state + (rng.random(6) < 0.05) * rng.random(6)
        rows.append(state @ atoms)
    return np.asarray(rows) / 3.0


def test_windows_respect_segment_boundaries():
    X = np.arange(20, dtype=float).reshape(10, 2)
    groups = np.array([0] * 6 + [1] * 4)
    full, rows = windows(X, 3, groups, full_only=True)
    assert rows.tolist() == [2, 3, 4, 5, 8, 9]  # no window spans rows 5 and 6
    np.testing.assert_array_equal(full[4], np.r_[X[6], X[7], X[8]])
    padded = windows(X, 3, groups)
    np.testing.assert_array_equal(padded[6], np.r_[0, 0, 0, 0, X[6]])  # segment start
    np.testing.assert_array_equal(padded[7], np.r_[0, 0, X[6], X[7]])
    with pytest.raises(ValueError, match="one label per row"):
        windows(X, 3, groups[:5])


@pytest.mark.slow
def test_seq_len_reports_r2_per_lag_and_respects_segments():
    X = _ar_data()
    groups = np.repeat([0, 1], [3000, 3000])
    sae = SpikeSAE(d_sae=64, topk=4, seq_len=3, random_state=0)
    Z = sae.fit_transform(X, groups=groups)
    assert Z.shape == (6000, 64) and sae.components_.shape == (64, 48)
    lags = sae.score_lags(X, groups=groups)
    assert lags.shape == (3,) and np.all(lags > 0.5), lags
    # The second segment's first row is coded as if the recording started there.
    np.testing.assert_allclose(Z[3000], sae.transform(X[3000:3010])[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(Z[3000], sae.transform(X)[3000])
    # The training windows are exactly those inside a segment: 2 * (3000 - 2).
    # BatchTopK's calibrated mean L0 equals topk on exactly the training windows.
    spy = SpikeSAE(d_sae=8, topk=2, sparsity="batchtopk", seq_len=3, n_epochs=1,
                   batch_size=10_000, random_state=0)
    spy.fit(X, groups=groups)
    assert spy.n_steps_ == 1 and spy._level_stats["mean_l0"][0] == pytest.approx(2, rel=0.05)
    assert spy.n_features_in_ == 16


def test_seq_len_needs_a_full_window():
    with pytest.raises(ValueError, match="seq_len=5"):
        SpikeSAE(seq_len=5, n_epochs=1).fit(np.ones((4, 3)))


# ----------------------------------------------------------------------- sweeps
def test_grid_search_over_sparsity_and_loss(scaled):
    grid = GridSearchCV(
        SpikeSAE(d_sae=32, topk=3, n_epochs=3, batch_size=256, random_state=0),
        {"sparsity": ["batchtopk", "jumprelu", "gated"], "loss": ["msle", "poisson"]},
        cv=2,
    ).fit(scaled[:1500])
    assert len(grid.cv_results_["params"]) == 6
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_estimator_.transform(scaled[1500:]).shape == (1500, 32)


def test_matryoshka_takes_the_same_options(scaled):
    sae = MatryoshkaSAE(levels=((8, 2), (32, 4)), sparsity="jumprelu", loss="poisson",
                        n_epochs=3, random_state=0).fit(scaled)
    assert sae.theta_.shape == (32,)
    z0 = sae.transform_level(scaled, 0)
    z = sae.transform(scaled)[:, :8]
    np.testing.assert_allclose(z0, z, rtol=1e-5, atol=1e-6)  # nested, not competitive
