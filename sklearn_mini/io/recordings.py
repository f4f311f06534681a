"""Readers for the public recordings used by the tests, benchmarks and examples.

The files are not shipped with the package: point these functions at your copy (the
repository's tests look in ``../shared/data`` beside the checkout).

* Eglen et al. (2014), retinal waves (Stafford et al. 2009), CC0: ``load_retinal_waves``.
* Bruno, Frost & Humphries (2017), Aplysia pedal ganglion, MIT: ``load_aplysia``.
* Onken et al. (2016), salamander retina natural images, CC0: ``load_retina``.
"""

from pathlib import Path

import numpy as np
import scipy.io
from sklearn.utils import Bunch

from .._optional import require
from ..spikes import SpikeTrains


def load_retinal_waves(path):
    """Spontaneous retinal waves, one HDF5 file of the Eglen et al. (2014) repository.

    ``/spikes`` holds all spike times (s) unit by unit, ``/sCount`` the spikes per unit,
    ``/epos`` the electrode positions (metadata ``x``, ``y`` in um).

    Parameters
    ----------
    path : str or path-like
        The ``.h5`` file.

    Returns
    -------
    spikes : SpikeTrains
        All units, ``t_start=0``, ``t_stop`` the recording duration.
    """
    h5py = require("h5py", "nwb", "Reading the retinal-waves HDF5 file")
    with h5py.File(path, "r") as f:
        times = np.ravel(f["spikes"][()]).astype(np.float64)
        counts = np.ravel(f["sCount"][()]).astype(np.int64)
        epos = np.asarray(f["epos"][()]) if "epos" in f else None
        duration = (float(np.ravel(f["summary/duration"][()])[0])
                    if "summary/duration" in f else None)
    n_units = counts.size
    info = {}
    if epos is not None:
        epos = epos if epos.shape[0] == 2 else epos.T
        info = {"x": epos[0], "y": epos[1]}
    t_stop = max(duration or 0.0, float(np.nextafter(times.max(), np.inf)))
    return SpikeTrains(times, np.repeat(np.arange(n_units), counts), t_start=0.0, t_stop=t_stop,
                       unit_ids=np.arange(n_units), unit_info=info)


def load_aplysia(path):
    """One Aplysia pedal-ganglion recording of Bruno et al. (2017).

    ``spks`` is ``(n_spikes, 2)`` of ``[neuron id (1-based), time (s)]``. The pedal nerve
    was stimulated at 30-32.5 s; the returned ``stimulus`` interval says so.

    Parameters
    ----------
    path : str or path-like
        A ``Data/Spikes/<prep>da0N.mat`` file.

    Returns
    -------
    recording : :class:`~sklearn.utils.Bunch`
        ``spikes`` (units 1..max id, ``t_start=0``), ``stimulus`` ``(30.0, 32.5)``.
    """
    spks = scipy.io.loadmat(path)["spks"]
    ids, times = spks[:, 0].astype(np.int64), spks[:, 1].astype(np.float64)
    spikes = SpikeTrains(times, ids, t_start=0.0, unit_ids=np.arange(1, ids.max() + 1))
    return Bunch(spikes=spikes, stimulus=(30.0, 32.5), name=Path(path).stem)


def load_retina(path, window=0.3):
    """Salamander retina responses to flashed stimuli (Onken et al. 2016).

    ``Spikes`` is ``(n_stimuli, 1)`` of ``(n_neurons, n_trials)`` cells of spike times in
    ms after stimulus onset (whole ms, 1 to 300). Presentations are laid end to end, trial
    by trial (all stimuli of trial 0, then of trial 1, ...), each ``window`` seconds long,
    so contiguous blocks of time are whole trials.

    Parameters
    ----------
    path : str or path-like
        E.g. ``NaturalImages1.mat``.
    window : float, default=0.3
        Length of one presentation (s).

    Returns
    -------
    recording : :class:`~sklearn.utils.Bunch`
        ``spikes`` and ``presentations`` (dict of ``start``, ``stop``, ``stimulus``,
        ``trial`` arrays, one entry per presentation).
    """
    cells = scipy.io.loadmat(path)["Spikes"]
    n_stimuli = cells.shape[0]
    n_neurons, n_trials = cells[0, 0].shape
    times, units, start, stimulus, trial = [], [], [], [], []
    for j in range(n_trials):
        for i in range(n_stimuli):
            onset = (j * n_stimuli + i) * window
            start.append(onset), stimulus.append(i), trial.append(j)
            block = cells[i, 0]
            for u in range(n_neurons):
                t = np.ravel(block[u, j]).astype(np.float64) / 1000.0
                # Times are whole ms in (0, 300]: a spike at the window's end stays in
                # its own presentation rather than opening the next one.
                t = np.minimum(t[(t >= 0) & (t <= window)], np.nextafter(window, 0))
                times.append(onset + t)
                units.append(np.full(t.size, u))
    start = np.asarray(start)
    spikes = SpikeTrains(np.concatenate(times), np.concatenate(units), t_start=0.0,
                         t_stop=float(start[-1] + window), unit_ids=np.arange(n_neurons))
    return Bunch(spikes=spikes, presentations={
        "start": start, "stop": start + window, "stimulus": np.asarray(stimulus),
        "trial": np.asarray(trial)})
