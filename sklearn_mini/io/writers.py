"""Writing spike trains in the formats the readers take (to share data, test a reader,
or hand a recording to ``sklearn-mini run``)."""

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._optional import require


def write_spike_files(spikes, folder, formats=("nwb", "kilosort", "csv", "npz"),
                      sampling_rate=30000.0):
    """Write ``spikes`` as an NWB file, a Kilosort folder, a CSV and an NPZ spike table.

    Reading any of them back (:func:`sklearn_mini.io.read_recording`) gives the same
    spikes, up to the Kilosort sample grid.

    Parameters
    ----------
    spikes : SpikeTrains
        Integer unit ids (NWB and Kilosort need them).
    folder : str or path-like
        Where to write (created if missing); the files are ``rec.nwb``, ``kilosort/``,
        ``rec.csv`` and ``rec.npz``.
    formats : sequence of {'nwb', 'kilosort', 'csv', 'npz'}
    sampling_rate : float, default=30000.0
        Kilosort's sample rate (spike times are rounded to its samples).

    Returns
    -------
    paths : dict of str to Path
    """
    folder = Path(folder)
    writers = {"nwb": _nwb, "kilosort": _kilosort, "csv": _csv, "npz": _npz}
    unknown = set(formats) - set(writers)
    if unknown:
        raise ValueError(f"Unknown formats {sorted(unknown)}; expected some of {list(writers)}.")
    folder.mkdir(parents=True, exist_ok=True)
    return {fmt: writers[fmt](spikes, folder, sampling_rate) for fmt in formats}


def _nwb(spikes, folder, _):
    pynwb = require("pynwb", "nwb", "Writing NWB files")
    nwb = pynwb.NWBFile(session_description="written by sklearn_mini", identifier="sklearn_mini",
                        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    for unit in spikes.unit_ids:
        nwb.add_unit(spike_times=spikes.spike_times(unit), id=int(unit))
    path = folder / "rec.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _kilosort(spikes, folder, sampling_rate):
    path = folder / "kilosort"
    path.mkdir(exist_ok=True)
    np.save(path / "spike_times.npy", np.round(spikes.times * sampling_rate).astype(np.uint64))
    np.save(path / "spike_clusters.npy", spikes.units.astype(np.int32))
    (path / "params.py").write_text(f"sample_rate = {sampling_rate}\n")
    return path


def _csv(spikes, folder, _):
    path = folder / "rec.csv"
    np.savetxt(path, np.column_stack([spikes.times, spikes.units]), delimiter=",",
               header="time,unit", comments="")
    return path


def _npz(spikes, folder, _):
    path = folder / "rec.npz"
    np.savez(path, times=spikes.times, units=spikes.units)
    return path
