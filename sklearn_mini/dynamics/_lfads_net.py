"""The LFADS network (Pandarinath et al. 2018), written from the paper.

A window of binned counts is read by a bidirectional GRU; its final states give a
Gaussian posterior over the initial condition ``g0`` of a GRU *generator* that runs with
no input (or, with a controller, with inferred inputs ``u_t``). A linear map of the
generator state gives low-dimensional *factors*, and a linear readout of the factors the
units' Poisson log-rates. The optional controller is a GRU that reads a second
bidirectional encoding of the window and the previous factors, and outputs a Gaussian
posterior over ``u_t``. Both posteriors pay a KL divergence to a zero-mean Gaussian prior
(the paper's inferred-input prior is autoregressive; a white one is used here).

Randomness (dropout, posterior samples) comes from a ``torch.Generator`` passed in, never
from torch's global one.
"""

import torch
from torch import nn

# Posterior variances are at least this (the paper's floor keeps log-variances finite).
POSTERIOR_VAR_MIN = 1e-4
# Log-rates are clipped here before exp: a rate of e^20 counts a bin is already absurd.
LOG_RATE_MAX = 20.0


def dropout(x, p, generator, training):
    """Inverted dropout with masks drawn from ``generator`` (not torch's global RNG)."""
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1.0 - p)


def gaussian_kl(mean, var, prior_var):
    """KL(N(mean, var) || N(0, prior_var)) summed over the last axis."""
    ratio = var / prior_var
    return 0.5 * (ratio + mean.pow(2) / prior_var - 1.0 - torch.log(ratio)).sum(-1)


class _Posterior(nn.Module):
    """A linear map to the mean and variance of a diagonal Gaussian."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.linear = nn.Linear(n_in, 2 * n_out)

    def forward(self, h, generator, sample):
        mean, log_var = self.linear(h).chunk(2, dim=-1)
        var = log_var.exp() + POSTERIOR_VAR_MIN
        if not sample:
            return mean, mean, var
        noise = torch.randn(mean.shape, generator=generator, device=mean.device,
                            dtype=mean.dtype)
        return mean + var.sqrt() * noise, mean, var


class LFADSNet(nn.Module):
    """Encoder, optional controller, generator, factors and Poisson readout.

    ``forward(x, generator, sample)`` takes windows ``(batch, time, units)`` and returns
    ``(log_rates, factors, kl)`` with ``kl`` the per-window sum of both KL terms, each
    already multiplied by its scale.
    """

    def __init__(self, n_units, *, enc_dim, ic_dim, gen_dim, fac_dim, con_dim, co_dim,
                 ci_enc_dim, dropout_rate, ic_prior_var, co_prior_var, kl_ic_scale,
                 kl_co_scale):
        super().__init__()
        self.dropout_rate = dropout_rate
        self.ic_prior_var, self.co_prior_var = ic_prior_var, co_prior_var
        self.kl_ic_scale, self.kl_co_scale = kl_ic_scale, kl_co_scale
        self.co_dim = co_dim
        self.ic_encoder = nn.GRU(n_units, enc_dim, batch_first=True, bidirectional=True)
        self.ic_posterior = _Posterior(2 * enc_dim, ic_dim)
        self.ic_to_g0 = nn.Linear(ic_dim, gen_dim)
        if co_dim:
            self.ci_encoder = nn.GRU(n_units, ci_enc_dim, batch_first=True,
                                     bidirectional=True)
            self.controller = nn.GRUCell(2 * ci_enc_dim + fac_dim, con_dim)
            self.co_posterior = _Posterior(con_dim, co_dim)
        # Without a controller the generator's input is a constant zero of width 1, so
        # that the fused sequence GRU runs it; the controller's steps reuse its weights.
        self.generator = nn.GRU(max(co_dim, 1), gen_dim, batch_first=True)
        self.to_factors = nn.Linear(gen_dim, fac_dim, bias=False)
        self.readout = nn.Linear(fac_dim, n_units)

    def forward(self, x, generator, sample):
        drop = lambda t: dropout(t, self.dropout_rate, generator, self.training)  # noqa: E731
        x_in = drop(x)
        _, h_n = self.ic_encoder(x_in)
        ic, ic_mean, ic_var = self.ic_posterior(drop(torch.cat([h_n[0], h_n[1]], dim=-1)),
                                                generator, sample)
        kl = self.kl_ic_scale * gaussian_kl(ic_mean, ic_var, self.ic_prior_var)
        g0 = self.ic_to_g0(ic)
        if self.co_dim:
            states, kl_co = self._run_with_controller(x_in, g0, drop, generator, sample)
            kl = kl + self.kl_co_scale * kl_co
        else:
            zeros = x.new_zeros(x.shape[0], x.shape[1], 1)
            states, _ = self.generator(zeros, g0.unsqueeze(0).contiguous())
        factors = self.to_factors(drop(states))
        return self.readout(factors).clamp(max=LOG_RATE_MAX), factors, kl

    def _run_with_controller(self, x_in, g, drop, generator, sample):
        """Step the controller and the generator together; ``u_t`` feeds the generator."""
        encoded, _ = self.ci_encoder(x_in)
        encoded = drop(encoded)
        gru = self.generator
        weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
        c = g.new_zeros(g.shape[0], self.controller.hidden_size)
        f = self.to_factors(g)
        states, kl = [], g.new_zeros(g.shape[0])
        for t in range(x_in.shape[1]):
            c = self.controller(torch.cat([encoded[:, t], f], dim=-1), c)
            u, u_mean, u_var = self.co_posterior(c, generator, sample)
            kl = kl + gaussian_kl(u_mean, u_var, self.co_prior_var)
            g = torch.gru_cell(u, g, *weights)
            f = self.to_factors(drop(g))
            states.append(g)
        return torch.stack(states, dim=1), kl
