"""Non-negative dictionaries: every sparsity, loss, Matryoshka, the sparse path, the aux loss."""

import warnings

import numpy as np
import pytest

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini.datasets import make_sparse_counts


def _data(n=1500, f=20):
    X, _ = make_sparse_counts(n_samples=n, n_features=f, n_atoms=8, n_active=2, random_state=0)
    return X


def _check_atoms(sae, unit_norm=True):
    W = sae.components_
    assert np.all(W >= 0), "a non-negative dictionary has a negative entry"
    if unit_norm:
        np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("sparsity", ["topk", "batchtopk", "relu", "jumprelu", "gated"])
@pytest.mark.parametrize("loss", ["msle", "mse", "poisson", "msle_asym"])
def test_atoms_stay_non_negative_for_every_sparsity_and_loss(sparsity, loss):
    sae = SpikeSAE(d_sae=16, topk=2, sparsity=sparsity, loss=loss, n_epochs=4,
                   batch_size=128, random_state=0).fit(_data())
    _check_atoms(sae)
    assert np.isfinite(sae.score(_data()))


@pytest.mark.parametrize("l1_penalty", ["decoder_norm", "tanh"])
def test_unconstrained_norms_are_kept_non_negative_too(l1_penalty):
    sae = SpikeSAE(d_sae=16, sparsity="relu", l1_penalty=l1_penalty, n_epochs=4,
                   batch_size=128, random_state=0).fit(_data())
    _check_atoms(sae, unit_norm=False)


@pytest.mark.parametrize("path", ["dense", "sparse"])
def test_matryoshka_and_both_decoder_paths_with_the_aux_loss(path):
    # dead_window=1 with many latents: the aux loss runs on most steps.
    sae = MatryoshkaSAE(levels=((8, 1), (64, 3)), decoder_path=path, dead_window=1,
                        aux_coef=0.5, n_epochs=4, batch_size=128, random_state=0)
    sae.fit(_data())
    _check_atoms(sae)


def test_unconstrained_dictionary_has_negative_entries():
    # The option does something: without it atoms take both signs.
    sae = SpikeSAE(d_sae=16, topk=2, positive_dict=False, n_epochs=4, random_state=0)
    assert np.any(sae.fit(_data()).components_ < 0)


def test_positive_dict_is_ignored_by_a_nonlinear_decoder():
    sae = SpikeSAE(d_sae=16, topk=2, decoder_layers=(8,), n_epochs=2, random_state=0)
    sae.fit(_data())
    assert hasattr(sae, "decoder_") and not hasattr(sae, "components_")


def test_saved_models_keep_their_constraint(tmp_path):
    sae = SpikeSAE(d_sae=16, topk=2, n_epochs=2, random_state=0).fit(_data())
    sae.save(tmp_path / "m")
    loaded = SpikeSAE.load(tmp_path / "m")
    assert loaded.positive_dict and loaded._module.positive_dict
    np.testing.assert_array_equal(loaded.transform(_data()), sae.transform(_data()))


def test_a_file_written_before_the_option_loads_unconstrained(tmp_path):
    import json

    sae = SpikeSAE(d_sae=16, topk=2, positive_dict=False, n_epochs=2, random_state=0)
    sae.fit(_data()).save(tmp_path / "old")
    config_path = next((tmp_path / "old").glob("*.json"))
    config = json.loads(config_path.read_text())
    del config["params"]["positive_dict"]            # as written by wave 1
    del config["fitted"]["module"]["positive_dict"]
    config_path.write_text(json.dumps(config))
    loaded = SpikeSAE.load(tmp_path / "old")
    assert loaded.positive_dict is False and not loaded._module.positive_dict


def test_dead_fraction_curve_and_partial_fit():
    sae = SpikeSAE(d_sae=16, topk=2, n_epochs=5, batch_size=256, random_state=0).fit(_data())
    curve = sae.dead_fraction_curve_
    assert len(curve) == sae.n_iter_ == 5
    assert all(0.0 <= v <= 1.0 for v in curve)
    sae.partial_fit(_data())
    assert len(sae.dead_fraction_curve_) == 6


def test_dead_fraction_curve_counts_latents_that_never_fire_in_an_epoch():
    # Rank-one data: one pattern, so with top-1 codes only a few latents ever fire.
    rng = np.random.default_rng(0)
    X = np.outer(rng.poisson(3.0, 2000), np.ones(10))
    with pytest.warns(UserWarning, match="never fire on the training data"):
        sae = SpikeSAE(d_sae=32, topk=1, n_epochs=20, random_state=0).fit(X)
    assert sae.dead_fraction_ > 0.25
    # A latent that never fired in the last epoch is dead then; the final count agrees.
    assert sae.dead_fraction_curve_[-1] >= sae.dead_fraction_ - 1e-12


def test_a_healthy_fit_does_not_warn_about_dead_latents():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SpikeSAE(d_sae=8, topk=2, n_epochs=20, random_state=0).fit(_data())


def test_the_aux_loss_moves_a_latent_whose_pre_activations_are_all_negative():
    # Latent 0 is dead with a negative pre-activation on every bin: a ReLU'd aux code
    # alone would give it no gradient. Its atom points at what the others cannot
    # reconstruct (unit 0), so the aux loss must raise its pre-activations there.
    import torch

    from sklearn_mini._core.model import SAEModule
    from sklearn_mini._core.sparsity import make_sparsifier
    from sklearn_mini._core.training import Level, TrainConfig, Trainer

    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(256, 4, dtype=torch.float64)
    x[:, 0] = torch.rand(256, generator=gen, dtype=torch.float64)  # only latent 0's unit
    x[:, 1:] = torch.rand(256, 3, generator=gen, dtype=torch.float64)
    module = SAEModule(4, 4, subtract_decoder_bias=False, output_relu=False, generator=gen,
                       dtype=torch.float64, positive_dict=True)
    with torch.no_grad():
        module.W_dec.copy_(torch.eye(4, dtype=torch.float64))
        module.W_enc.copy_(torch.eye(4, dtype=torch.float64))
        module.b_enc.copy_(torch.tensor([-5.0, 0.0, 0.0, 0.0]))
    cfg = TrainConfig(levels=(Level(4, 3),), sparsifier=make_sparsifier("topk"), loss="mse",
                      aux_coef=1.0, k_aux=1, dead_window=1)
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    trainer.steps_since_fired[0] = 10
    trainer._has_dead = True
    before = float(module.pre_activations(x)[:, 0].max())
    for _ in range(20):
        trainer.train_step(x, 1e-2)
    after = float(module.pre_activations(x)[:, 0].max())
    assert before < 0 and after > before + 0.1
