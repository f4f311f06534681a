"""The kernels every sparsifier selects with: kept entries as bags, row and batch top-k.

Kept separate from the variants because the sparse training path, the aux loss and
the threshold calibration use them too, and because they are where the time goes.
"""

from typing import NamedTuple

import torch


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


def scatter_like(pre, dim, index, values):
    """Zeros shaped like ``pre`` with ``values`` placed at ``index`` along ``dim``."""
    return torch.zeros_like(pre).scatter(dim, index, values)
