"""Data-driven initial values."""

import torch


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

    At most ``max_rows`` rows (drawn with the estimator's generator) are used for the
    geometric median, whose cost grows with the number of rows times iterations.
    """
    if how == "zeros":
        return torch.zeros(x.shape[1], dtype=torch.float64)
    if how == "mean":
        return x.mean(0, dtype=torch.float64)  # float64 accumulation, no float64 copy of x
    if how == "geometric_median":
        if x.shape[0] > max_rows:
            rows = torch.randperm(x.shape[0], generator=generator)[:max_rows]
            x = x[rows.to(x.device)]
        return geometric_median(x)
    raise ValueError(
        f"Unknown decoder_bias_init {how!r}; expected 'mean', 'geometric_median' or 'zeros'."
    )
