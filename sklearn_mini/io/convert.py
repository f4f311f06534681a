"""Conversions between :class:`~sklearn_mini.SpikeTrains` and pynapple / neo objects."""

import numpy as np

from ..spikes import SpikeTrains
from ._optional import require


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
    data = {u: nap.Ts(t=spikes.times[spikes.codes == i]) for i, u in enumerate(spikes.unit_ids.tolist())}
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
