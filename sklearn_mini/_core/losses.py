"""Reconstruction and auxiliary losses, each written once.

All losses average over every element of the batch (samples x features), so their
scale does not depend on the batch size or the number of units.
"""

import torch

# Predictions are clamped to at least this value before log1p so that a prediction at
# or below -1 never produces NaN or -inf (log1p(-1) = -inf).
MSLE_FLOOR = -1.0 + 1e-6


def mse_elements(x_hat, x):
    """Squared error of every element, ``(x_hat - x)**2``."""
    return (x_hat - x).pow(2)


def msle_elements(x_hat, x, tau=1.0):
    """Squared log error of every element, with the seed's ``tau`` scaling.

    ``(tau * log1p(x_hat) - log1p(x))**2``, with ``x_hat`` clamped to ``MSLE_FLOOR``
    first (the gradient is zero below the floor, never NaN).
    """
    log_hat = torch.log1p(x_hat.clamp_min(MSLE_FLOOR))
    return (tau * log_hat - torch.log1p(x)).pow(2)


def msle_asym_elements(x_hat, x, tau=1.0):
    """Asymmetric squared log error of every element: under-estimates weigh ``tau``.

    With ``d = log1p(x_hat) - log1p(x)`` (``x_hat`` clamped to ``MSLE_FLOOR``):
    ``w * d**2`` with ``w = tau`` where ``d < 0`` and ``w = 1`` elsewhere. ``tau > 1``
    penalises missing spikes more than extra ones (the seed notes' asymmetric penalty).
    """
    d = torch.log1p(x_hat.clamp_min(MSLE_FLOOR)) - torch.log1p(x)
    weight = torch.where(d < 0, torch.as_tensor(tau, dtype=d.dtype, device=d.device), 1.0)
    return weight * d.pow(2)


def poisson_elements(rate, x, eps=1e-8):
    """Poisson KL divergence of every element between counts ``x`` and rates ``rate``.

    ``rate - x + x * (log(x + eps) - log(rate + eps))``: the generalised
    Kullback-Leibler (I-)divergence, half the Poisson deviance, zero exactly when
    ``rate == x``. ``x * log(.)`` is 0 where ``x == 0`` (``xlogy``), and ``eps`` keeps
    the log finite for a zero predicted rate. ``rate`` must be non-negative (the
    model's softplus output guarantees it).
    """
    return rate - x + torch.xlogy(x, x + eps) - torch.xlogy(x, rate + eps)


def mse(x_hat, x):
    """Mean squared error, ``mean((x_hat - x)**2)``."""
    return mse_elements(x_hat, x).mean()


def msle(x_hat, x, tau=1.0):
    """Mean squared log error, the mean of :func:`msle_elements`."""
    return msle_elements(x_hat, x, tau).mean()


def msle_asym(x_hat, x, tau=1.0):
    """Mean asymmetric squared log error, the mean of :func:`msle_asym_elements`."""
    return msle_asym_elements(x_hat, x, tau).mean()


def poisson(rate, x, eps=1e-8):
    """Mean Poisson KL divergence, the mean of :func:`poisson_elements`."""
    return poisson_elements(rate, x, eps).mean()


LOSSES = ("msle", "mse", "poisson", "msle_asym")


def element_losses(name, x_hat, x, tau=1.0, eps=1e-8):
    """The elementwise terms of the reconstruction loss named by the estimator's ``loss``
    (samples x features); their mean is :func:`reconstruction_loss`."""
    if name == "mse":
        return mse_elements(x_hat, x)
    if name == "msle":
        return msle_elements(x_hat, x, tau)
    if name == "msle_asym":
        return msle_asym_elements(x_hat, x, tau)
    if name == "poisson":
        return poisson_elements(x_hat, x, eps)
    raise ValueError(f"Unknown loss {name!r}; expected one of {LOSSES}.")


def reconstruction_loss(name, x_hat, x, tau=1.0, eps=1e-8):
    """The reconstruction loss named by the estimator's ``loss``: the mean of its
    :func:`element_losses`."""
    return element_losses(name, x_hat, x, tau, eps).mean()


def aux_loss(residual, residual_hat):
    """Auxiliary dead-latent loss (Gao et al. 2024, eq. for L_aux).

    ``mean((residual - residual_hat)**2)`` where ``residual = x - x_hat`` is detached from
    the graph (the main reconstruction must not be pulled towards the dead latents) and
    ``residual_hat`` is the decoding of the top ``k_aux`` dead pre-activations *without*
    the decoder bias.
    """
    if residual.requires_grad:
        raise ValueError("aux_loss expects a detached residual.")
    return (residual - residual_hat).pow(2).mean()
