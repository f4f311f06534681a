"""Sparsity penalties and the JumpReLU straight-through estimators, each written once."""

import torch

L1_PENALTIES = ("standard", "decoder_norm", "tanh")


def l1_penalty(codes, atom_norms, kind="standard", tanh_A=1.0, tanh_B=1.0):
    """Per-sample L1-type penalty, averaged over samples.

    ``'standard'``: ``sum_j |z_j|`` (the decoder is kept at unit norm, so the atom norms
    are 1 and are not used). ``'decoder_norm'``: ``sum_j |z_j| ||d_j||`` (Anthropic's
    April 2024 update: the decoder is left unconstrained and the penalty cannot be dodged
    by shrinking codes and growing atoms). ``'tanh'``: ``sum_j (A/B) tanh(B |z_j| ||d_j||)``,
    a per-latent saturating penalty (Anthropic, February 2024) that stops penalising
    large activations once they are on.
    """
    magnitude = codes.abs()
    if kind == "standard":
        return magnitude.sum(-1).mean()
    scaled = magnitude * atom_norms[: codes.shape[-1]].to(codes.dtype)
    if kind == "decoder_norm":
        return scaled.sum(-1).mean()
    if kind == "tanh":
        return (tanh_A / tanh_B * torch.tanh(tanh_B * scaled)).sum(-1).mean()
    raise ValueError(f"Unknown l1_penalty {kind!r}; expected one of {L1_PENALTIES}.")


def rectangle(u):
    """Rectangle kernel ``K(u) = 1 for |u| < 1/2, else 0`` (unit integral)."""
    return (u.abs() < 0.5).to(u.dtype)


def _sum_to(grad, shape):
    """Sum a broadcast gradient back to a parameter's ``shape`` (per-latent theta)."""
    return grad.reshape(-1, *shape).sum(0)


class JumpReLUFunction(torch.autograd.Function):
    """``z = pre * H(pre - theta)`` with the pseudo-derivative of Rajamanoharan et al. 2024.

    Gradients: ``dz/dpre = H(pre - theta)`` (exact away from the jump) and
    ``dz/dtheta = -(theta / eps) K((pre - theta) / eps)`` with the rectangle kernel ``K``
    of width ``eps`` (their eq. 11): the jump of height ``theta`` smoothed over a window
    of width ``eps``.
    """

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = grad_out * (pre > theta).to(pre.dtype)
        grad_theta = -(theta / eps) * rectangle((pre - theta) / eps) * grad_out
        return grad_pre, _sum_to(grad_theta, theta.shape), None


class StepFunction(torch.autograd.Function):
    """``H(pre - theta)`` with ``dH/dtheta = -(1/eps) K((pre - theta) / eps)``.

    No gradient reaches ``pre`` (as in the paper): the L0 penalty trains the thresholds,
    and the encoder learns through the reconstruction only.
    """

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_theta = -(1.0 / eps) * rectangle((pre - theta) / eps) * grad_out
        return torch.zeros_like(pre), _sum_to(grad_theta, theta.shape), None


def jumprelu(pre, theta, bandwidth):
    """JumpReLU codes of ``pre`` (samples x latents) with per-latent thresholds ``theta``."""
    return JumpReLUFunction.apply(pre, theta, bandwidth)


def l0_penalty(pre, theta, bandwidth):
    """``mean_samples(sum_j H(pre_j - theta_j))``: the L0 norm, trainable through theta."""
    return StepFunction.apply(pre, theta, bandwidth).sum(-1).mean()
