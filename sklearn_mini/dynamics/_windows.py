"""Rows of consecutive bins <-> windows of them, for the models that read sequences."""

import numpy as np


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
