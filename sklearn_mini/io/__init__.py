"""Readers of spike-sorted recordings into :class:`~sklearn_mini.SpikeTrains`.

Any of the formats below from its path (:func:`read_recording`). Formats: NWB units
tables (:func:`read_nwb`), Kilosort/Phy folders
(:func:`read_kilosort`), behaviour and stimulus label files (:func:`read_labels`), Allen
Brain Observatory sessions (:func:`load_allen_session`,
needs allensdk), pynapple and neo objects (:func:`from_pynapple`, :func:`to_pynapple`,
:func:`from_neo`, :func:`to_neo`), and the public recordings used by the tests and
examples (:func:`load_retinal_waves`, :func:`load_aplysia`, :func:`load_retina`).
Optional dependencies are imported only when a reader needs them.
"""

from .allen import ALLEN_SEED_SESSIONS, load_allen_session
from .convert import from_neo, from_pynapple, to_neo, to_pynapple
from .formats import read_recording
from .kilosort import read_kilosort
from .labels import LabelTable, read_labels
from .nwb import read_nwb
from .recordings import load_aplysia, load_retina, load_retinal_waves
from .writers import write_spike_files

__all__ = [
    "ALLEN_SEED_SESSIONS", "LabelTable", "from_neo", "from_pynapple", "load_allen_session",
    "load_aplysia", "load_retina", "load_retinal_waves", "read_kilosort", "read_labels",
    "read_nwb", "read_recording", "to_neo", "to_pynapple", "write_spike_files",
]
