"""Exact time binning: the bin grid in exact rational arithmetic, and counts on it."""

import math
from fractions import Fraction

import numpy as np

# Integer numerators and denominators below this are exact in float64, so their
# quotient is the correctly rounded value of the exact rational.
_EXACT_INT = 2 ** 53


def decimal(x):
    """``x`` as the decimal number it prints as (``0.15`` is 3/20, not its binary value)."""
    return Fraction(repr(float(x)))


def grid_span(anchor, bin_size, start, stop):
    """Bins of the grid ``anchor + i * bin_size`` that overlap ``[start, stop)``.

    Returns ``(first, count)``: bins ``first .. first + count - 1``, computed exactly on
    the decimals the numbers print as.
    """
    a, w = decimal(anchor), decimal(bin_size)
    first = math.floor((decimal(start) - a) / w)
    end = math.ceil((decimal(stop) - a) / w)
    return first, max(1, end - first)


def bin_edges(anchor, bin_size, first, count):
    """Edges ``anchor + i * bin_size`` for ``i = first .. first + count``, each the float
    nearest the exact value.

    ``anchor`` and ``bin_size`` are taken as the decimals they print as, so the edge of bin
    3 at ``anchor=0, bin_size=0.05`` is exactly the float ``0.15`` (whereas
    ``3 * 0.05 == 0.15000000000000002`` in floating point).
    """
    a, w = decimal(anchor), decimal(bin_size)
    den = math.lcm(a.denominator, w.denominator)
    num0 = a.numerator * (den // a.denominator) + first * w.numerator * (den // w.denominator)
    step = w.numerator * (den // w.denominator)
    last = num0 + count * step
    if max(abs(num0), abs(last), den) < _EXACT_INT:
        return (num0 + step * np.arange(count + 1, dtype=np.float64)) / float(den)
    return np.array([float(Fraction(num0 + i * step, den)) for i in range(count + 1)])


def spike_bins(times, edges):
    """Bin of every spike of the *sorted* ``times`` inside ``[edges[0], edges[-1])``.

    Returns ``(lo, hi, rows)``: spikes ``lo:hi`` lie inside the edges and ``rows[j]`` is
    the bin of spike ``lo + j``, i.e. ``edges[row] <= t < edges[row + 1]``. One binary
    search per *edge* (not per spike) and a repeat: the exact float comparisons cost
    O(n_bins log n_spikes + n_spikes).
    """
    bounds = np.searchsorted(times, edges, side="left")
    rows = np.repeat(np.arange(edges.size - 1, dtype=np.int64), np.diff(bounds))
    return int(bounds[0]), int(bounds[-1]), rows


def bin_index(times, edges):
    """Bin of every time (any order): ``i`` with ``edges[i] <= t < edges[i + 1]``, or -1."""
    idx = np.searchsorted(edges, times, side="right") - 1
    return np.where((idx >= 0) & (times < edges[-1]), idx, -1)


# The dense counter works on blocks of rows: 2**18 cells (2 MB of int64 scratch) stay in
# cache, and no int64 copy of the whole output is ever made (2**18 measured fastest of
# 2**16 .. 2**23 on a 2-core CPU for 500 units).
_BLOCK_CELLS = 1 << 18


def count_blocks(rows, cols, n_rows, n_cols):
    """Yield ``(r0, r1, counts)``: the int64 counts of rows ``r0:r1``, block by block.

    ``rows`` must be non-decreasing (spikes in time order).
    """
    block = max(1, _BLOCK_CELLS // max(1, n_cols))
    cuts = np.searchsorted(rows, np.arange(0, n_rows + block, block), side="left")
    for i, r0 in enumerate(range(0, n_rows, block)):
        r1 = min(r0 + block, n_rows)
        a, b = cuts[i], cuts[i + 1]
        counts = np.bincount((rows[a:b] - r0) * n_cols + cols[a:b], minlength=(r1 - r0) * n_cols)
        yield r0, r1, counts.reshape(r1 - r0, n_cols)


def dense_counts(rows, cols, n_rows, n_cols, dtype, mean=None, scale=None):
    """``(n_rows, n_cols)`` array of ``(count - mean) / scale`` per (row, col) pair.

    Each block of rows is counted and written once into the output.
    """
    out = np.empty((n_rows, n_cols), dtype=dtype)
    for r0, r1, counts in count_blocks(rows, cols, n_rows, n_cols):
        if mean is not None:
            counts = counts - mean
        if scale is not None:
            np.divide(counts, scale, out=out[r0:r1], casting="unsafe")
        else:
            out[r0:r1] = counts
    return out


def column_stats(rows, cols, n_rows, n_cols):
    """Per column: maximum, mean and standard deviation of the counts over all rows."""
    peak = np.zeros(n_cols, dtype=np.int64)
    total = np.zeros(n_cols)
    total_sq = np.zeros(n_cols)
    for _, _, counts in count_blocks(rows, cols, n_rows, n_cols):
        np.maximum(peak, counts.max(axis=0), out=peak)
        total += counts.sum(axis=0)
        total_sq += np.einsum("ij,ij->j", counts, counts, dtype=np.float64)
    mean = total / max(1, n_rows)
    variance = np.maximum(total_sq / max(1, n_rows) - mean ** 2, 0)
    return peak.astype(np.float64), mean, np.sqrt(variance)


def count_bins(spikes, bin_size, anchor=0.0):
    """Number of rows :func:`bin_spikes` makes: grid bins over every valid interval."""
    return sum(grid_span(anchor, bin_size, a, b)[1] for a, b in spikes.intervals)


def bin_spikes(spikes, bin_size, columns, anchor=0.0):
    """Bin coordinates of ``spikes`` on the grid ``anchor + i * bin_size``.

    Every valid interval ``[a, b)`` of the container contributes the grid bins that
    overlap it, in time order; a bin cut by the interval's ends counts only the spikes
    inside the interval. ``columns[code]`` is the output column of each unit code, or -1
    for units to drop.

    Returns
    -------
    rows, cols : ndarray of shape (n_kept_spikes,)
        Row (bin, non-decreasing) and column (unit) of every kept spike.
    starts : ndarray of shape (n_bins,)
        Left edge (s) of every bin on the grid; ``n_bins = starts.size``.
    """
    rows, cols, starts = [], [], []
    offset = 0
    all_kept = columns.size == 0 or columns.min() >= 0
    for a, b in spikes.intervals:
        first, count = grid_span(anchor, bin_size, a, b)
        edges = bin_edges(anchor, bin_size, first, count)
        starts.append(edges[:-1].copy())
        edges[0], edges[-1] = max(edges[0], a), min(edges[-1], b)
        lo, hi, row = spike_bins(spikes.times, edges)
        col = columns[spikes.codes[lo:hi]]
        if not all_kept:
            keep = col >= 0
            row, col = row[keep], col[keep]
        rows.append(row + offset if offset else row)
        cols.append(col)
        offset += count
    if len(rows) == 1:  # the usual single interval: no copies
        return rows[0], cols[0], starts[0]
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(starts)
