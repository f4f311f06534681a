"""Reconstruction metrics, computed in float64 and written once.

Every score reported by the estimators (``score``, the demo, the benchmarks) comes from
these functions.
"""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length


def _pair(X, X_hat):
    X = check_array(X, dtype=np.float64, ensure_2d=True)
    X_hat = check_array(X_hat, dtype=np.float64, ensure_2d=True)
    check_consistent_length(X, X_hat)
    if X.shape != X_hat.shape:
        raise ValueError(f"X and X_hat must have the same shape, got {X.shape} and {X_hat.shape}.")
    return X, X_hat


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
    total = np.sum((X - X.mean(axis=0)) ** 2)
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1.0 - residual / total)


def mean_l0(Z):
    """Mean number of non-zero latents per sample."""
    Z = check_array(Z, accept_sparse=False)
    return float(np.count_nonzero(Z, axis=1).mean())


def dead_fraction(Z):
    """Fraction of latents (columns of ``Z``) that are zero on every sample."""
    Z = check_array(Z, accept_sparse=False)
    return float(np.mean(~np.any(Z != 0, axis=0)))
