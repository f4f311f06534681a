"""Pruning an over-complete start (``prune_from``): the schedule, the removal costs
against brute force, the greedy survivors, and fits that prune with every sparsity."""

import numpy as np
import pytest
import torch

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini._core import losses
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.pruning import (
    PruneSchedule,
    _usual_substitutes,
    removal_costs,
    survivors,
)
from sklearn_mini._core.sparsity import make_sparsifier
from sklearn_mini._core.train_state import Level, TrainConfig
from sklearn_mini.datasets import make_sparse_counts


# ------------------------------------------------------------------------ schedule
def test_schedule_hand_values():
    plan = PruneSchedule.plan(target=16, factor=2.0, n_epochs=100)
    # 32 latents, a quarter of the 16 extra ones removed at 20%, 30%, 40% and 50%
    assert (plan.start, plan.target, plan.first) == (32, 16, 0)
    assert plan.stages == ((20, 28), (30, 24), (40, 20), (50, 16))
    assert plan.last_epoch == 50
    assert [plan.size_at(e) for e in (0, 19, 20, 35, 50, 99)] == [32, 32, 28, 24, 16, 16]
    assert plan.due(30) == 24 and plan.due(31) is None
    # A nested dictionary grows its last level's 12 latents only: 8 + 24.
    nested = PruneSchedule.plan(target=20, factor=2.0, n_epochs=100, first=8)
    assert (nested.start, nested.first, nested.stages[-1]) == (32, 8, (50, 20))


@pytest.mark.parametrize("factor, n_epochs", [(1.0, 100), (2.0, 9), (1.01, 100)])
def test_nothing_to_prune_is_no_schedule(factor, n_epochs):
    # factor 1, too few epochs to train between stages, or no whole extra latent
    assert PruneSchedule.plan(target=16, factor=factor, n_epochs=n_epochs) is None


def test_usual_substitute_is_the_most_frequent_one():
    d = 4
    keys = [torch.tensor([0 * d + 1, 0 * d + 2, 0 * d + 2, 3 * d + 0]),
            torch.tensor([0 * d + 2, 3 * d + 1, 3 * d + 1])]
    # latent 0: substitute 2 three times, 1 once; latent 3: 1 twice, 0 once; 1 and 2: none
    assert _usual_substitutes(keys, d, "cpu").tolist() == [2, -1, -1, 1]
    assert _usual_substitutes([], d, "cpu").tolist() == [-1] * 4


# ------------------------------------------------------------------- removal costs
def _module(d=6, n=5, seed=0, output=None, encoder="linear"):
    gen = torch.Generator().manual_seed(seed)
    module = SAEModule(n, d, subtract_decoder_bias=True, output_relu=False, generator=gen,
                       dtype=torch.float64, positive_dict=True, output=output, encoder=encoder)
    with torch.no_grad():
        module.b_dec.copy_(torch.rand(n, generator=gen, dtype=torch.float64) * 0.1)
        module.b_enc.copy_(torch.randn(d, generator=gen, dtype=torch.float64) * 0.1)
    x = torch.poisson(torch.rand(40, n, generator=gen, dtype=torch.float64) * 3, generator=gen)
    return module, x


def _brute_force(module, config, x, alive):
    """Each live latent's cost by decoding without it: with ``sparsity='topk'`` every row
    recoded with its pre-activation masked (the next-ranked latent takes the slot); with
    the other sparsities its code dropped from the codes of all live latents."""
    level, sparsifier = config.levels[-1], config.sparsifier

    def codes_without(mask):
        pre = module.pre_activations(x)
        if sparsifier.uses_topk:
            pre = pre.masked_fill(~(mask if sparsifier.name == "topk" else alive),
                                  float("-inf"))
        return sparsifier.train_codes(pre, level.k, module) * mask

    def total(mask):
        x_hat = module.decode(codes_without(mask))
        return float(losses.element_losses(config.loss, x_hat, x, config.tau).sum().detach())

    base = total(alive)
    costs = []
    for j in range(module.d_sae):
        if not alive[j]:
            costs.append(float("inf"))
            continue
        mask = alive.clone()
        mask[j] = False
        costs.append(total(mask) - base)
    return np.array(costs)


@pytest.mark.parametrize("sparsity, loss", [("topk", "msle"), ("topk", "mse"),
                                            ("topk", "poisson"), ("batchtopk", "msle"),
                                            ("relu", "mse"), ("jumprelu", "msle")])
def test_removal_costs_equal_decoding_without_the_latent(sparsity, loss):
    sparsifier = make_sparsifier(sparsity)
    module, x = _module(output="softplus" if loss == "poisson" else None,
                        encoder=sparsifier.encoder)
    config = TrainConfig(levels=(Level(6, 2),), sparsifier=sparsifier, loss=loss)
    alive = torch.tensor([True, True, False, True, True, True])
    costs, _ = removal_costs(module, config, x, alive)
    np.testing.assert_allclose(costs.numpy(), _brute_force(module, config, x, alive),
                               rtol=1e-9, atol=1e-9)
    assert costs[alive].abs().min() > 0  # every live latent fires on some row here


def test_survivors_drop_a_copy_and_a_useless_latent_and_keep_the_patterns():
    torch.manual_seed(0)
    n, gen = 12, torch.Generator().manual_seed(0)
    patterns = torch.zeros(3, n, dtype=torch.float64)
    patterns[0, :4] = patterns[1, 4:8] = patterns[2, 8:] = 0.5
    on = (torch.rand(600, 3, generator=gen) < 0.3).double()
    x = on @ patterns * 6
    module = SAEModule(n, 5, subtract_decoder_bias=False, output_relu=False, generator=gen,
                       dtype=torch.float64)
    junk = torch.zeros(n, dtype=torch.float64)
    junk[[0, 5]] = 2 ** -0.5
    with torch.no_grad():  # the patterns, a copy of pattern 1, and a two-unit blend
        module.W_dec.copy_(torch.vstack([patterns, patterns[1], junk]))
        module.W_enc.copy_(module.W_dec.T)
        module.b_dec.zero_()
    config = TrainConfig(levels=(Level(5, 3),), sparsifier=make_sparsifier("topk"), loss="mse")
    keep = survivors(module, config, x, n_keep=3)
    kept = module.W_dec[keep]
    # every pattern survives once (either copy of pattern 1 may stay)
    assert torch.allclose((kept @ patterns.T).max(0).values, torch.ones(3, dtype=torch.float64))
    assert 4 not in keep.tolist()
    # latents before ``first`` are never removed: with 0 and 1 kept, the copy of pattern
    # 1 and the blend go, and pattern 2 stays
    assert survivors(module, config, x, n_keep=3, first=2).tolist() == [0, 1, 2]
    assert survivors(module, config, x, n_keep=4, first=4).tolist() == [0, 1, 2, 3]


# ------------------------------------------------------------------------ fits
@pytest.fixture(scope="module")
def X():
    return make_sparse_counts(n_samples=1200, n_features=16, random_state=0)[0]


@pytest.mark.parametrize("params", [
    {"sparsity": "topk"},
    {"sparsity": "batchtopk"},
    {"sparsity": "relu", "l1_coef": 1e-3},
    {"sparsity": "jumprelu"},
    {"sparsity": "gated"},
    {"sparsity": "topk", "loss": "poisson"},
    {"sparsity": "topk", "decoder_path": "sparse"},
    {"sparsity": "topk", "positive_dict": False, "loss": "mse"},
])
def test_a_pruned_fit_ends_at_d_sae(X, params):
    sae = SpikeSAE(d_sae=12, topk=2, n_epochs=12, batch_size=128, random_state=0,
                   **params).fit(X)
    assert sae.d_sae_ == 12 and sae.components_.shape == (12, X.shape[1])
    assert len(sae.latent_frequency_) == 12
    assert sae.transform(X).shape == (len(X), 12)
    assert np.isfinite(sae.score(X))


def test_matryoshka_prunes_its_last_level_only(X):
    sae = MatryoshkaSAE(levels=((4, 1), (12, 2)), n_epochs=12, batch_size=128,
                        random_state=0).fit(X)
    assert sae.components_.shape == (12, X.shape[1])
    assert [s.stop for s in sae.level_slices_] == [4, 12]
    assert np.isfinite(sae.score_levels(X)).all()


def test_prune_from_one_is_the_unpruned_fit(X):
    a = SpikeSAE(d_sae=12, topk=2, n_epochs=12, random_state=0, prune_from=1).fit(X)
    b = SpikeSAE(d_sae=12, topk=2, n_epochs=12, random_state=0, prune_from=1.0).fit(X)
    c = SpikeSAE(d_sae=12, topk=2, n_epochs=12, random_state=0).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)


def test_prune_from_below_one_is_a_clear_error(X):
    with pytest.raises(ValueError, match="prune_from"):
        SpikeSAE(prune_from=0.5).fit(X)
