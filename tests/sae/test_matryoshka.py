"""MatryoshkaSAE: nested levels with their own size and top-k."""

import pickle

import numpy as np
import pytest
import torch

from sklearn_mini import MatryoshkaSAE, load
from sklearn_mini._core import losses
from sklearn_mini._core.matryoshka import NestingPolicy
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.sparsity import BatchTopK, Gated, JumpReLU
from sklearn_mini._core.training import Level, TrainConfig, Trainer
from sklearn_mini.datasets import make_hierarchical_counts, make_sparse_counts, match_atoms

SMALL = dict(levels=((8, 2), (32, 4)), sparsity="batchtopk", n_epochs=10, batch_size=128,
             device="cpu",
             random_state=0)


@pytest.fixture(scope="module")
def data():
    X, _ = make_sparse_counts(n_samples=1500, n_features=24, n_atoms=12, random_state=0)
    return X / X.max()


@pytest.fixture(scope="module")
def fitted(data):
    return MatryoshkaSAE(**SMALL).fit(data)


def test_attributes_and_shapes(fitted, data):
    assert fitted.d_sae_ == 32 and fitted.components_.shape == (32, 24)
    assert fitted.level_slices_ == [slice(0, 8), slice(8, 32)]
    assert fitted.thresholds_.shape == (2,) and fitted.threshold_ == fitted.thresholds_[-1]
    assert fitted.transform(data).shape == (1500, 32)
    assert fitted.transform_level(data, 0).shape == (1500, 8)
    assert fitted.transform_level(data, -1).shape == (1500, 32)
    names = fitted.get_feature_names_out()
    assert names[0] == "matryoshkasae_l0_0" and names[7] == "matryoshkasae_l0_7"
    assert names[8] == "matryoshkasae_l1_8" and len(names) == 32


def test_inverse_transform_per_level(fitted, data):
    z0 = fitted.transform_level(data, 0)
    np.testing.assert_allclose(fitted.inverse_transform(z0), fitted.reconstruct(data, level=0),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fitted.inverse_transform(z0, level=0),
                               fitted.inverse_transform(np.pad(z0, ((0, 0), (0, 24))), level=0))
    with pytest.raises(ValueError, match="level size"):
        fitted.inverse_transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="level must be"):
        fitted.transform_level(data, 2)


def test_score_levels_and_score(fitted, data):
    scores = fitted.score_levels(data)
    assert scores.shape == (2,) and scores[1] == pytest.approx(fitted.score(data))


def test_level_weights_are_normalised_and_weigh_each_level_loss():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(6, 10, subtract_decoder_bias=True, output_relu=True, generator=gen,
                       dtype=torch.float64, n_levels=2)
    x = torch.rand(32, 6, generator=gen, dtype=torch.float64)
    sae = MatryoshkaSAE(levels=((4, 1), (10, 2)), level_weights=(1, 3))
    levels = sae._make_levels(np.zeros((32, 6)))
    assert [lv.weight for lv in levels] == [0.25, 0.75]
    cfg = TrainConfig(levels=levels, sparsifier=BatchTopK(), loss="msle", aux_coef=0.0)
    total, _ = Trainer(module, cfg, gen, torch.device("cpu"))._loss(x)
    pre = module.pre_activations(x)
    by_hand = sum(w * losses.msle(module.decode(BatchTopK().train_codes(pre[:, :d], k)), x)
                  for d, k, w in [(4, 1, 0.25), (10, 2, 0.75)])
    assert total.item() == pytest.approx(by_hand.item(), rel=1e-12)


@pytest.mark.parametrize("levels, weights, match", [
    (((8, 2), (8, 4)), None, "strictly increasing"),
    (((16, 2), (8, 4)), None, "strictly increasing"),
    ((8, 2), None, "pairs"),
    (((8, 2.5), (16, 4)), None, "positive integers"),
    (((8, 0), (16, 4)), None, "positive integers"),
    (((8, 2), (16, 4)), (1, 2, 3), "level_weights"),
    (((8, 2), (16, 4)), (1, -1), "level_weights"),
    (((8, 9), (16, 4)), None, "topk=9 is larger"),
])
def test_levels_validation(levels, weights, match, data):
    with pytest.raises(ValueError, match=match):
        MatryoshkaSAE(levels=levels, level_weights=weights, n_epochs=1).fit(data)


def test_per_level_topk_gives_per_level_l0():
    X, _ = make_sparse_counts(n_samples=3000, n_features=48, n_atoms=32, n_active=4,
                              random_state=3)
    X = X / X.max()
    common = dict(n_epochs=10, random_state=0)
    a = MatryoshkaSAE(levels=((64, 4), (128, 8)), **common).fit(X)
    b = MatryoshkaSAE(levels=((64, 4), (128, 4)), **common).fit(X)
    for est, expected in ((a, (4, 8)), (b, (4, 4))):
        for level, k in enumerate(expected):
            l0 = np.count_nonzero(est.transform_level(X, level), axis=1).mean()
            assert abs(l0 - k) <= 0.05 * k
            assert est.level_mean_l0_[level] == pytest.approx(l0)


def test_dead_fraction_reported_per_level(fitted, data):
    assert fitted.level_dead_fractions_.shape == (2,)
    for level, block in enumerate(fitted.level_slices_):
        fires = (fitted.transform_level(data, level)[:, block] > 0).any(axis=0)
        assert fitted.level_dead_fractions_[level] == pytest.approx(1 - fires.mean())
    alive = np.zeros(32, dtype=bool)
    for level in range(2):
        z = fitted.transform_level(data, level)
        alive[: z.shape[1]] |= (z > 0).any(axis=0)
    assert fitted.dead_fraction_ == pytest.approx(1 - alive.mean())


@pytest.mark.slow
def test_coarse_features_in_first_level_fine_in_later():
    # Frequency hierarchy: 8 coarse features active 25% of the time, 32 fine ones ~4%.
    X, truth = make_hierarchical_counts(n_samples=8000, tied=False, random_state=0)
    sae = MatryoshkaSAE(levels=((16, 2), (64, 4)), random_state=0).fit(X)
    first = sae.level_slices_[0]
    coarse_best = match_atoms(sae.components_[first], truth.coarse)
    assert np.mean(coarse_best >= 0.9) >= 0.9, coarse_best
    unit = sae.components_ / np.linalg.norm(sae.components_, axis=1, keepdims=True)
    fine_match = (truth.fine @ unit.T).argmax(axis=1)
    assert np.mean(fine_match >= first.stop) >= 0.6
    scores = sae.score_levels(X)
    assert np.all(np.diff(scores) >= 0), scores


def test_random_prefix_sampling_is_reproducible_and_different(data):
    a = MatryoshkaSAE(prefix_sampling="random", **SMALL).fit(data)
    b = MatryoshkaSAE(prefix_sampling="random", **SMALL).fit(data)
    fixed = MatryoshkaSAE(**SMALL).fit(data)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, fixed.components_)


def test_random_cut_points_stay_in_range():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(4, 64, subtract_decoder_bias=False, output_relu=False, generator=gen,
                       n_levels=3)
    levels = (Level(8, 2), Level(24, 3), Level(64, 4))
    cfg = TrainConfig(levels=levels, sparsifier=BatchTopK(),
                      nesting=NestingPolicy(prefix_sampling="random"))
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    for _ in range(200):
        a, b, c = trainer._step_levels()
        assert 2 <= a.d <= 8 and a.d < b.d <= 24 and c.d == 64


def test_save_load_and_pickle_identical(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "m")
    for again in (load(path), MatryoshkaSAE.load(path), pickle.loads(pickle.dumps(fitted))):
        np.testing.assert_array_equal(again.transform(data), fitted.transform(data))
        np.testing.assert_array_equal(again.transform_level(data, 0),
                                      fitted.transform_level(data, 0))
        np.testing.assert_array_equal(again.level_dead_fractions_, fitted.level_dead_fractions_)
        assert again.level_slices_ == fitted.level_slices_
        assert again.get_params() == fitted.get_params()
        np.testing.assert_array_equal(again.thresholds_, fitted.thresholds_)


def _trainer_with_moments(encoder="linear"):
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(6, 10, subtract_decoder_bias=True, output_relu=True, generator=gen,
                       dtype=torch.float64, n_levels=2, encoder=encoder)
    levels = (Level(4, 1, 0.5), Level(10, 2, 0.5))
    sparsifier = {"linear": BatchTopK(), "jumprelu": JumpReLU(1e-3, 0.05),
                  "gated": Gated(1e-3)}[encoder]
    cfg = TrainConfig(levels=levels, sparsifier=sparsifier, loss="msle",
                      nesting=NestingPolicy(reorder=True))
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    x = torch.rand(64, 6, generator=gen, dtype=torch.float64)
    trainer.train_step(x, 1e-2)  # Adam moments exist
    return trainer, x


@pytest.mark.parametrize("encoder", ["linear", "jumprelu", "gated"])
def test_reordering_renumbers_every_per_latent_tensor_and_keeps_the_function(encoder):
    trainer, x = _trainer_with_moments(encoder)
    module = trainer.module
    before = {id(p): p.detach().clone() for p, _ in module.latent_parameters()}
    moments = {id(p): {k: v.clone() for k, v in trainer.optimizer.state[p].items()
                       if torch.is_tensor(v) and v.shape == p.shape}
               for p, _ in module.latent_parameters()}
    trainer.steps_since_fired = torch.arange(10)
    with torch.no_grad():
        loss = trainer._loss(x)[0]  # both levels' losses: the nested function
    trainer._firing = torch.tensor([0, 5, 1, 9, 9, 2, 0, 7, 3, 4])
    trainer._reorder_latents()
    order = [3, 4, 7, 1, 9, 8, 5, 2, 0, 6]  # by count, ties in original order
    assert trainer.steps_since_fired.tolist() == order
    for param, dim in module.latent_parameters():
        expected = before[id(param)].index_select(dim, torch.tensor(order))
        torch.testing.assert_close(param.detach(), expected, rtol=0, atol=0)
        for key, value in moments[id(param)].items():
            torch.testing.assert_close(trainer.optimizer.state[param][key],
                                       value.index_select(dim, torch.tensor(order)))
    trainer._firing = None
    with torch.no_grad():
        after = trainer._loss(x)[0]
    # Same whole-dictionary function; the first level now holds other latents.
    assert not torch.equal(after, loss)
    trainer.module.select_latents(torch.argsort(torch.tensor(order)))
    with torch.no_grad():
        torch.testing.assert_close(trainer._loss(x)[0], loss, rtol=1e-12, atol=0)


def test_reordering_sorts_by_firing_in_the_first_half_only(data, monkeypatch):
    seen = []
    original = Trainer._reorder_latents

    def spy(self):
        seen.append(self._firing.clone())
        original(self)

    monkeypatch.setattr(Trainer, "_reorder_latents", spy)
    sae = MatryoshkaSAE(**{**SMALL, "n_epochs": 6}).fit(data)
    MatryoshkaSAE(**{**SMALL, "n_epochs": 6}, reorder_latents="none").fit(data)
    sae.partial_fit(data)
    assert len(seen) == 3  # epochs 1-3 of 6, not with 'none', not in partial_fit
    for counts in seen:  # k=4 of the last level per sample, counted over one epoch
        assert int(counts.sum()) == 4 * data.shape[0] and counts.numel() == 32



def test_shared_parameters_have_the_same_defaults_in_both_estimators():
    import inspect

    from sklearn_mini import SpikeSAE

    spike = inspect.signature(SpikeSAE).parameters
    nested = inspect.signature(MatryoshkaSAE).parameters
    shared = [name for name in spike if name in nested]
    assert len(shared) == len(spike) - 2  # all but d_sae and topk
    assert {name: spike[name].default for name in shared} == {
        name: nested[name].default for name in shared}
