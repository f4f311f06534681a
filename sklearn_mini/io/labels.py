"""Reading behaviour and stimulus label files (.csv or .npz) into a :class:`LabelTable`.

Three layouts, told apart by their column names (case-insensitive):

* **trials**: ``start`` and ``stop`` (s) and any label columns, one row per trial;
* **events**: ``time`` (s) and ``event`` (a name), one row per event;
* **time series**: ``time`` (s) and one column per variable, one row per sample
  (continuous values such as running speed, or categories such as a stimulus id).

Aligning a table to time bins is :func:`sklearn_mini.behaviour.align_labels`.
"""

import pathlib
from dataclasses import dataclass, field

import numpy as np

KINDS = ("trials", "events", "series")


@dataclass
class LabelTable:
    """Label columns and their times, as read from a file.

    Attributes
    ----------
    kind : {'trials', 'events', 'series'}
    times : ndarray
        ``(n, 2)`` trial start and stop times for ``'trials'``; ``(n,)`` event or sample
        times otherwise (seconds, on the recording's clock).
    columns : dict of str to ndarray
        The label columns (for ``'events'``: one column, ``event``).
    source : str
        Where the table came from (for messages).
    """

    kind: str
    times: np.ndarray
    columns: dict = field(default_factory=dict)
    source: str = "labels"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        self.times = np.asarray(self.times, dtype=np.float64)
        if not np.all(np.isfinite(self.times)):
            raise ValueError(f"{self.source}: the time columns have missing or non-finite "
                             "values.")
        n = len(self.times)
        for name, values in self.columns.items():
            if len(values) != n:
                raise ValueError(f"{self.source}: column {name!r} has {len(values)} values, "
                                 f"the times {n}.")
        if not self.columns:
            raise ValueError(f"{self.source}: no label column besides the times.")
        if self.kind == "trials" and np.any(self.times[:, 1] <= self.times[:, 0]):
            raise ValueError(f"{self.source}: a trial's stop is not after its start.")


def _columns_from_csv(path):
    table = np.atleast_1d(np.genfromtxt(path, delimiter=",", names=True, dtype=None,
                                        encoding="utf-8", autostrip=True))
    if table.dtype.names is None:
        raise ValueError(f"{path}: expected a CSV with a header row.")
    return {name.lower(): np.asarray(table[name]) for name in table.dtype.names}


def _columns_from_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {key.lower(): np.asarray(data[key]) for key in data.files}


def _numeric(columns, name, source):
    values = columns.pop(name)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{source}: the {name!r} column is not numeric (first value "
                         f"{values.flat[0]!r}); expected times in seconds.")
    return values.astype(np.float64)


def table_from_columns(columns, source="labels"):
    """A :class:`LabelTable` from named 1-D columns, its layout told by their names."""
    columns = {key.lower(): np.atleast_1d(value) for key, value in columns.items()}
    if {"start", "stop"} <= columns.keys():
        times = np.column_stack([_numeric(columns, "start", source),
                                 _numeric(columns, "stop", source)])
        return LabelTable("trials", times, columns, source)
    if "time" not in columns:
        raise ValueError(f"{source}: expected a 'time' column (events or a time series) or "
                         f"'start' and 'stop' columns (trials); got {sorted(columns)}.")
    times = _numeric(columns, "time", source)
    if "event" in columns and len(columns) == 1:
        return LabelTable("events", times, columns, source)
    return LabelTable("series", times, columns, source)


def read_labels(path):
    """Read a label file: trials, events or a time series (see the module's docstring).

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` with a header row, or an ``.npz`` of equal-length 1-D arrays.

    Returns
    -------
    table : LabelTable
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = _columns_from_csv(path)
    elif suffix == ".npz":
        columns = _columns_from_npz(path)
    else:
        raise ValueError(f"Cannot read labels from {path}: expected a .csv or .npz file.")
    return table_from_columns(columns, source=str(path))
