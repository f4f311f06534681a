"""Rows of consecutive bins <-> windows of them, for the models that read sequences."""

import numpy as np
from sklearn.utils.validation import validate_data


def cut_windows(X, window):
    """The whole windows of ``X`` (bins x units) as ``(n_windows, window, units)``."""
    n = X.shape[0] // window
    return X[: n * window].reshape(n, window, X.shape[1])


def covering_windows(X, window):
    """Windows that cover every row of ``X``: the whole ones, then (when rows are left
    over) the window ending at the last row, which overlaps the one before.

    Returns the windows and the number of rows left over (0 when none).
    """
    windows = cut_windows(X, window)
    tail = X.shape[0] - windows.shape[0] * window
    if tail:
        windows = np.concatenate([windows, X[None, X.shape[0] - window:]])
    return windows, tail


def rows_of(values, tail):
    """Per-window values ``(n_windows, window, k)`` of :func:`covering_windows` back to
    one row per row of ``X`` (the overlapping last window gives its final ``tail``)."""
    rows = values.reshape(-1, values.shape[-1])
    if not tail:
        return rows
    whole = rows.shape[0] - values.shape[1]
    return np.concatenate([rows[:whole], rows[rows.shape[0] - tail:]])


def validated_counts(estimator, X, *, reset, dtype, why):
    """``X`` validated for a model that reads windows of ``estimator.window`` bins:
    non-negative (``why`` says what the model makes of the counts) and at least one
    window long."""
    X = validate_data(estimator, X, reset=reset, dtype=dtype)
    if np.any(X < 0):
        raise ValueError(f"Negative values in data passed to {type(estimator).__name__}: "
                         f"{why}, so X must be >= 0 (its smallest value is {X.min():.4g}).")
    if X.shape[0] < estimator.window:
        raise ValueError(f"X has n_samples = {X.shape[0]} bins, fewer than one window of "
                         f"{estimator.window}: lower `window` or pass more bins.")
    return X
