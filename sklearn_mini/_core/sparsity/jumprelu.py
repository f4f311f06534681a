"""``sparsity='jumprelu'``: a trained threshold per latent and an L0 penalty."""

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval

from .. import penalties
from .base import Sparsifier, register

# Initial threshold: 0 lets every positive pre-activation through at first, like a
# ReLU; the L0 penalty then raises each latent's threshold.
THETA_INIT = 0.0


@register
class JumpReLU(Sparsifier):
    """``z = pre * H(pre - theta)`` with a trained threshold per latent and an L0 penalty.

    The thresholds ``theta`` are stored directly (not as log theta) in the module and
    trained through straight-through pseudo-derivatives with a rectangle kernel of width
    ``bandwidth`` (:mod:`.penalties`); the penalty is ``l0_coef * mean(L0)``.
    """

    name = "jumprelu"
    encoder = "jumprelu"
    params = {
        "l0_coef": (1e-4, [Interval(Real, 0, None, closed="left")]),
        "bandwidth": (0.05, [Interval(Real, 0, None, closed="neither")]),
    }
    fitted_attributes = ("theta_",)

    def __init__(self, l0_coef=1e-4, bandwidth=0.05):
        self.l0_coef = l0_coef
        self.bandwidth = bandwidth

    @staticmethod
    def encoder_tensors(d_sae, dtype, theta_init=None):
        theta_init = THETA_INIT if theta_init is None else theta_init
        return {"theta": torch.full((d_sae,), float(theta_init), dtype=dtype)}

    @staticmethod
    def project(module):
        # Non-negative thresholds keep the codes non-negative.
        module.theta.clamp_(min=0.0)

    def fitted(self, module):
        return {"theta_": module.theta.detach().cpu().numpy().copy()}

    def train_codes(self, pre, k, module):
        return penalties.jumprelu(pre, module.theta[: pre.shape[-1]].to(pre.dtype), self.bandwidth)

    def infer_codes(self, pre, k, threshold, module):
        theta = module.theta[: pre.shape[-1]].to(pre.dtype)
        return torch.where(pre > theta, pre, torch.zeros((), dtype=pre.dtype, device=pre.device))

    def penalty(self, batch):
        theta = batch.module.theta.to(batch.pre.dtype)
        value = penalties.l0_penalty(batch.pre, theta, self.bandwidth)
        return (self.l0_coef * batch.scale) * value
