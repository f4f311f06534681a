"""The sparse autoencoder module: linear encoder, sparse codes, unit-norm linear decoder."""

import torch
from torch import nn


class SAEModule(nn.Module):
    """Encoder ``x -> (x - b_dec) @ W_enc + b_enc`` and decoder ``z -> z @ W_dec + b_dec``.

    Parameters
    ----------
    n_features, d_sae : int
        Input width and dictionary size.
    subtract_decoder_bias : bool
        Subtract ``b_dec`` from the input before encoding (centres the data on the
        reconstruction's offset, Bricken et al. 2023).
    output_relu : bool
        Apply a ReLU to reconstructions (spike counts are non-negative).
    generator : torch.Generator
        The estimator's private generator (CPU), used for the initial weights.
    dtype : torch.dtype
    """

    def __init__(self, n_features, d_sae, *, subtract_decoder_bias, output_relu,
                 generator, dtype=torch.float32, n_levels=1):
        super().__init__()
        self.n_features = n_features
        self.d_sae = d_sae
        self.subtract_decoder_bias = bool(subtract_decoder_bias)
        self.output_relu = bool(output_relu)
        # Random unit-norm atoms; the encoder starts as the decoder's transpose
        # ("tied initialisation", Gao et al. 2024), which greatly reduces dead latents.
        w_dec = torch.randn(d_sae, n_features, generator=generator, dtype=torch.float64)
        w_dec /= w_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.W_dec = nn.Parameter(w_dec.to(dtype))
        self.W_enc = nn.Parameter(w_dec.T.clone().to(dtype))
        self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        self.b_dec = nn.Parameter(torch.zeros(n_features, dtype=dtype))
        # One calibrated inference threshold per level (BatchTopK); 0 otherwise.
        self.register_buffer("thresholds", torch.zeros(n_levels, dtype=torch.float64))

    def config(self):
        """Constructor arguments that rebuild this module's shapes and flags."""
        return {
            "n_features": self.n_features,
            "d_sae": self.d_sae,
            "subtract_decoder_bias": self.subtract_decoder_bias,
            "output_relu": self.output_relu,
            "n_levels": int(self.thresholds.numel()),
        }

    # Both maps compute in the dtype of their input (a no-op cast for the usual case of
    # input in the parameters' dtype), so float64 checks can run on a float32 model.
    def pre_activations(self, x, d=None):
        """Encoder pre-activations of latents ``[0, d)`` (all latents when ``d`` is None)."""
        w, b = (self.W_enc, self.b_enc) if d is None else (self.W_enc[:, :d], self.b_enc[:d])
        if self.subtract_decoder_bias:
            x = x - self.b_dec.to(x.dtype)
        return torch.addmm(b.to(x.dtype), x, w.to(x.dtype))

    def block_decoder_bias_grad(self, pre):
        """``pre`` with the same values but no gradient path to ``b_dec``.

        With ``subtract_decoder_bias`` the pre-activations depend on ``b_dec`` through
        ``(x - b_dec) @ W_enc``. Adding ``(b_dec - b_dec.detach()) @ W_enc`` (zero in
        value) cancels that path, so a loss on the result (the dead-latent aux loss)
        cannot move the shared decoder bias, at the cost of one vector-matrix product.
        """
        if not self.subtract_decoder_bias:
            return pre
        shift = (self.b_dec - self.b_dec.detach()).to(pre.dtype)
        return pre + shift @ self.W_enc[:, : pre.shape[-1]].to(pre.dtype)

    def decode(self, codes, with_bias=True):
        """Reconstruction from codes of the first ``codes.shape[1]`` latents."""
        w = self.W_dec[: codes.shape[-1]].to(codes.dtype)
        if not with_bias:
            return codes @ w
        out = torch.addmm(self.b_dec.to(codes.dtype), codes, w)
        return out.relu() if self.output_relu else out

    @torch.no_grad()
    def init_decoder_bias(self, value):
        """Set ``b_dec`` from the data (mean or geometric median)."""
        self.b_dec.copy_(torch.as_tensor(value, dtype=self.b_dec.dtype))

    @torch.no_grad()
    def remove_radial_decoder_grad(self):
        """Project out the gradient component parallel to each (unit-norm) atom.

        Moving along an atom only changes its norm, which the renormalisation after the
        step undoes; removing that component keeps Adam's moment estimates honest.
        """
        if self.W_dec.grad is None:
            return
        w, g = self.W_dec, self.W_dec.grad
        g.sub_((g * w).sum(dim=1, keepdim=True) * w)

    @torch.no_grad()
    def normalize_decoder(self):
        """Rescale every decoder atom to unit L2 norm."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
