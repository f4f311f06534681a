"""The convergence rule, its final decay, early stopping on held-out rows."""

import numpy as np
import pytest

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini._core import stopping
from sklearn_mini._core.pruning import PruneSchedule
from sklearn_mini._core.schedules import MIN_LR_RATIO, final_decay_lr
from sklearn_mini.datasets import make_sparse_counts


@pytest.fixture(scope="module")
def X():
    X, _ = make_sparse_counts(n_samples=1500, n_features=20, n_atoms=8, random_state=0)
    return X


def test_epochs_since_improvement_hand_values():
    # best 1.0 at epoch 0; 0.9999 beats it by 1e-4 relative only at tol < 1e-4
    curve = [1.0, 0.9999, 0.99, 0.9899, 0.995]
    # relative tol 1e-3: 0.99 beats 1.0 by 0.01 > 1e-3; 0.9899 does not beat 0.99 by 9.9e-4
    assert stopping.epochs_since_improvement(curve, 1e-3) == 2
    assert stopping.epochs_since_improvement(curve, 1e-6) == 1  # 0.9899 was the last best
    # higher is better, absolute tol: 0.5, 0.6 (+0.1), 0.6005 (+5e-4 < 1e-3), 0.59
    assert stopping.epochs_since_improvement([0.5, 0.6, 0.6005, 0.59], 1e-3,
                                             higher_is_better=True, relative=False) == 2


def test_converged_ignores_the_warmup_and_can_be_switched_off():
    flat_then_down = [5.0] * 12 + [4.0, 3.0]
    assert stopping.converged([5.0] * 12, 1e-4, 10)
    assert not stopping.converged(flat_then_down, 1e-4, 10)
    # the same flat start inside the warm-up is not counted
    assert not stopping.converged([5.0] * 12, 1e-4, 10, start=5)
    assert not stopping.converged([5.0] * 50, 1e-4, None)


def test_an_atom_that_jumps_keeps_the_fit_going():
    flat = [5.0] * 12
    assert stopping.converged(flat, 1e-4, 10, atom_turns=[0.5, 0.5] + [0.005] * 10)
    assert not stopping.converged(flat, 1e-4, 10, atom_turns=[0.005] * 11 + [0.02])


def test_largest_turn_hand_values():
    import torch

    before = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    after = torch.tensor([[1.0, 1.0], [0.0, 5.0], [0.0, 0.0]])
    # row 0 turned 45 degrees: 1 - cos = 1 - 1/sqrt(2); row 1 only grew; row 2 is empty
    assert stopping.largest_turn(before, after) == pytest.approx(1 - 2 ** -0.5)


def test_final_decay_hand_values():
    # cosine from 0.004 to MIN_LR_RATIO * 0.005 = 5e-5 over 10 steps
    low = MIN_LR_RATIO * 0.005
    assert final_decay_lr(0, 10, 0.004, 0.005) == pytest.approx(0.004)
    assert final_decay_lr(5, 10, 0.004, 0.005) == pytest.approx(low + (0.004 - low) / 2)
    assert final_decay_lr(10, 10, 0.004, 0.005) == pytest.approx(low)
    assert final_decay_lr(99, 10, 0.004, 0.005) == pytest.approx(low)
    assert stopping.decay_epochs(3) == 1 and stopping.decay_epochs(50) == 10


def test_a_converged_fit_stops_after_its_decay(X):
    sae = SpikeSAE(d_sae=16, topk=2, n_epochs=400, n_iter_no_change=5, tol=1e-3,
                   random_state=0).fit(X)
    assert sae.converged_
    assert sae.n_iter_ < 400
    assert len(sae.loss_curve_) == sae.n_iter_
    assert sae.validation_scores_ is None and sae.best_validation_score_ is None
    # the rule fired n_iter / 1.2 epochs in (the decay is a fifth of the epochs before it)
    fired = sae.n_iter_ - stopping.decay_epochs(round(sae.n_iter_ / 1.2))
    # the rule ignores the warm-up and the epochs up to the last pruning stage
    warmup = max(stopping.warmup_epochs(400, 0.1), PruneSchedule.plan(16, 2.0, 400).last_epoch)
    turns = sae.atom_turn_curve_
    assert len(turns) == sae.n_iter_
    assert stopping.converged(sae.loss_curve_[:fired], 1e-3, 5, start=warmup,
                              atom_turns=turns[:fired])
    assert not stopping.converged(sae.loss_curve_[:fired - 1], 1e-3, 5, start=warmup,
                                  atom_turns=turns[:fired - 1])


def test_no_rule_trains_every_epoch(X):
    sae = SpikeSAE(d_sae=16, topk=2, n_epochs=30, n_iter_no_change=None, random_state=0).fit(X)
    assert sae.n_iter_ == 30 and not sae.converged_


@pytest.mark.parametrize("Estimator, params", [
    (SpikeSAE, {"d_sae": 16, "topk": 2}),
    (MatryoshkaSAE, {"levels": ((4, 1), (16, 2))}),
])
def test_early_stopping_scores_the_end_of_the_rows(X, Estimator, params):
    sae = Estimator(n_epochs=200, early_stopping=True, validation_fraction=0.2,
                    batch_size=100, random_state=0, **params).fit(X)
    assert len(sae.validation_scores_) == sae.n_iter_
    assert sae.best_validation_score_ == max(sae.validation_scores_)
    # the held-out rows are the last 20% and are not trained on: 1200 rows a step of 100
    assert sae.n_steps_ == 12 * sae.n_iter_
    cut = int(0.8 * len(X))
    assert sae.validation_scores_[-1] == pytest.approx(
        _training_code_score(sae, X[cut:]), abs=1e-6)
    assert 0 < sae.validation_scores_[-1] <= 1


def _training_code_score(sae, X_val):
    """The validation score recomputed from the fitted model (codes as in training)."""
    import torch

    from sklearn_mini.metrics import explained_variance

    module, level = sae._module, sae._levels[-1]
    with torch.no_grad():
        x = torch.as_tensor(X_val, dtype=torch.float32)
        pre = module.pre_activations(x)[:, : level.d]
        codes = sae._sparsifier.train_codes(pre, level.k, module)
        return explained_variance(X_val.astype(np.float64), module.decode(codes).double().numpy())


def test_early_stopping_needs_rows_to_train_on():
    X = np.abs(np.random.default_rng(0).normal(size=(2, 5)))
    with pytest.raises(ValueError, match="leaving none to train on"):
        SpikeSAE(d_sae=4, topk=1, early_stopping=True, validation_fraction=0.9).fit(X)


@pytest.mark.parametrize("bad", [{"validation_fraction": 1.0}, {"validation_fraction": 0.0},
                                 {"n_iter_no_change": 0}, {"tol": -1.0}])
def test_stopping_parameters_are_validated(X, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SpikeSAE(d_sae=4, topk=1, **bad).fit(X)
