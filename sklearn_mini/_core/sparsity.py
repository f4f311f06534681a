"""Sparsifiers: map encoder pre-activations to sparse, non-negative codes.

Each sparsifier has a training-time rule (``train_codes``) and an inference rule
(``infer_codes``). Inference must be row-wise, so that the code of one sample never
depends on the other samples passed in the same call.
"""

import torch

from . import penalties


def _scatter_like(pre, dim, index, values):
    """Zeros shaped like ``pre`` with ``values`` placed at ``index`` along ``dim``."""
    return torch.zeros_like(pre).scatter(dim, index, values)


class Sparsifier:
    """Interface every sparsifier follows (the defaults suit a plain ranking rule).

    ``pre`` is what :meth:`~.model.SAEModule.pre_activations` returns: samples x latents
    (the gated encoder adds a trailing axis of size 2, gate and magnitude). Slicing
    ``pre[:, :d]`` gives a level's prefix for every sparsifier.
    """

    name = ""
    uses_threshold = False  # a calibrated inference threshold per level (BatchTopK)
    supports_sparse = False  # offers train_sparse() for the gather-sum decoder
    unit_norm_decoder = True  # atoms kept at unit norm (radial gradient removed)
    encoder = "linear"  # which encoder the module needs: 'linear', 'jumprelu', 'gated'

    def train_codes(self, pre, k, module):
        raise NotImplementedError

    def infer_codes(self, pre, k, threshold, module):
        return self.train_codes(pre, k, module)

    def ranking(self, pre):
        """Samples x latents scores for the dead-latent auxiliary loss."""
        return pre

    def penalty(self, batch):
        """Extra loss terms of one batch (:class:`SparsityInputs`), or ``None``."""
        return None


class SparsityInputs:
    """What a sparsifier's penalty may need from the current batch."""

    def __init__(self, x, pre, codes, module, reconstruction_loss, scale=1.0):
        self.x, self.pre, self.codes, self.module = x, pre, codes, module
        self.reconstruction_loss = reconstruction_loss
        self.scale = scale  # sparsity-coefficient warm-up factor in [0, 1]


class TopK(Sparsifier):
    """Keep the ``k`` largest pre-activations of every sample (after a ReLU)."""

    name = "topk"
    supports_sparse = True

    def train_sparse(self, pre, k):
        """The kept codes as ``(values, latent_index, offsets)`` for a gather-sum decode.

        ``values`` and ``latent_index`` are ``(n, k)`` (one bag of ``k`` per sample,
        ``offsets`` None); zeros from the ReLU stay in the bag and add nothing.
        """
        values, index = pre.topk(min(k, pre.shape[-1]), dim=-1, sorted=False)
        return values.relu(), index, None

    def train_codes(self, pre, k, module=None):
        values, index = pre.topk(min(k, pre.shape[-1]), dim=-1, sorted=False)
        return _scatter_like(pre, -1, index, values.relu())


class BatchTopK(Sparsifier):
    """Keep the ``k * batch_size`` largest pre-activations of the whole batch.

    Training lets busy samples use more latents than quiet ones (Bussmann et al. 2024).
    At inference a single threshold, calibrated after training so that the mean L0 on
    the training data equals ``k`` (:func:`batchtopk_threshold`), keeps every
    pre-activation above it, which makes inference row-wise.
    """

    name = "batchtopk"
    uses_threshold = True
    supports_sparse = True

    def train_sparse(self, pre, k):
        """The kept codes as flat ``(values, latent_index, offsets)``, grouped by sample.

        The batch's ``k * n`` largest values are sorted by sample so that each sample's
        codes form one bag starting at ``offsets[sample]`` (an empty bag decodes to 0).
        """
        n, d = pre.shape
        flat = pre.relu().flatten()
        values, flat_index = flat.topk(min(k * n, flat.numel()), sorted=False)
        rows = torch.div(flat_index, d, rounding_mode="floor")
        order = torch.argsort(rows)
        counts = torch.bincount(rows, minlength=n)
        offsets = torch.cumsum(counts, 0) - counts
        return values[order], (flat_index % d)[order], offsets

    def train_codes(self, pre, k, module=None):
        flat = pre.relu().flatten()
        n_keep = min(k * pre.shape[0], flat.numel())
        values, index = flat.topk(n_keep, sorted=False)
        return _scatter_like(flat, 0, index, values).view_as(pre)

    def infer_codes(self, pre, k, threshold, module=None):
        # threshold >= 0, so this is also a ReLU.
        return torch.where(pre > threshold, pre, torch.zeros((), dtype=pre.dtype, device=pre.device))


class ReLUL1(Sparsifier):
    """ReLU codes with an L1-type penalty of weight ``l1_coef`` (:func:`.penalties.l1_penalty`).

    ``'standard'`` keeps the atoms at unit norm, so the penalty cannot be dodged by
    shrinking codes and growing atoms; ``'decoder_norm'`` and ``'tanh'`` weigh each code
    by its atom's norm and leave the decoder unconstrained.
    """

    name = "relu"

    def __init__(self, l1_coef, l1_penalty="standard", tanh_A=1.0, tanh_B=1.0):
        self.l1_coef = l1_coef
        self.kind = l1_penalty
        self.tanh_A, self.tanh_B = tanh_A, tanh_B
        self.unit_norm_decoder = l1_penalty == "standard"

    def train_codes(self, pre, k=None, module=None):
        return pre.relu()

    def penalty(self, batch):
        norms = batch.module.atom_norms()
        value = penalties.l1_penalty(batch.codes, norms, self.kind, self.tanh_A, self.tanh_B)
        return (self.l1_coef * batch.scale) * value


class JumpReLU(Sparsifier):
    """``z = pre * H(pre - theta)`` with a trained threshold per latent and an L0 penalty.

    The thresholds ``theta`` are stored directly (not as log theta) in the module and
    trained through straight-through pseudo-derivatives with a rectangle kernel of width
    ``bandwidth`` (:mod:`.penalties`); the penalty is ``l0_coef * mean(L0)``.
    """

    name = "jumprelu"
    encoder = "jumprelu"

    def __init__(self, l0_coef, bandwidth):
        self.l0_coef = l0_coef
        self.bandwidth = bandwidth

    def train_codes(self, pre, k, module):
        return penalties.jumprelu(pre, module.theta[: pre.shape[-1]].to(pre.dtype), self.bandwidth)

    def infer_codes(self, pre, k, threshold, module):
        theta = module.theta[: pre.shape[-1]].to(pre.dtype)
        return torch.where(pre > theta, pre, torch.zeros((), dtype=pre.dtype, device=pre.device))

    def penalty(self, batch):
        theta = batch.module.theta.to(batch.pre.dtype)
        value = penalties.l0_penalty(batch.pre, theta, self.bandwidth)
        return (self.l0_coef * batch.scale) * value


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

    def __init__(self, l1_coef):
        self.l1_coef = l1_coef

    def train_codes(self, pre, k, module):
        gate, mag = pre[..., 0], pre[..., 1]
        return torch.where(gate > 0, mag.relu(), torch.zeros((), dtype=mag.dtype, device=mag.device))

    def ranking(self, pre):
        return pre[..., 0]

    def penalty(self, batch):
        gate = batch.pre[..., 0].relu()
        sparsity = penalties.l1_penalty(gate, batch.module.atom_norms(), "decoder_norm")
        x_gate = batch.module.decode(gate, frozen=True)
        return (self.l1_coef * batch.scale) * sparsity + batch.reconstruction_loss(x_gate, batch.x)


SPARSITIES = ("batchtopk", "topk", "relu", "jumprelu", "gated")


def make_sparsifier(name, l1_coef=1e-3, l1_penalty="standard", tanh_A=1.0, tanh_B=1.0,
                    l0_coef=1e-4, bandwidth=0.05):
    """Build the sparsifier named by the estimator's ``sparsity`` parameter."""
    if name == "topk":
        return TopK()
    if name == "batchtopk":
        return BatchTopK()
    if name == "relu":
        return ReLUL1(l1_coef, l1_penalty, tanh_A, tanh_B)
    if name == "jumprelu":
        return JumpReLU(l0_coef, bandwidth)
    if name == "gated":
        return Gated(l1_coef)
    raise ValueError(f"Unknown sparsity {name!r}; expected one of {SPARSITIES}.")


def dead_latent_selection(pre, dead, k_aux):
    """``(values, index)`` of the top ``k_aux`` dead pre-activations per sample (ReLU'd).

    The sparse form of :func:`dead_latent_codes`, for a gather-sum decode.
    """
    masked = pre.masked_fill(~dead, float("-inf"))
    values, index = masked.topk(min(k_aux, pre.shape[-1]), dim=-1, sorted=False)
    return values.relu(), index


def dead_latent_codes(pre, dead, k_aux):
    """Codes of the top ``k_aux`` *dead* pre-activations of every sample (after ReLU).

    Live latents are masked to ``-inf`` before the top-k, so they are never chosen (their
    ReLU'd value would be 0 and receives no gradient). No host synchronisation is needed
    even when fewer than ``k_aux`` latents are dead.
    """
    masked = pre.masked_fill(~dead, float("-inf"))
    values, index = masked.topk(min(k_aux, pre.shape[-1]), dim=-1, sorted=False)
    return _scatter_like(pre, -1, index, values.relu())


class TopValues:
    """Streaming exact selection of the ``n_keep + 1`` largest positive values seen.

    Only values that can still enter the top set are kept, so memory stays near
    ``n_keep`` whatever the number of values streamed.
    """

    def __init__(self, n_keep):
        self.n_keep = int(n_keep)
        self.values = None

    def update(self, values):
        values = values.flatten()
        values = values[values > 0]
        if self.values is not None:
            if self.values.numel() > self.n_keep:
                values = values[values >= self.values.min()]
            values = torch.cat([self.values, values])
        if values.numel() > self.n_keep + 1:
            values = values.topk(self.n_keep + 1, sorted=False).values
        self.values = values

    def largest(self):
        """The ``n_keep + 1`` largest values seen, in descending order (fewer if not seen)."""
        if self.values is None:
            return torch.zeros(0)
        return self.values.sort(descending=True).values

    def threshold(self):
        """Threshold with exactly ``n_keep`` of the seen positive values above it.

        The midpoint between the ``n_keep``-th and ``(n_keep + 1)``-th largest values;
        0 when fewer than ``n_keep + 1`` positive values were seen (then every positive
        pre-activation is kept and the mean L0 falls short of ``k``).
        """
        top = self.largest()
        if top.numel() <= self.n_keep:
            return 0.0
        return float((top[-2].double() + top[-1].double()) / 2)


# Calibration first keeps only each row's ``ROW_CANDIDATES_PER_K * k`` largest values: a
# cheap row-wise top-k instead of a selection over all n_samples x d_sae values.
ROW_CANDIDATES_PER_K = 8


def batchtopk_threshold(pre_batches, k, n_samples):
    """Calibrated BatchTopK inference threshold.

    ``pre_batches`` is a callable returning an iterator over pre-activation blocks (it
    is called a second time only in the rare fallback below). The threshold is chosen
    so that exactly ``k * n_samples`` pre-activations exceed it, i.e. the mean inference
    L0 over those samples equals ``k`` (up to ties).

    Exactness of the fast path: values dropped by the per-row pre-selection are at most
    the largest dropped row value; when that is below the ``(k n + 1)``-th largest
    candidate, the top ``k n + 1`` of all values are all candidates. Otherwise (a row
    with more than ``8 k`` latents above threshold) the full stream is selected exactly.
    """
    n_keep = k * n_samples
    top, largest_dropped = TopValues(n_keep), None
    for pre in pre_batches():
        cap = ROW_CANDIDATES_PER_K * k
        if pre.shape[-1] > cap:
            values = pre.topk(cap + 1, dim=-1).values  # sorted, descending
            dropped = values[:, -1].max()
            largest_dropped = dropped if largest_dropped is None else torch.maximum(largest_dropped, dropped)
            pre = values[:, :-1]
        top.update(pre)
    ranked = top.largest()
    if largest_dropped is None:
        need_full = False
    elif ranked.numel() > n_keep:
        need_full = not bool(largest_dropped < ranked[n_keep])
    else:  # fewer candidates than n_keep: exact only if nothing positive was dropped
        need_full = bool(largest_dropped > 0)
    if need_full:
        top = TopValues(n_keep)
        for pre in pre_batches():
            top.update(pre)
    return top.threshold()
