"""Every formula checked against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from sklearn_mini._core import losses
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.penalties import jumprelu, l0_penalty, l1_penalty
from sklearn_mini._core.schedules import cosine_cycle_lr
from sklearn_mini._core.sparsity import (
    BatchTopK,
    ReLUL1,
    ThresholdCalibrator,
    TopK,
    batchtopk_threshold,
    dead_columns,
    dead_latent_mask,
)
from sklearn_mini._core.training import Level, TrainConfig, Trainer
from sklearn_mini.metrics import (
    bits_per_spike,
    dead_fraction,
    explained_variance,
    mean_l0,
    r2_per_example,
    r2_per_unit,
)

LN2 = math.log(2.0)


# ----------------------------------------------------------------------- MSLE / MSE
def test_msle_hand_value_with_tau():
    x = torch.tensor([[0.0, 1.0], [3.0, 0.0]], dtype=torch.float64)
    x_hat = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    # tau * log1p(x_hat) - log1p(x) with tau = 2:
    #   [2 ln2 - 0, 2 ln2 - ln2], [2 ln2 - ln4, 0 - 0] = [2 ln2, ln2], [0, 0]
    expected = ((2 * LN2) ** 2 + LN2 ** 2 + 0.0 + 0.0) / 4
    assert losses.msle(x_hat, x, tau=2.0).item() == pytest.approx(expected, rel=1e-12)
    # tau = 1 is the plain mean squared log error.
    expected_tau1 = (LN2 ** 2 + 0.0 + (LN2 - math.log(4.0)) ** 2 + 0.0) / 4
    assert losses.msle(x_hat, x).item() == pytest.approx(expected_tau1, rel=1e-12)


def test_msle_is_finite_at_and_below_minus_one():
    x = torch.tensor([[0.0, 2.0, 1.0]], dtype=torch.float64)
    x_hat = torch.tensor([[-1.0, -5.0, 0.5]], dtype=torch.float64, requires_grad=True)
    loss = losses.msle(x_hat, x)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(x_hat.grad).all()
    # Clamped entries use log1p(-1 + 1e-6) = ln(1e-6).
    floor = math.log(1e-6)
    expected = (floor ** 2 + (floor - math.log(3.0)) ** 2 + (math.log(1.5) - LN2) ** 2) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_mse_hand_value():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x_hat = torch.tensor([[1.0, 0.0], [4.0, 4.0]])
    assert losses.mse(x_hat, x).item() == pytest.approx((0 + 4 + 1 + 0) / 4)


# ----------------------------------------------------------------------- aux loss
def _toy_module():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(2, 3, subtract_decoder_bias=False, output_relu=False,
                       generator=gen, dtype=torch.float64)
    with torch.no_grad():
        module.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64))
        module.b_dec.copy_(torch.tensor([10.0, -7.0]))  # must not enter the aux decoding
    return module


@pytest.mark.parametrize("k_aux, expected", [
    # k_aux=1: row 0 picks dead latent 2 (pre 2) -> e_hat [1.2, 1.6];
    #          row 1 picks dead latent 2 (pre 4) -> e_hat [2.4, 3.2].
    # errors: (1-1.2)^2 + 1.6^2 = 2.6 ; 2.4^2 + (2-3.2)^2 = 7.2 ; mean over 4 = 2.45
    (1, 2.45),
    # k_aux=2: row 0 adds latent 1 (pre 1) -> e_hat [1.2, 2.6]: 0.04 + 6.76 = 6.8;
    #          row 1's other dead latent has pre -1: its code is 0, its part below zero
    #          -1 decodes (frozen) to [0, -1] -> e_hat [2.4, 2.2]: 5.76 + 0.04 = 5.8.
    #          (6.8 + 5.8) / 4 = 3.15
    (2, 3.15),
])
@pytest.mark.parametrize("subset", [False, True], ids=["all-latents-masked", "dead-columns"])
def test_aux_loss_hand_value(k_aux, expected, subset):
    module = _toy_module()
    residual = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    pre = torch.tensor([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]], dtype=torch.float64,
                       requires_grad=True)
    dead = torch.tensor([False, True, True])
    # The CPU decodes the dead columns only; an accelerator masks the live ones out.
    cols = dead_columns(dead) if subset else None
    pre_dead = pre[:, cols] if subset else pre
    mask = dead_latent_mask(pre_dead, None if subset else dead, k_aux)
    if subset:
        assert cols.tolist() == [1, 2]
    else:
        assert mask[:, 0].eq(0).all(), "a live latent was used"
    e_hat = module.decode_dead(pre_dead, mask, cols)
    value = losses.aux_loss(residual, e_hat)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    value.backward()
    assert pre.grad[:, 0].eq(0).all()
    if k_aux == 2:
        # d/d pre[1, 1] = -2/4 (e - e_hat) . W_dec[1] = -0.5 ([0 - 2.4, 2 - 2.2] . [0, 1]) = 0.1:
        # the negative part reaches the dead latent's encoder ...
        assert pre.grad[1, 1].item() == pytest.approx(0.1, rel=1e-12)
        # ... but not its atom: W_dec[1] gets gradient from row 0's positive code only
        # (-2/4 (e - e_hat)[0] . 1 = -0.5 [1 - 1.2, 0 - 2.6] = [0.1, 1.3]).
        torch.testing.assert_close(module.W_dec.grad[1],
                                   torch.tensor([0.1, 1.3], dtype=torch.float64))
        assert module.W_dec.grad[0].eq(0).all() and module.b_dec.grad is None


def test_aux_loss_rejects_undetached_residual():
    residual = torch.zeros(2, 2, requires_grad=True)
    with pytest.raises(ValueError, match="detached"):
        losses.aux_loss(residual, torch.zeros(2, 2))


def test_trainer_adds_aux_term_with_coefficient_and_only_dead_latents_get_its_gradient():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(4, 6, subtract_decoder_bias=True, output_relu=False,
                       generator=gen, dtype=torch.float64)
    x = torch.rand(8, 4, generator=gen, dtype=torch.float64)
    level = Level(d=6, k=1)
    cfg = TrainConfig(levels=(level,), sparsifier=TopK(), loss="mse", aux_coef=0.5, k_aux=2,
                      dead_window=1)
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    dead = torch.tensor([False, False, False, True, True, True])
    trainer.steps_since_fired = torch.where(dead, 5, 0)
    trainer._has_dead = False
    main_loss, _ = trainer._loss(x)
    trainer._has_dead = True
    total, _ = trainer._loss(x)
    # Recompute the aux term by hand from the same pieces.
    pre = module.pre_activations(x)
    codes = TopK().train_codes(pre, 1)
    residual = (x - module.decode(codes)).detach()
    # Each sample's two largest dead pre-activations, decoded without the bias.
    top = pre[:, dead].topk(2, dim=1)
    codes_aux = torch.zeros(8, 3, dtype=pre.dtype).scatter(1, top.indices, top.values)
    aux = ((residual - codes_aux @ module.W_dec[dead]).pow(2)).mean()
    assert (total - main_loss).item() == pytest.approx(0.5 * aux.item(), rel=1e-10)
    # The aux term alone moves dead latents only: not live latents, not the shared
    # decoder bias (up to the round-off of subtracting two graphs' gradients).
    module.zero_grad()
    (total - main_loss).backward()
    assert module.W_enc.grad[:, ~dead].abs().max() < 1e-12
    assert module.W_dec.grad[~dead].abs().max() < 1e-12
    assert module.b_dec.grad.abs().max() < 1e-12
    assert module.b_enc.grad[~dead].abs().max() < 1e-12
    assert module.W_enc.grad[:, dead].abs().max() > 1e-3
    assert module.W_dec.grad[dead].abs().max() > 1e-3


# ----------------------------------------------------------------------- schedule
@pytest.mark.parametrize("step, expected", [
    (0, 0.1),                       # warmup = int(0.1 * 100) = 10: lr * 1/10
    (4, 0.5),                       # lr * 5/10
    (9, 1.0),                       # end of warmup
    (10, 1.0), (49, 1.0),           # plateau until decay_start = 50
    (50, 1.0 + 0.1 * 0.99),         # cosine at its top, cycle at its top
    # t = 5: base = 0.01 + 0.99 * (1 + cos(pi * 5/50)) / 2; cycle phase 5/10 -> 0
    (55, 0.01 + 0.99 * (1 + math.cos(math.pi * 0.1)) / 2),
    # t = 49: base as above with 49/50; cycle phase 9/10
    (99, 0.01 + 0.99 * (1 + math.cos(math.pi * 0.98)) / 2
     + 0.1 * 0.99 * (1 + math.cos(2 * math.pi * 0.9)) / 2),
])
def test_cosine_cycle_schedule_at_chosen_steps(step, expected):
    assert cosine_cycle_lr(step, 100, 1.0) == pytest.approx(expected, rel=1e-12)


def test_cosine_cycle_schedule_known_literals():
    assert cosine_cycle_lr(55, 100, 1.0) == pytest.approx(0.9757730, abs=1e-7)
    assert cosine_cycle_lr(99, 100, 1.0) == pytest.approx(0.1005231, abs=1e-7)


@pytest.mark.parametrize("n_steps", [1, 2, 3, 5, 7])
def test_cosine_cycle_schedule_guards_tiny_runs(n_steps):
    rates = [cosine_cycle_lr(s, n_steps, 5e-3) for s in range(n_steps)]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    assert max(rates) <= 5e-3 * 1.1


# ----------------------------------------------------------------------- BatchTopK threshold
def test_batchtopk_threshold_hand_value():
    # k = 1 over n = 3 samples keeps the 3 largest positive values: 4, 3, 2; the next is 1.
    batches = [torch.tensor([[0.5, 3.0, 0.0], [2.0, 1.0, -1.0]]), torch.tensor([[4.0, 0.1, 0.2]])]
    assert batchtopk_threshold(lambda: iter(batches), k=1, n_samples=3) == pytest.approx(1.5)
    # Same answer whatever the batching.
    rows = [r[None] for r in torch.cat(batches)]
    assert batchtopk_threshold(lambda: iter(rows), k=1, n_samples=3) == pytest.approx(1.5)


def test_batchtopk_threshold_zero_when_too_few_positive():
    block = [torch.tensor([[1.0, -1.0], [0.0, 0.0]])]
    assert batchtopk_threshold(lambda: iter(block), k=1, n_samples=2) == 0.0


def _exact_threshold(values, n_keep):
    pos = np.sort(values[values > 0])[::-1]
    return 0.0 if pos.size <= n_keep else (pos[n_keep - 1] + pos[n_keep]) / 2


@pytest.mark.parametrize("busy_row", [False, True])
def test_batchtopk_threshold_streaming_is_exact(busy_row):
    gen = torch.Generator().manual_seed(5)
    pre = torch.randn(300, 40, generator=gen, dtype=torch.float64)
    if busy_row:  # one row with every latent far above the rest
        pre[17] = 10.0 + torch.rand(40, generator=gen, dtype=torch.float64)
    blocks = list(pre.split(64))
    got = batchtopk_threshold(lambda: iter(blocks), k=2, n_samples=300)
    assert got == pytest.approx(_exact_threshold(pre.numpy(), 600))
    assert int((pre > got).sum()) == 600


def test_threshold_calibrator_counts_match_inference_firing():
    gen = torch.Generator().manual_seed(3)
    data = torch.randn(500, 40, generator=gen, dtype=torch.float64)
    calibrator = ThresholdCalibrator(137, 40)
    for block in data.split(7):  # many blocks: the kept set is pruned repeatedly
        calibrator.update(block)
    threshold, counts = calibrator.result()
    pos = np.sort(data[data > 0].numpy())[::-1]
    assert threshold == pytest.approx((pos[136] + pos[137]) / 2)
    assert torch.equal(counts, (data > threshold).sum(0))
    # Prefix views (a Matryoshka level) stream the same way.
    prefix = ThresholdCalibrator(50, 10)
    for block in data.split(64):
        prefix.update(block[:, :10])
    threshold, counts = prefix.result()
    assert torch.equal(counts, (data[:, :10] > threshold).sum(0)) and int(counts.sum()) == 50


# ----------------------------------------------------------------------- sparsifiers
def test_topk_and_batchtopk_codes():
    pre = torch.tensor([[3.0, -1.0, 2.0, 0.5], [0.1, 0.2, -3.0, 0.0]])
    z = TopK().train_codes(pre, 2)
    assert torch.equal(z, torch.tensor([[3.0, 0.0, 2.0, 0.0], [0.1, 0.2, 0.0, 0.0]]))
    zb = BatchTopK().train_codes(pre, 2)  # 4 largest of the batch: 3, 2, 0.5, 0.2
    assert torch.equal(zb, torch.tensor([[3.0, 0.0, 2.0, 0.5], [0.0, 0.2, 0.0, 0.0]]))
    zi = BatchTopK().infer_codes(pre, 2, threshold=0.3)
    assert torch.equal(zi, torch.tensor([[3.0, 0.0, 2.0, 0.5], [0.0, 0.0, 0.0, 0.0]]))


def test_relu_l1_penalty_hand_value():
    z = ReLUL1(0.5).train_codes(torch.tensor([[1.0, -2.0, 3.0], [0.0, 2.0, -1.0]]))
    # mean over samples of sum_j z_j = (4 + 2) / 2 = 3; times l1_coef 0.5
    assert l1_penalty(z, torch.ones(3)).item() == pytest.approx(3.0)


def test_l1_penalty_variants_hand_values():
    z = torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    norms = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64)
    # decoder_norm: ((1*2 + 3*1) + (2*0.5)) / 2 = 3
    assert l1_penalty(z, norms, "decoder_norm").item() == pytest.approx(3.0)
    # tanh with A=2, B=0.5: (A/B) tanh(B * z_j ||d_j||) summed, averaged over samples
    by_hand = 4 * (math.tanh(0.5 * 2) + math.tanh(0.5 * 3) + math.tanh(0.5 * 1)) / 2
    assert l1_penalty(z, norms, "tanh", 2.0, 0.5).item() == pytest.approx(by_hand)
    # standard ignores the norms (atoms are unit norm there)
    assert l1_penalty(z, norms, "standard").item() == pytest.approx(3.0)


def test_poisson_loss_hand_value():
    rate = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    # (2 - 1 + 1*log(1/2)) + (0.5 - 0 + 0) over 2 elements
    by_hand = ((1 - math.log(2)) + 0.5) / 2
    assert losses.poisson(rate, x, eps=0.0).item() == pytest.approx(by_hand)
    assert losses.poisson(x.clamp_min(0), x, eps=1e-8).item() == pytest.approx(0.0, abs=1e-7)
    zero = losses.poisson(torch.zeros(3, 2), torch.zeros(3, 2))
    assert torch.isfinite(zero) and zero.item() == 0.0


def test_msle_asym_hand_value():
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    x_hat = torch.tensor([[0.0, 3.0]], dtype=torch.float64)
    under, over = math.log(1) - math.log(2), math.log(4) - math.log(2)
    by_hand = (3.0 * under**2 + over**2) / 2
    assert losses.msle_asym(x_hat, x, tau=3.0).item() == pytest.approx(by_hand)
    assert losses.msle_asym(x_hat, x, tau=1.0).item() == pytest.approx(losses.msle(x_hat, x).item())


def test_jumprelu_pseudo_derivatives_hand_values():
    pre = torch.tensor([[0.52, 0.30, 0.90]], dtype=torch.float64, requires_grad=True)
    theta = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64, requires_grad=True)
    z = jumprelu(pre, theta, 0.1)
    assert z.tolist() == [[0.52, 0.0, 0.90]]
    z.sum().backward()
    # only latent 0 is within eps/2 of its threshold: dz/dtheta = -(theta/eps) = -5
    assert theta.grad.tolist() == pytest.approx([-5.0, 0.0, 0.0])
    assert pre.grad.tolist() == [[1.0, 0.0, 1.0]]
    theta.grad = None
    l0_penalty(pre, theta, 0.1).backward()
    assert theta.grad.tolist() == pytest.approx([-10.0, 0.0, 0.0])  # -(1/eps) K


def _smoothed_step(u, eps):
    """The rectangle kernel's CDF: the step the pseudo-derivatives differentiate."""
    return (u / eps + 0.5).clamp(0.0, 1.0)


def test_jumprelu_theta_gradient_matches_finite_difference_of_smoothed_objective():
    gen = torch.Generator().manual_seed(0)
    eps = 1e-3
    pre = torch.rand(400, 6, generator=gen, dtype=torch.float64)
    theta = torch.linspace(0.3, 0.7, 6, dtype=torch.float64)
    # A linear functional of the codes checks the local derivative dz/dtheta (the chain
    # rule multiplies it by whatever upstream gradient a loss supplies).
    weight = torch.rand(400, 6, generator=gen, dtype=torch.float64) - 0.25
    # Put many pre-activations inside the kernel window so the gradient is not trivial.
    pre[:100] = theta + (torch.rand(100, 6, generator=gen, dtype=torch.float64) - 0.5) * 0.8 * eps

    def smoothed(th):
        step = _smoothed_step(pre - th, eps)
        return (weight * pre * step).sum(), step.sum(-1).mean()

    th = theta.clone().requires_grad_(True)
    recon = (weight * jumprelu(pre, th, eps)).sum()
    g_recon = torch.autograd.grad(recon, th)[0]
    g_l0 = torch.autograd.grad(l0_penalty(pre, th, eps), th)[0]
    h = 1e-7
    for j in range(6):
        up, down = theta.clone(), theta.clone()
        up[j] += h
        down[j] -= h
        (r_up, l_up), (r_down, l_down) = smoothed(up), smoothed(down)
        fd_l0 = (l_up - l_down) / (2 * h)
        # The L0 pseudo-derivative is exactly the smoothed step's derivative.
        assert g_l0[j].item() == pytest.approx(fd_l0.item(), rel=1e-6)
        # JumpReLU's uses theta/eps for the jump height where the smoothed objective has
        # pre/eps; inside the window |pre - theta| < eps/2, so they agree to eps/theta.
        fd_recon = (r_up - r_down) / (2 * h)
        assert g_recon[j].item() == pytest.approx(fd_recon.item(), rel=eps / theta[j].item())
        assert abs(g_recon[j].item()) > 1.0


# ----------------------------------------------------------------------- metrics
def test_explained_variance_hand_value():
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    X_hat = np.array([[1.0, 2.0], [3.0, 3.0]])
    # residual 1; per-unit means (2, 3): total = 1 + 1 + 1 + 1 = 4
    assert explained_variance(X, X_hat) == pytest.approx(0.75)


def test_explained_variance_constant_data_is_not_nan():
    X = np.ones((3, 2))
    assert explained_variance(X, X) == 1.0
    assert explained_variance(X, X + 1) == 0.0


@pytest.mark.parametrize("value", [1e30, 0.1, 7.0])
def test_constant_data_whose_float_mean_is_not_the_value_scores_by_the_constant_rule(value):
    # 100 copies of 1e30 average to 1e30 + 1.7e15 in float64: the rounding-level
    # "variance" (1.1e33) made the R^2 of an inexact reconstruction -7.9e13.
    X = np.full((100, 4), value)
    X_hat = X.copy()
    X_hat[0, 0] = value * 2  # not exact, so the constant rule gives 0.0
    assert explained_variance(X, X) == 1.0
    assert explained_variance(X, X_hat) == 0.0
    np.testing.assert_array_equal(r2_per_unit(X, X_hat), [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(r2_per_example(X, X_hat)[:2], [0.0, 1.0])


def test_l0_and_dead_fraction():
    Z = np.array([[0.0, 1.0, 0.0], [2.0, 3.0, 0.0]])
    assert mean_l0(Z) == 1.5
    assert dead_fraction(Z) == pytest.approx(1 / 3)


# ----------------------------------------------------------------------- decoder geometry
def test_radial_gradient_removed_and_atoms_renormalised():
    gen = torch.Generator().manual_seed(1)
    module = SAEModule(5, 7, subtract_decoder_bias=True, output_relu=True, generator=gen,
                       dtype=torch.float64)
    assert torch.allclose(module.W_dec.norm(dim=1), torch.ones(7, dtype=torch.float64))
    assert torch.equal(module.W_enc, module.W_dec.T), "tied initialisation"
    module.W_dec.grad = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    module.remove_radial_decoder_grad()
    radial = (module.W_dec.grad * module.W_dec).sum(1)
    assert radial.abs().max() < 1e-12
    with torch.no_grad():
        module.W_dec.mul_(3.0)
    module.normalize_decoder()
    assert torch.allclose(module.W_dec.norm(dim=1), torch.ones(7, dtype=torch.float64))


# ----------------------------------------------------------------------- data-driven init
def test_decoder_bias_init_mean_and_geometric_median():
    from sklearn_mini._core.init import decoder_bias

    x = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [100.0, 1.0]])
    assert torch.allclose(decoder_bias(x, "mean"), torch.tensor([25.0, 1.0], dtype=torch.float64))
    # The geometric median ignores the single burst: (0, 1).
    assert torch.allclose(decoder_bias(x, "geometric_median"),
                          torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-6)
    assert torch.equal(decoder_bias(x, "zeros"), torch.zeros(2, dtype=torch.float64))


# ----------------------------------------------------------------------- positive atoms
def test_positive_projection_hand_value():
    gen = torch.Generator().manual_seed(0)
    module = SAEModule(3, 3, subtract_decoder_bias=False, output_relu=False, generator=gen,
                       dtype=torch.float64, positive_dict=True)
    with torch.no_grad():
        module.W_dec.copy_(torch.tensor([[3.0, -1.0, 4.0],     # -> [3, 0, 4] / 5
                                         [-2.0, -0.5, -3.0],   # empty -> largest (-0.5) set to 1
                                         [0.0, 2.0, 0.0]]))    # already on the set
    module.project_decoder(unit_norm=True)
    expected = torch.tensor([[0.6, 0.0, 0.8], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
                            dtype=torch.float64)
    torch.testing.assert_close(module.W_dec.detach(), expected)
    # Without the unit-norm constraint only the negative entries change.
    with torch.no_grad():
        module.W_dec.copy_(torch.tensor([[3.0, -1.0, 4.0], [1.0, 1.0, 1.0], [0.5, 0.0, -2.0]]))
    module.project_decoder(unit_norm=False)
    torch.testing.assert_close(module.W_dec.detach(), torch.tensor(
        [[3.0, 0.0, 4.0], [1.0, 1.0, 1.0], [0.5, 0.0, 0.0]], dtype=torch.float64))


def test_positive_initial_atoms_are_sparse_non_negative_unit_vectors():
    from sklearn_mini._core.model import POSITIVE_INIT_DENSITY, random_atoms

    w = random_atoms(400, 50, torch.Generator().manual_seed(0), positive=True)
    assert (w >= 0).all()
    torch.testing.assert_close(w.norm(dim=1), torch.ones(400, dtype=torch.float64))
    assert ((w > 0).sum(1) >= 1).all()
    # About POSITIVE_INIT_DENSITY of the entries (plus the one forced per atom) are used.
    assert abs(float((w > 0).double().mean()) - POSITIVE_INIT_DENSITY) < 0.03


def test_units_per_atom_hand_values():
    from sklearn_mini.metrics import units_per_atom

    atoms = np.array([[1.0, 0.0, 0.0, 0.0],     # one unit: 1
                      [1.0, 1.0, 0.0, 0.0],     # two equal units: (2)^2 / 2 = 2
                      [2.0, 1.0, 0.0, 0.0],     # (4 + 1)^2 / (16 + 1) = 25 / 17
                      [-1.0, 1.0, 1.0, -1.0]])  # four equal magnitudes: 4
    np.testing.assert_allclose(units_per_atom(atoms), [1.0, 2.0, 25 / 17, 4.0])
    with pytest.raises(ValueError, match="all-zero atom"):
        units_per_atom(np.zeros((1, 3)))


def test_every_model_scores_with_the_one_score():
    # Issue 20: the score formula was written four times (SAE, baselines, adapters,
    # StableFeatures). Now one mixin applies metrics.explained_variance for all of them.
    from sklearn_mini import MatryoshkaSAE, SpikeSAE
    from sklearn_mini.adapters import GPFA, CEBRAEmbedding, SliceTCA
    from sklearn_mini.baselines import NMF, PCA, DictionaryLearning
    from sklearn_mini.dynamics import LFADS
    from sklearn_mini.evaluation._score import ReconstructionScoreMixin
    from sklearn_mini.stability import StableFeatures

    for cls in (SpikeSAE, MatryoshkaSAE, PCA, NMF, DictionaryLearning, StableFeatures,
                CEBRAEmbedding, SliceTCA, LFADS, GPFA):
        assert cls.score is ReconstructionScoreMixin.score, cls.__name__


def test_bits_per_spike_by_hand():
    # Null rates are each unit's mean count: (1 + 3) / 2 = 2 and (0 + 2) / 2 = 1.
    # Per entry y log(rate / null) - (rate - null):
    #   1 log(1/2) + 1 = 0.306853,  0 + 0.5 = 0.5,
    #   3 log(3/2) - 1 = 0.216395,  2 log(1.5) - 0.5 = 0.310930;  sum 1.334178
    # over 6 spikes times log 2 (4.158883): 0.320802.
    counts = np.array([[1, 0], [3, 2]])
    rates = np.array([[1.0, 0.5], [3.0, 1.5]])
    assert bits_per_spike(counts, rates) == pytest.approx(0.320802, abs=1e-6)
    # The mean-rate model itself scores 0, and a given null replaces the mean.
    assert bits_per_spike(counts, np.array([[2.0, 1.0], [2.0, 1.0]])) == pytest.approx(0)
    # Against nulls 1 and 0.5: 0 + 0 + (3 log 3 - 2) + (2 log 3 - 1) = 2.493061; / 4.158883
    assert bits_per_spike(counts, rates, null_rates=[1.0, 0.5]) == pytest.approx(
        0.599455, abs=1e-6)


@pytest.mark.parametrize("counts, rates, message", [
    ([[1, 0]], [[0.0, 1.0]], "positive wherever counts has a spike"),
    ([[-1, 0]], [[1.0, 1.0]], "non-negative spike counts"),
    ([[0, 0]], [[1.0, 1.0]], "no spike"),
])
def test_bits_per_spike_refuses_what_it_cannot_score(counts, rates, message):
    with pytest.raises(ValueError, match=message):
        bits_per_spike(np.array(counts), np.array(rates))
