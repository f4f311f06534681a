"""Windows of consecutive time bins for ``seq_len > 1`` (sequence input).

A window ending at row ``t`` holds rows ``t - seq_len + 1 .. t`` of one segment,
flattened oldest first: columns ``[lag L-1 | ... | lag 1 | lag 0]`` with ``lag 0`` the
bin ``t`` itself. Windows never cross a segment boundary.
"""

import numpy as np


def segment_ids(n_samples, groups):
    """Integer segment id per row: a new segment starts wherever ``groups`` changes.

    ``groups`` is ``None`` (one segment), one label per row (e.g. trial ids; contiguous
    runs of equal labels are segments), checked for length.
    """
    if groups is None:
        return np.zeros(n_samples, dtype=np.int64)
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise ValueError(f"groups must be one label per row of X ({n_samples}); got shape "
                         f"{groups.shape}.")
    changes = np.flatnonzero(groups[1:] != groups[:-1]) + 1
    ids = np.zeros(n_samples, dtype=np.int64)
    ids[changes] = 1
    return np.cumsum(ids)


def _position_in_segment(ids):
    """How many rows of the same segment precede each row."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    lengths = np.diff(np.r_[starts, ids.size])
    return np.arange(ids.size) - np.repeat(starts, lengths)


def windows(X, seq_len, groups=None, full_only=False):
    """Windows of ``seq_len`` bins ending at each row of ``X`` (``n_rows x seq_len*f``).

    ``full_only=True`` keeps only the rows whose window lies inside its segment (for
    training and per-lag scores) and also returns their row indices; otherwise every row
    gets a window, with the bins before its segment's start set to zero.
    """
    n, f = X.shape
    position = _position_in_segment(segment_ids(n, groups))
    if seq_len == 1:
        rows = np.arange(n)
        return (X, rows) if full_only else X
    rows = np.flatnonzero(position >= seq_len - 1) if full_only else np.arange(n)
    out = np.zeros((rows.size, seq_len * f), dtype=X.dtype)
    for lag in range(seq_len):
        block = slice((seq_len - 1 - lag) * f, (seq_len - lag) * f)
        inside = position[rows] >= lag  # bin t - lag belongs to the same segment
        out[inside, block] = X[rows[inside] - lag]
    return (out, rows) if full_only else out


def lag_block(windowed, seq_len, lag):
    """Columns of lag ``lag`` (0 = the window's own bin) of windowed rows."""
    f = windowed.shape[1] // seq_len
    return windowed[:, (seq_len - 1 - lag) * f:(seq_len - lag) * f]
