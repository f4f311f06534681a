"""Reconstruction metrics, computed in float64 and written once.

Every score reported by the estimators (``score``, ``compare``, the demo, the
benchmarks) comes from these functions.

Constant units and bins
-----------------------
An R^2 divides by the variance of the observed values. Where that variance is zero (a
unit that never fires in the scored bins, or a bin in which every unit has the same
count) the R^2 is defined as in :func:`sklearn.metrics.r2_score` with
``force_finite=True``: 1.0 if the reconstruction is exact there, 0.0 otherwise. A unit
or bin is constant when all its values are equal, tested exactly: the rounding error of
a floating-point mean is never taken for variance. Cosine
similarities of an all-zero vector are 1.0 when both vectors are zero and 0.0 otherwise.
No function returns NaN for finite input, so aggregates (means, medians) are never NaN.
"""

import numpy as np
from scipy.special import xlogy
from sklearn.utils.validation import check_array, check_consistent_length


def _pair(X, X_hat):
    X = check_array(X, dtype=np.float64, ensure_2d=True, accept_sparse=False)
    X_hat = check_array(X_hat, dtype=np.float64, ensure_2d=True, accept_sparse=False)
    check_consistent_length(X, X_hat)
    if X.shape != X_hat.shape:
        raise ValueError(f"X and X_hat must have the same shape, got {X.shape} and {X_hat.shape}.")
    return X, X_hat


def _r2(residual, total):
    """``1 - residual / total`` elementwise; constant targets get 1.0 (exact) or 0.0."""
    residual, total = np.asarray(residual, float), np.asarray(total, float)
    out = np.where(residual == 0, 1.0, 0.0)
    nonconstant = total > 0
    out[nonconstant] = 1.0 - residual[nonconstant] / total[nonconstant]
    return out


def _total_sum_of_squares(X, axis):
    """``sum((X - mean)**2)`` along ``axis``, exactly 0 where ``X`` is constant.

    The floating-point mean of identical values is not always that value (100 copies of
    1e30 average to 1e30 + 1.7e15), which would leave a rounding-level "variance" (1.1e33
    there) and turn a constant unit's R^2 into -8e13 instead of the module's rule.
    """
    centred = X - X.mean(axis, keepdims=True)
    return np.where(np.ptp(X, axis=axis) == 0, 0.0, (centred ** 2).sum(axis))


def explained_variance(X, X_hat):
    """Pooled explained variance of a reconstruction.

    ``1 - sum((X - X_hat)**2) / sum((X - mean(X, axis=0))**2)``: one minus the fraction of
    variance unexplained (FVU), pooling all units and time bins, with each unit centred
    on its own mean over the rows of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Observed data (e.g. binned spike counts of held-out time).
    X_hat : array-like of shape (n_samples, n_features)
        Reconstruction of ``X``.

    Returns
    -------
    score : float
        1.0 for a perfect reconstruction; 0.0 for predicting every unit's mean; negative
        when worse than that. If ``X`` has zero total variance (every unit constant), the
        score is 1.0 for a perfect reconstruction and 0.0 otherwise, following
        :func:`sklearn.metrics.r2_score`, rather than a NaN.
    """
    X, X_hat = _pair(X, X_hat)
    residual = np.sum((X - X_hat) ** 2)
    total = _total_sum_of_squares(X, 0).sum()
    return float(_r2(residual, total))


def r2_per_unit(X, X_hat):
    """R^2 of every unit (column) over the time bins.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_features)
        Observed data and reconstruction.

    Returns
    -------
    r2 : ndarray of shape (n_features,)
        ``1 - sum_t (x_tu - xhat_tu)^2 / sum_t (x_tu - mean_t x_tu)^2``; a constant unit
        gets 1.0 if reconstructed exactly, else 0.0 (see the module notes).
    """
    X, X_hat = _pair(X, X_hat)
    return _r2(((X - X_hat) ** 2).sum(0), _total_sum_of_squares(X, 0))


def r2_per_example(X, X_hat):
    """R^2 of every time bin (row) over the units.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_features)
        Observed data and reconstruction.

    Returns
    -------
    r2 : ndarray of shape (n_samples,)
        ``1 - sum_u (x_tu - xhat_tu)^2 / sum_u (x_tu - mean_u x_tu)^2``; a bin in which
        every unit has the same value (e.g. silence) gets 1.0 if reconstructed exactly,
        else 0.0.
    """
    X, X_hat = _pair(X, X_hat)
    return _r2(((X - X_hat) ** 2).sum(1), _total_sum_of_squares(X, 1))


def _cosine(a, b, axis):
    dot = (a * b).sum(axis)
    norms = np.sqrt((a ** 2).sum(axis) * (b ** 2).sum(axis))
    both_zero = ((a == 0).all(axis)) & ((b == 0).all(axis))
    out = np.where(both_zero, 1.0, 0.0)
    ok = norms > 0
    out[ok] = dot[ok] / norms[ok]
    return out


def cosine_per_unit(X, X_hat):
    """Cosine similarity of every unit's time course with its reconstruction.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_features)
        Observed data and reconstruction.

    Returns
    -------
    cosine : ndarray of shape (n_features,)
        1.0 where both columns are all zero, 0.0 where only one is.
    """
    X, X_hat = _pair(X, X_hat)
    return _cosine(X, X_hat, 0)


def cosine_per_example(X, X_hat):
    """Cosine similarity of every time bin's population vector with its reconstruction.

    Parameters
    ----------
    X, X_hat : array-like of shape (n_samples, n_features)
        Observed data and reconstruction.

    Returns
    -------
    cosine : ndarray of shape (n_samples,)
        1.0 where both rows are all zero, 0.0 where only one is.
    """
    X, X_hat = _pair(X, X_hat)
    return _cosine(X, X_hat, 1)


def l0(Z):
    """Number of non-zero latents of every sample.

    Parameters
    ----------
    Z : array-like or sparse matrix of shape (n_samples, n_latents)
        Codes.

    Returns
    -------
    l0 : ndarray of shape (n_samples,)
    """
    Z = check_array(Z, accept_sparse="csr", dtype=None)
    if hasattr(Z, "getnnz"):
        return np.asarray(Z.getnnz(axis=1))
    return np.count_nonzero(Z, axis=1)


def mean_l0(Z):
    """Mean number of non-zero latents per sample (the mean of :func:`l0`)."""
    return float(l0(Z).mean())


def dead_fraction(Z):
    """Fraction of latents (columns of ``Z``) that are zero on every sample."""
    Z = check_array(Z, accept_sparse=False)
    return float(np.mean(~np.any(Z != 0, axis=0)))


def units_per_atom(components):
    """Effective number of units in every atom (the participation ratio).

    ``(sum_u w_u**2)**2 / sum_u w_u**4`` for atom ``w``: ``m`` for an atom spread evenly
    over ``m`` units, 1 for an atom on a single unit. A dictionary whose used atoms are
    near 1 copies single units instead of finding population patterns (which happens
    when ``topk`` reaches the number of units active in a bin).

    Parameters
    ----------
    components : array-like of shape (n_atoms, n_units)
        Atoms as rows (e.g. ``components_``); none may be all zero.

    Returns
    -------
    size : ndarray of shape (n_atoms,)
        Between 1 and ``n_units``.
    """
    W = check_array(components, dtype=np.float64) ** 2
    fourth = (W ** 2).sum(axis=1)
    if np.any(fourth == 0):
        raise ValueError("components has an all-zero atom, which has no units.")
    return W.sum(axis=1) ** 2 / fourth


def bits_per_spike(counts, rates, null_rates=None):
    """Poisson log-likelihood of ``rates`` above a mean-rate model, in bits per spike.

    The Neural Latents Benchmark's co-smoothing score (Pei et al. 2021): with ``y`` the
    observed counts and ``lambda`` the predicted rates (expected counts per bin),

    ``(sum y log(lambda) - lambda  -  sum y log(lambda0) - lambda0) / (n_spikes log 2)``

    summed over bins and units, ``lambda0`` each unit's mean count over the scored bins
    (or ``null_rates``) and ``n_spikes`` the number of spikes scored. The ``log(y!)``
    terms cancel. 0 is no better than each unit's mean rate; a model that predicts worse
    than that scores below 0.

    Parameters
    ----------
    counts : array-like of shape (n_bins, n_units)
        Observed spike counts (non-negative).
    rates : array-like of shape (n_bins, n_units)
        Predicted expected counts per bin, positive wherever a spike was seen.
    null_rates : array-like of shape (n_units,), default=None
        The reference model's rate per unit; by default the mean of ``counts``.

    Returns
    -------
    bits : float
    """
    y, rates = _pair(counts, rates)
    if np.any(y < 0):
        raise ValueError("counts must be non-negative spike counts.")
    if np.any(rates < 0) or np.any((rates == 0) & (y > 0)):
        raise ValueError("rates must be non-negative, and positive wherever counts has a "
                         "spike (a Poisson model cannot give a seen spike probability 0).")
    n_spikes = y.sum()
    if n_spikes == 0:
        raise ValueError("counts has no spike: bits per spike are not defined.")
    null = y.mean(axis=0) if null_rates is None else np.asarray(null_rates, np.float64)
    gain = xlogy(y, rates) - rates - (xlogy(y, null) - null)
    return float(gain.sum() / (n_spikes * np.log(2)))


# ----------------------------------------------------------------------- scorers
def _model_and_input(estimator, X):
    """``(model, X in the model's input space)``: for a Pipeline, its last step and
    ``X`` transformed by the earlier steps (e.g. a SpikeBinner binning raw spikes)."""
    steps = getattr(estimator, "steps", None)
    if steps is not None and len(steps) > 1:
        return estimator[-1], estimator[:-1].transform(X)
    return estimator, X


def dense_float64(X):
    """``X`` as a dense float64 array (a sparse matrix densified): what the metrics see."""
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def reconstruct_with(estimator, X):
    """The data an estimator reconstructs and its reconstruction: ``(X_model, X_hat)``.

    For a :class:`~sklearn.pipeline.Pipeline` the earlier steps transform ``X`` (e.g.
    :class:`~sklearn_mini.SpikeBinner` bins raw spikes) and the last step reconstructs
    their output, so scores are computed in the space the model sees.
    """
    estimator, X = _model_and_input(estimator, X)
    if hasattr(estimator, "reconstruct"):
        X_hat = estimator.reconstruct(X)
    else:
        X_hat = estimator.inverse_transform(estimator.transform(X))
    return dense_float64(X), X_hat


class ReconstructionScorer:
    """A scorer for ``GridSearchCV(scoring=...)``: ``metric`` of the reconstruction.

    Works for any estimator (or Pipeline ending in one) with ``transform`` and
    ``inverse_transform``; ``aggregate`` reduces per-unit or per-example values.

    Parameters
    ----------
    metric : callable
        ``metric(X, X_hat)`` returning a float or an array.
    aggregate : {'mean', 'median'}, default='mean'
        Reduction of an array-valued metric.
    """

    def __init__(self, metric, aggregate="mean"):
        self.metric = metric
        self.aggregate = aggregate

    def __call__(self, estimator, X, y=None):
        value = self.metric(*reconstruct_with(estimator, X))
        if np.ndim(value) == 0:
            return float(value)
        return float(np.median(value) if self.aggregate == "median" else np.mean(value))

    def __repr__(self):
        return f"ReconstructionScorer({self.metric.__name__}, aggregate={self.aggregate!r})"


SCORERS = {
    "explained_variance": ReconstructionScorer(explained_variance),
    "r2_per_unit": ReconstructionScorer(r2_per_unit),
    "r2_per_unit_median": ReconstructionScorer(r2_per_unit, "median"),
    "r2_per_example": ReconstructionScorer(r2_per_example),
    "cosine_per_unit": ReconstructionScorer(cosine_per_unit),
    "cosine_per_example": ReconstructionScorer(cosine_per_example),
}


def get_scorer(name):
    """A reconstruction scorer by name (one of :data:`SCORERS`), for ``scoring=``.

    Parameters
    ----------
    name : str
        ``'explained_variance'``, ``'r2_per_unit'``, ``'r2_per_unit_median'``,
        ``'r2_per_example'``, ``'cosine_per_unit'`` or ``'cosine_per_example'``.

    Returns
    -------
    scorer : ReconstructionScorer
    """
    try:
        return SCORERS[name]
    except KeyError:
        raise ValueError(f"Unknown scorer {name!r}; expected one of {sorted(SCORERS)}.") from None
