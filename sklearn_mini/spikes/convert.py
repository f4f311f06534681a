"""Conversions into :class:`~sklearn_mini.SpikeTrains`: arrays, DataFrames, dicts, lists,
pynapple and neo objects, and back to pynapple and neo."""

import numpy as np

from .._optional import require
from .container import _TIME_COLUMNS, _UNIT_COLUMNS, SpikeTrains


def as_spike_trains(data, *, time_unit="s", sampling_rate=None):
    """Turn any supported spike input into a :class:`SpikeTrains`.

    Accepted: a :class:`SpikeTrains`; an ``(n_spikes, 2)`` array of ``[time, unit]``; a
    pandas DataFrame with a time column (one of ``time, times, t, spike_time,
    spike_times``) and a unit column (one of ``unit, units, unit_id, cluster,
    cluster_id, neuron, channel``); a dict ``{unit_id: times}``; a list of per-unit time
    arrays (unit ids 0..n-1); a pynapple ``TsGroup``; a list of neo ``SpikeTrain``.
    Times are in ``time_unit`` (or samples at ``sampling_rate``) except for pynapple and
    neo objects, which carry their own units.
    """
    if isinstance(data, SpikeTrains):
        return data
    module = type(data).__module__ or ""
    if module.startswith("pynapple"):
        return from_pynapple(data)
    if isinstance(data, (list, tuple)) and data and type(data[0]).__module__.startswith("neo"):
        return from_neo(data)
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return _from_frame(data, time_unit, sampling_rate)
    if isinstance(data, dict):
        return _from_mapping(data, time_unit, sampling_rate)
    if isinstance(data, (list, tuple)) and (not data or np.ndim(data[0]) == 1):
        return _from_mapping(dict(enumerate(data)), time_unit, sampling_rate)
    array = np.asarray(data)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            "Spike input must be a SpikeTrains, an (n_spikes, 2) array of [time, unit], a "
            "DataFrame with time and unit columns, a dict or list of per-unit time arrays, "
            f"a pynapple TsGroup or a list of neo SpikeTrains; got an array of shape {array.shape}."
        )
    times, units = array[:, 0], array[:, 1]
    if array.dtype.kind in "OUS":  # mixed rows such as [0.1, "cell_59"]: string unit ids
        try:
            times = times.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError("The first column of an (n_spikes, 2) spike array must be "
                             f"spike times (numbers); got {array[0, 0]!r}.") from None
    elif array.dtype.kind not in "iuf":
        raise ValueError(f"An (n_spikes, 2) spike array must hold [time, unit] rows, got "
                         f"dtype {array.dtype}.")
    return SpikeTrains(times, units, time_unit=time_unit, sampling_rate=sampling_rate)


def spike_table_columns(columns, source="The DataFrame"):
    """The time and unit column names of a spike table, or a clear error."""
    columns = list(columns)

    def pick(names, what):
        for name in names:
            if name in columns:
                return name
        raise ValueError(f"{source} has no {what} column; expected one of {list(names)}, "
                         f"got {columns}.")

    return pick(_TIME_COLUMNS, "time"), pick(_UNIT_COLUMNS, "unit")


def _from_frame(frame, time_unit, sampling_rate):
    tcol, ucol = spike_table_columns(frame.columns)
    return SpikeTrains(frame[tcol].to_numpy(), frame[ucol].to_numpy(), time_unit=time_unit,
                       sampling_rate=sampling_rate)


def _from_mapping(mapping, time_unit, sampling_rate):
    ids = list(mapping)
    trains = [np.ravel(np.asarray(mapping[u], dtype=np.float64)) for u in ids]
    times = np.concatenate(trains) if trains else np.zeros(0)
    unit_ids = np.asarray(ids)
    codes = np.repeat(np.arange(len(ids)), [t.size for t in trains])
    order = np.argsort(unit_ids, kind="stable")
    return SpikeTrains(times, unit_ids[codes], unit_ids=unit_ids[order], time_unit=time_unit,
                       sampling_rate=sampling_rate)


def from_pynapple(group):
    """A pynapple ``TsGroup`` as a :class:`~sklearn_mini.SpikeTrains`.

    Unit ids are the group's keys; its metadata columns become unit metadata and its
    ``time_support`` the valid intervals.
    """
    ids = np.asarray(list(group.keys()))
    times = [np.asarray(group[u].t, dtype=np.float64) for u in ids]
    support = group.time_support
    intervals = np.column_stack([np.asarray(support.start), np.asarray(support.end)])
    info = {}
    meta = getattr(group, "metadata", None)
    if meta is not None and hasattr(meta, "columns"):
        for column in meta.columns:
            if column != "rate":
                info[column] = np.asarray(meta[column].loc[ids])
    all_times = np.concatenate(times) if times else np.zeros(0)
    return SpikeTrains(all_times, np.repeat(ids, [t.size for t in times]), unit_ids=ids,
                       unit_info=info, t_start=float(intervals[0, 0]),
                       t_stop=float(intervals[-1, 1]), intervals=intervals)


def to_pynapple(spikes):
    """A :class:`~sklearn_mini.SpikeTrains` as a pynapple ``TsGroup`` (needs pynapple)."""
    nap = require("pynapple", "pynapple", "Converting to pynapple")
    support = nap.IntervalSet(start=spikes.intervals[:, 0], end=spikes.intervals[:, 1])
    data = {u: nap.Ts(t=spikes.times[spikes.codes == i])
            for i, u in enumerate(spikes.unit_ids.tolist())}
    group = nap.TsGroup(data, time_support=support)
    for key, values in spikes.unit_info.items():
        group[key] = np.asarray(values)
    return group


def from_neo(trains):
    """A list of neo ``SpikeTrain`` (one per unit) as a :class:`~sklearn_mini.SpikeTrains`.

    Unit ids come from each train's ``annotations['unit_id']``, else its ``name``, else
    its position in the list.
    """
    ids, times = [], []
    for i, train in enumerate(trains):
        ids.append(train.annotations.get("unit_id", train.name if train.name is not None else i))
        times.append(np.asarray(train.rescale("s").magnitude, dtype=np.float64))
    t_start = min(float(t.t_start.rescale("s").magnitude) for t in trains)
    t_stop = max(float(t.t_stop.rescale("s").magnitude) for t in trains)
    ids = np.asarray(ids)
    order = np.argsort(ids, kind="stable")
    return SpikeTrains(np.concatenate(times), np.repeat(ids, [t.size for t in times]),
                       unit_ids=ids[order], t_start=t_start, t_stop=t_stop)


def to_neo(spikes):
    """A :class:`~sklearn_mini.SpikeTrains` as a list of neo ``SpikeTrain`` (needs neo)."""
    neo = require("neo", "neo", "Converting to neo")
    pq = require("quantities", "neo", "Converting to neo")
    trains = []
    for i, unit in enumerate(spikes.unit_ids.tolist()):
        annotations = {"unit_id": unit}
        annotations.update({k: v[i].item() if hasattr(v[i], "item") else v[i]
                            for k, v in spikes.unit_info.items()})
        trains.append(neo.SpikeTrain(spikes.times[spikes.codes == i] * pq.s,
                                     t_start=spikes.t_start * pq.s, t_stop=spikes.t_stop * pq.s,
                                     name=str(unit), **annotations))
    return trains
