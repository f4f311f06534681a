"""Spike tables on disk: one row per spike, a time (s) and a unit (.npz or .csv)."""

import numpy as np

from ..spikes import SpikeTrains, as_spike_trains, spike_table_columns


def read_npz_table(path):
    """Spikes from an ``.npz`` table: ``times`` and ``units``, or an ``(n, 2)`` ``spikes``."""
    with np.load(path, allow_pickle=False) as data:
        if "spikes" in data:
            spikes = as_spike_trains(data["spikes"])
            times, units = spikes.times, spikes.units
        else:
            times, units = data["times"], data["units"]
        span = {key: float(data[key]) for key in ("t_start", "t_stop") if key in data}
    return SpikeTrains(times, units, **{"t_start": 0.0, **span})


def read_csv_table(path):
    """Spikes from a ``.csv`` table with a time and a unit column (header names)."""
    # dtype=None keeps each column's own type, so string unit ids stay strings instead
    # of becoming NaN floats.
    table = np.atleast_1d(np.genfromtxt(path, delimiter=",", names=True, dtype=None,
                                        encoding="utf-8", autostrip=True))
    original = {name.lower(): name for name in table.dtype.names}  # header case-insensitive
    time_col, unit_col = spike_table_columns(original, source=str(path))
    times = table[original[time_col]]
    if times.size and times.dtype.kind not in "iuf":
        raise ValueError(f"The {original[time_col]!r} column of {path} is not numeric "
                         f"(first value {times[0]!r}); expected spike times in seconds.")
    return SpikeTrains(times.astype(np.float64), table[original[unit_col]], t_start=0.0)
