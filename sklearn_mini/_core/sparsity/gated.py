"""``sparsity='gated'``: a gate path switches latents on, a magnitude path sizes them."""

import torch

from .. import penalties
from .base import Sparsifier, register
from .relu import ReLUL1


@register
class Gated(Sparsifier):
    """Gated SAE (Rajamanoharan et al. 2024): a gate decides which latents are on, a
    magnitude path (same directions, rescaled) how much.

    ``z = H(gate) * ReLU(mag)``. The gate gets no gradient through the reconstruction;
    it learns from the L1 penalty ``l1_coef * sum_j ReLU(gate_j) ||d_j||`` and from the
    auxiliary loss: the reconstruction of ``x`` from ``ReLU(gate)`` through a frozen copy
    of the decoder (the reconstruction loss of the estimator, decoder not updated).
    """

    name = "gated"
    encoder = "gated"
    params = {"l1_coef": ReLUL1.params["l1_coef"]}  # the estimators' one l1_coef

    def __init__(self, l1_coef=1e-3):
        self.l1_coef = l1_coef

    @staticmethod
    def encoder_tensors(d_sae, dtype, theta_init=None):
        # The magnitude path's per-latent log-scale and bias (the gate uses W_enc, b_enc).
        return {"r_mag": torch.zeros(d_sae, dtype=dtype), "b_mag": torch.zeros(d_sae, dtype=dtype)}

    @staticmethod
    def encode(module, x, w, b, d):
        """Samples x latents x 2 (gate, magnitude). Both paths share one product:
        ``(x - b_dec) @ W_enc`` scaled per latent by ``exp(r_mag)`` is the magnitude
        path's ``(x - b_dec) @ (W_enc * exp(r_mag))``."""
        b_enc = module.b_enc[:d].to(x.dtype)
        projection = torch.addmm(b - b_enc, x, w)  # the offset folded in, without b_enc
        gate = projection + b_enc
        mag = projection * module.r_mag[:d].to(x.dtype).exp() + module.b_mag[:d].to(x.dtype)
        return torch.stack([gate, mag], dim=-1)

    def train_codes(self, pre, k, module):
        gate, mag = pre[..., 0], pre[..., 1]
        return torch.where(gate > 0, mag.relu(), mag.new_zeros(()))

    def ranking(self, pre):
        return pre[..., 0]

    def penalty(self, batch):
        gate = batch.pre[..., 0].relu()
        sparsity = penalties.l1_penalty(gate, batch.module.atom_norms(), "decoder_norm")
        x_gate = batch.module.decode(gate, frozen=True)
        return (self.l1_coef * batch.scale) * sparsity + batch.reconstruction_loss(x_gate, batch.x)
