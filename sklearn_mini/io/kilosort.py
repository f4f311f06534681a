"""Kilosort / Phy output folders."""

import ast
import csv
from pathlib import Path

import numpy as np

from ..spikes import SpikeTrains


def read_params(path):
    """Parse a Phy ``params.py`` as literal assignments (the file is never executed)."""
    values = {}
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue  # not a literal: ignore rather than evaluate
    return values


def _read_tsv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _cluster_column(path):
    """``{cluster_id: value}`` of the second column of a cluster_*.tsv file."""
    header, rows = _read_tsv(path)
    return header[1] if len(header) > 1 else None, {int(r[0]): r[1] for r in rows if len(r) > 1}


def read_kilosort(folder, sampling_rate=None):
    """Read a Kilosort/Phy output folder.

    ``spike_times.npy`` (in samples) and ``spike_clusters.npy`` (or
    ``spike_templates.npy`` before curation) give the spikes; the sampling rate comes
    from ``params.py`` (``sample_rate``) unless given. Unit labels come from
    ``cluster_group.tsv`` (Phy curation), which takes precedence over Kilosort's
    ``cluster_KSLabel.tsv``; other ``cluster_*.tsv`` files become metadata columns.

    Parameters
    ----------
    folder : str or path-like
        The Kilosort/Phy output folder.
    sampling_rate : float, default=None
        Samples per second; read from ``params.py`` when None.

    Returns
    -------
    spikes : SpikeTrains
        Spikes in seconds; metadata column ``label`` holds the curation label
        (``'good'``, ``'mua'``, ``'noise'``...) when a label file exists.
    """
    folder = Path(folder)
    times_path = folder / "spike_times.npy"
    if not times_path.is_file():
        raise FileNotFoundError(f"{times_path} not found: not a Kilosort/Phy folder.")
    if sampling_rate is None:
        params_path = folder / "params.py"
        if not params_path.is_file():
            raise ValueError(f"No params.py in {folder}; pass sampling_rate=.")
        sampling_rate = read_params(params_path).get("sample_rate")
        if sampling_rate is None:
            raise ValueError(f"{params_path} has no sample_rate; pass sampling_rate=.")
    samples = np.load(times_path, allow_pickle=False).ravel()
    cluster_path = folder / "spike_clusters.npy"
    if not cluster_path.is_file():
        cluster_path = folder / "spike_templates.npy"
    clusters = np.load(cluster_path, allow_pickle=False).ravel().astype(np.int64)
    if clusters.size != samples.size:
        raise ValueError(f"{cluster_path.name} has {clusters.size} entries for "
                         f"{samples.size} spikes.")

    columns = {}
    for tsv in sorted(folder.glob("cluster_*.tsv")):
        if tsv.name in ("cluster_group.tsv", "cluster_KSLabel.tsv", "cluster_info.tsv"):
            continue
        name, values = _cluster_column(tsv)
        if name:
            columns[name] = values
    labels = {}
    for name in ("cluster_KSLabel.tsv", "cluster_group.tsv"):  # later files win
        if (folder / name).is_file():
            labels.update(_cluster_column(folder / name)[1])
    labelled = np.fromiter(labels, dtype=np.int64, count=len(labels))
    unit_ids = np.union1d(np.unique(clusters), labelled)
    info = {name: np.array([values.get(int(u), "") for u in unit_ids], dtype=object)
            for name, values in columns.items()}
    if labels:
        info["label"] = np.array([labels.get(int(u), "unsorted") for u in unit_ids], dtype=object)
    return SpikeTrains(samples.astype(np.float64), clusters, t_start=0.0, unit_ids=unit_ids,
                       unit_info=info, time_unit="samples", sampling_rate=float(sampling_rate))
