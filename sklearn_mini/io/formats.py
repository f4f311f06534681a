"""One entry point for a recording on disk: the reader is chosen by the path."""

import pathlib

from .kilosort import read_kilosort
from .nwb import read_nwb
from .spike_tables import read_csv_table, read_npz_table


def read_recording(path):
    """Spikes from an NWB file, a Kilosort/Phy folder, or a spike table (.npz / .csv).

    A table has one row per spike with a time (s) and a unit column (``time, unit``
    in a CSV header, or arrays ``times`` and ``units`` / an ``(n, 2)`` array ``spikes``
    in an ``.npz``). Unit ids may be integers or strings (``cell_59``).

    Every format follows one rule for the recording's span, so the same spikes give the
    same bins and the same train/test split whatever the file: times are seconds from
    the recording's start, which is time 0 unless the file says otherwise (an NWB
    units table's ``obs_intervals``; scalars ``t_start`` and ``t_stop`` in an ``.npz``);
    the recording ends just after its last spike unless the file gives its end.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        return read_kilosort(path)
    suffix = path.suffix.lower()
    if suffix == ".nwb":
        return read_nwb(path).spikes
    if suffix == ".npz":
        return read_npz_table(path)
    if suffix == ".csv":
        return read_csv_table(path)
    raise ValueError(f"Cannot read {path}: expected an .nwb file, a Kilosort folder, or a "
                     ".npz/.csv spike table.")
