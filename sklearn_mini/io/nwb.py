"""NWB (Neurodata Without Borders) units tables, read with h5py."""

import numpy as np
from sklearn.utils import Bunch

from .._optional import require
from ..spikes import SpikeTrains, subtract_intervals

_SKIP = {"id", "spike_times", "spike_times_index", "electrodes", "electrodes_index",
         "waveform_mean", "waveform_sd", "waveforms", "waveforms_index",
         "waveforms_index_index", "obs_intervals", "obs_intervals_index"}


def _decode(values):
    if values.dtype.kind in "SO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel()],
                        dtype=object)
    return values


def _table(group):
    """A DynamicTable group as a dict of equal-length columns (ragged columns skipped)."""
    n = len(group["id"]) if "id" in group else None
    columns = {}
    for name, obj in group.items():
        if name.endswith("_index") or not hasattr(obj, "shape") or obj.ndim != 1:
            continue
        if n is not None and obj.shape[0] != n or f"{name}_index" in group:
            continue
        columns[name] = _decode(obj[()])
    return columns


def _observed_span(units):
    """The recording's span: the units' observation intervals when the file has them,
    else from time 0 (NWB times are seconds from the session's reference time) to just
    after the last spike, the rule every reader of the package follows."""
    if "obs_intervals" not in units:
        return {"t_start": 0.0}
    observed = np.asarray(units["obs_intervals"][()], dtype=np.float64).reshape(-1, 2)
    if not observed.size:
        return {"t_start": 0.0}
    return {"t_start": float(observed[:, 0].min()), "t_stop": float(observed[:, 1].max())}


def _frame(columns):
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the test extra
        return columns
    return pd.DataFrame(columns)


def read_nwb(path):
    """Read the units table, invalid times and interval tables of an NWB file.

    Works on any NWB 2 file with a ``units`` table, including Allen Brain Observatory
    Visual Coding (Neuropixels) session files; only h5py is needed.

    Parameters
    ----------
    path : str or path-like
        The ``.nwb`` file.

    Returns
    -------
    recording : :class:`~sklearn.utils.Bunch`
        ``spikes``: a :class:`~sklearn_mini.SpikeTrains` spanning the units' observation
        intervals (``obs_intervals``) when the file has them, else from 0 to just after
        the last spike, whose unit metadata are the units table's columns (with
        ``label`` copied from ``quality`` when present) and
        whose valid intervals exclude ``invalid_times``; ``invalid_times``: an
        ``(n, 2)`` array; ``tables``: every table under ``/intervals`` (trials, epochs,
        stimulus presentations...) as a pandas DataFrame (a dict of columns without
        pandas).
    """
    h5py = require("h5py", "nwb", "Reading NWB files")
    with h5py.File(path, "r") as f:
        if "units" not in f:
            raise ValueError(f"{path} has no units table (/units): no spike-sorted units to read.")
        units = f["units"]
        ids = units["id"][()]
        times = units["spike_times"][()]
        ends = units["spike_times_index"][()].astype(np.int64)
        counts = np.diff(np.r_[0, ends])
        info = _table(units)
        for name in list(info):
            if name in _SKIP:
                del info[name]
        if "quality" in info and "label" not in info:
            info["label"] = info["quality"]
        span = _observed_span(units)
        tables, invalid = {}, np.zeros((0, 2))
        for name, group in f.get("intervals", {}).items():
            columns = _table(group)
            if name == "invalid_times":
                invalid = np.column_stack([columns["start_time"], columns["stop_time"]])
            tables[name] = _frame(columns)
    order = np.argsort(ids, kind="stable")
    spikes = SpikeTrains(times, np.repeat(ids, counts), unit_ids=ids[order],
                         unit_info={k: v[order] for k, v in info.items()}, **span)
    if invalid.size:
        valid = subtract_intervals(spikes.intervals, invalid)
        spikes = SpikeTrains(spikes.times, spikes.units, t_start=spikes.t_start,
                             t_stop=spikes.t_stop, unit_ids=spikes.unit_ids,
                             unit_info=spikes.unit_info, intervals=valid)
    return Bunch(spikes=spikes, invalid_times=invalid, tables=tables)
