"""Sparsifiers: map encoder pre-activations to sparse, non-negative codes.

Each sparsifier has a training-time rule (``train_codes``) and an inference rule
(``infer_codes``). Inference must be row-wise, so that the code of one sample never
depends on the other samples passed in the same call.
"""

from typing import NamedTuple

import torch

from . import penalties


class Selection(NamedTuple):
    """Entries of a batch's pre-activations kept by a sparsifier, grouped by sample.

    ``rows`` and ``cols`` index the kept entries (sample, latent); sample ``i``'s
    entries are ``[offsets[i], offsets[i + 1])``, the bags of a gather-sum decode.
    """

    rows: torch.Tensor
    cols: torch.Tensor
    offsets: torch.Tensor


def row_selection(cols):
    """:class:`Selection` of ``cols[i]`` (an ``(n, k)`` index tensor) in every row ``i``."""
    n, k = cols.shape
    rows = torch.arange(n, device=cols.device).repeat_interleave(k)
    return Selection(rows, cols.flatten(), torch.arange(0, n * k, k, device=cols.device))


def row_topk(pre, k):
    """Every row's ``min(k, width)`` largest entries, ``(values, indices)``, unsorted.

    ``k = 1`` is a row maximum: torch's CPU top-k takes about five times as long for it
    at 40 columns (``benchmarks/bench_kernels.py --only top1``).
    """
    k = min(k, pre.shape[-1])
    if k == 1:
        return pre.max(dim=-1, keepdim=True)
    return pre.topk(k, dim=-1, sorted=False)


def masked_row_selection(cols, keep):
    """:class:`Selection` of ``cols[i, j]`` where ``keep[i, j]`` (rows may hold fewer)."""
    if bool(keep.all()):
        return row_selection(cols)
    rows, slots = keep.nonzero(as_tuple=True)
    counts = keep.sum(-1)
    return Selection(rows, cols[rows, slots], counts.cumsum(0) - counts)


# The training batch top-k first keeps each row's ROW_CANDIDATES_PER_K * k largest
# entries (a cheap row-wise selection) and selects among those.
ROW_CANDIDATES_PER_K = 8


def batch_top_indices(pre, n_keep):
    """Flat indices of the ``n_keep`` largest entries of ``pre`` (samples x latents), exact.

    On the CPU a full selection over ``n x d`` values costs as much as the encoder's
    matrix product, so each row's ``m = 8 n_keep / n`` largest entries are selected first
    and the batch's top is taken among them. That is exact unless some row had all ``m``
    of its candidates kept (it may hold more of the top values). Then the candidates'
    ``n_keep``-th value is a lower bound of the true threshold: the entries at or above
    it (the candidates plus the saturated rows' extra ones) hold the true top, which is
    selected among them. CUDA, whose full selection is fast and whose host reads would
    stall the stream, selects directly.
    """
    n, d = pre.shape
    m = ROW_CANDIDATES_PER_K * -(-n_keep // n)
    if pre.is_cuda or m >= d:
        return pre.flatten().topk(n_keep, sorted=False).indices
    cand_values, cand_cols = pre.topk(m, dim=-1, sorted=False)
    top_values, kept = cand_values.flatten().topk(n_keep, sorted=False)
    rows = torch.div(kept, m, rounding_mode="floor")
    if not bool((torch.bincount(rows, minlength=n) == m).any()):
        return rows * d + cand_cols.flatten()[kept]
    flat = pre.flatten()
    above = torch.nonzero(flat >= top_values.min()).squeeze(1)
    return above[flat[above].topk(n_keep, sorted=False).indices]


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
    supports_sparse = False  # offers select() for the sparse training path
    unit_norm_decoder = True  # atoms kept at unit norm (radial gradient removed)
    encoder = "linear"  # which encoder the module needs: 'linear', 'jumprelu', 'gated'

    def train_codes(self, pre, k, module):
        raise NotImplementedError

    def infer_codes(self, pre, k, threshold, module):
        return self.train_codes(pre, k, module)

    def ranking(self, pre):
        """Samples x latents scores for the dead-latent auxiliary loss."""
        return pre

    def select_levels(self, pre, levels):
        """One :class:`Selection` per nested level (``select`` on each level's prefix)."""
        return [self.select(pre[:, : level.d], level.k) for level in levels]

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

    def select(self, pre, k):
        """The kept entries as a :class:`Selection`: each sample's ``k`` largest latents.

        Zeros from the ReLU stay selected and add nothing (their value is ReLU'd later).
        """
        return row_selection(row_topk(pre, k).indices)

    def select_levels(self, pre, levels):
        """Every nested level's selection from one top-k of the whole dictionary.

        With ``C`` a sample's ``k`` largest entries over all latents, a level's top
        ``k_l`` over its prefix lies inside ``C`` wherever ``C`` holds at least ``k_l``
        prefix entries (everything outside ``C`` is smaller); and where ``C`` reaches
        down to a non-positive value, every positive entry is in ``C``, and the rest of
        the prefix would decode to zero with no gradient (its ReLU'd value), so it is
        left out. Other samples get their own top-k. The result decodes exactly as
        :meth:`select` on every prefix, at the cost of one full top-k; on the CPU only,
        as it needs the count of the samples that fall back.
        """
        last = levels[-1]
        if len(levels) == 1 or pre.device.type != "cpu" or last.d != pre.shape[-1]:
            return super().select_levels(pre, levels)
        values, index = row_topk(pre, last.k)
        reaches_zero = values.min(dim=-1).values <= 0
        selections = []
        for level in levels[:-1]:
            k = min(level.k, level.d)
            if k > values.shape[-1]:
                selections.append(self.select(pre[:, : level.d], k))
                continue
            in_prefix = index < level.d
            level_values, slots = row_topk(values.masked_fill(~in_prefix, float("-inf")), k)
            cols = index.gather(-1, slots)
            fallback = (~reaches_zero & (in_prefix.sum(-1) < k)).nonzero().squeeze(1)
            if len(fallback):
                cols[fallback] = row_topk(pre[fallback, : level.d], k).indices
                level_values[fallback] = 0.0
            selections.append(masked_row_selection(cols, torch.isfinite(level_values)))
        selections.append(row_selection(index))
        return selections

    def train_codes(self, pre, k, module=None):
        values, index = row_topk(pre, k)
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

    def select(self, pre, k):
        """The batch's ``k * n`` largest entries as a :class:`Selection`, grouped by sample.

        Each sample's entries form one bag starting at ``offsets[sample]`` (an empty bag
        decodes to 0). Ranking raw pre-activations instead of ReLU'd ones only changes
        which non-positive entries fill a batch with fewer than ``k * n`` positive
        values; those are ReLU'd to 0 either way.
        """
        n, d = pre.shape
        flat_index = batch_top_indices(pre, min(k * n, n * d))
        rows = torch.div(flat_index, d, rounding_mode="floor")
        order = torch.argsort(rows)
        counts = torch.bincount(rows, minlength=n)
        return Selection(rows[order], (flat_index % d)[order], torch.cumsum(counts, 0) - counts)

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


def _top_dead(pre, dead, k_aux):
    """``(values, index)`` of every sample's ``k_aux`` largest pre-activations among the
    ``dead`` latents; live ones are masked to ``-inf`` and fill in only when fewer than
    ``k_aux`` latents are dead (no host synchronisation needed to know how many)."""
    masked = pre.masked_fill(~dead, float("-inf"))
    return row_topk(masked, k_aux)


def dead_latent_selection(pre, dead, k_aux):
    """The top ``k_aux`` dead latents of every sample: ``(Selection, is_dead)``.

    The sparse form of :func:`dead_latent_mask`. When fewer than ``k_aux`` latents are
    dead, live ones fill the selection; ``is_dead`` (a float mask per entry) zeroes them.
    """
    selection = row_selection(_top_dead(pre, dead, k_aux).indices)
    return selection, dead[selection.cols].to(pre.dtype)


def dead_columns(dead):
    """The latents whose pre-activations the dense aux loss decodes.

    The dead ones on the CPU, where listing them is free. On an accelerator listing
    them would stop the host until the device catches up, so every latent is taken and
    :func:`dead_latent_mask` masks the live ones out (``None``).
    """
    return dead.nonzero().squeeze(1) if dead.device.type == "cpu" else None


def dead_latent_mask(pre, dead, k_aux):
    """1 at every sample's ``k_aux`` largest dead pre-activations, 0 elsewhere.

    ``pre`` holds every latent's pre-activations and ``dead`` their mask (live latents
    masked out), or ``dead`` is None and ``pre`` holds the dead latents' columns only
    (from :func:`dead_columns`). With at most ``k_aux`` dead latents every one of them is
    selected in every sample.
    """
    pre = pre.detach()
    if dead is not None:
        values, index = _top_dead(pre, dead, k_aux)
        return _scatter_like(pre, -1, index, torch.isfinite(values).to(pre.dtype))
    if pre.shape[1] <= k_aux:
        return torch.ones_like(pre)
    index = row_topk(pre, k_aux).indices
    return _scatter_like(pre, -1, index, torch.ones_like(index, dtype=pre.dtype))


class ThresholdCalibrator:
    """Exact streaming BatchTopK calibration: threshold and per-latent firing counts.

    Blocks of pre-activations (samples x latents) are streamed once. Only entries that
    can still be among the ``n_keep + 1`` largest positive values are kept, with their
    latent index: positive ones at first, then those at or above a floor, the
    ``(n_keep + 1)``-th largest value kept so far (more data can only raise the final
    one). The kept set is pruned back to that size whenever it doubles, so the work is
    a comparison and a gather per value plus amortised linear-time selections, and the
    memory about ``2 (n_keep + 1)`` values and indices.
    """

    def __init__(self, n_keep, n_latents):
        self.n_keep = int(n_keep)
        self.n_latents = int(n_latents)
        self.floor = None  # None: keep positive values; else values >= floor
        self.values, self.latents, self.size = [], [], 0

    def update(self, pre):
        """Add one block (samples x latents, possibly a column-prefix view)."""
        mask = pre > 0 if self.floor is None else pre >= self.floor
        values = pre[mask]
        if values.numel() > 2 * (self.n_keep + 1):
            # One block alone holds more than enough: raise the floor from it first, so
            # the indices below are formed for about n_keep entries, not all of them.
            self.floor = torch.kthvalue(values, values.numel() - self.n_keep).values
            mask = pre >= self.floor
            values = pre[mask]
        self.values.append(values)
        self.latents.append(mask.nonzero()[:, 1].to(torch.int32))
        self.size += values.numel()
        if self.size > 2 * (self.n_keep + 1):
            self._prune()

    def _prune(self):
        values, latents = torch.cat(self.values), torch.cat(self.latents)
        if values.numel() > self.n_keep + 1:
            # (n_keep + 1)-th largest = (N - n_keep)-th smallest; ties at it are all kept.
            cut = torch.kthvalue(values, values.numel() - self.n_keep).values
            keep = values >= cut
            values, latents = values[keep], latents[keep]
            self.floor = cut
        self.values, self.latents, self.size = [values], [latents], values.numel()

    def result(self):
        """``(threshold, counts)``: the midpoint between the ``n_keep``-th and
        ``(n_keep + 1)``-th largest positive values seen (0 when there are at most
        ``n_keep``, and then every positive value counts), and per latent the number of
        values above it, i.e. how often each latent fires at inference."""
        self._prune()
        values, latents = self.values[0], self.latents[0]
        n = values.numel()
        if n <= self.n_keep:
            threshold = 0.0
        else:
            upper = torch.kthvalue(values, n - self.n_keep + 1).values.double()
            lower = torch.kthvalue(values, n - self.n_keep).values.double()
            threshold = float((upper + lower) / 2)
        fires = latents[values > threshold]
        return threshold, torch.bincount(fires.long(), minlength=self.n_latents)


def batchtopk_threshold(pre_batches, k, n_samples):
    """Calibrated BatchTopK inference threshold (see :class:`ThresholdCalibrator`).

    ``pre_batches`` is a callable returning an iterator over pre-activation blocks. The
    threshold is chosen so that exactly ``k * n_samples`` pre-activations exceed it,
    i.e. the mean inference L0 over those samples equals ``k`` (up to ties).
    """
    calibrator = None
    for pre in pre_batches():
        calibrator = calibrator or ThresholdCalibrator(k * n_samples, pre.shape[-1])
        calibrator.update(pre)
    return 0.0 if calibrator is None else calibrator.result()[0]
