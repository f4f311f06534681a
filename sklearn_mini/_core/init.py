"""Data-driven initial values."""

import torch

from .data import as_rows, column_mean


def geometric_median(x, n_iter=100, tol=1e-7):
    """Geometric median of the rows of ``x`` by Weiszfeld's algorithm (float64).

    The point minimising the sum of Euclidean distances to the rows; robust to the
    bursts that dominate the mean of spike counts.
    """
    x = x.to(torch.float64)
    median = x.mean(0)
    for _ in range(n_iter):
        dist = (x - median).norm(dim=1).clamp_min(1e-12)
        weights = 1.0 / dist
        new = (weights[:, None] * x).sum(0) / weights.sum()
        if (new - median).norm() <= tol * max(1.0, float(median.norm())):
            return new
        median = new
    return median


def decoder_bias(x, how, max_rows=50_000, generator=None):
    """Initial decoder bias: ``'mean'``, ``'geometric_median'`` or ``'zeros'`` of ``x``.

    ``x`` is a tensor or a :mod:`.data` rows object (possibly streamed from a host
    array). At most ``max_rows`` rows (drawn with the estimator's generator) are used for
    the geometric median, whose cost grows with the number of rows times iterations.
    """
    rows = as_rows(x)
    if how == "zeros":
        return torch.zeros(rows.n_features, dtype=torch.float64)
    if how == "mean":
        return column_mean(rows)
    if how == "geometric_median":
        index = torch.arange(rows.n_rows)
        if rows.n_rows > max_rows:
            index = torch.randperm(rows.n_rows, generator=generator)[:max_rows]
        return geometric_median(rows.take(index).cpu())
    raise ValueError(
        f"Unknown decoder_bias_init {how!r}; expected 'mean', 'geometric_median' or 'zeros'."
    )
