"""Allen Brain Observatory Visual Coding (Neuropixels) sessions through allensdk."""

from .._optional import require
from .nwb import read_nwb

#: Allen Visual Coding Neuropixels session ids of the seed analyses: 732592105,
#: 742951821 and 760693773.
ALLEN_SEED_SESSIONS = (732592105, 742951821, 760693773)


def load_allen_session(session_id, cache_dir):
    """Download (once) and read an Allen Visual Coding Neuropixels session.

    Needs ``allensdk`` (``pip install -e ".[allen]"``) and network access the
    first time; the NWB file is cached in ``cache_dir`` and read with :func:`read_nwb`,
    so units keep their quality columns (``label`` = ``quality``), ``invalid_times`` are
    excluded from the valid intervals, and stimulus presentation tables come back as
    DataFrames. The seed notes used sessions 732592105, 742951821 and 760693773.

    Parameters
    ----------
    session_id : int
        Ecephys session id.
    cache_dir : str or path-like
        Folder of the allensdk cache (manifest and NWB files).

    Returns
    -------
    recording : :class:`~sklearn.utils.Bunch`
        As :func:`read_nwb`.
    """
    cache_mod = require("allensdk.brain_observatory.ecephys.ecephys_project_cache", "allen",
                        "Loading Allen Brain Observatory sessions")
    from pathlib import Path

    cache = cache_mod.EcephysProjectCache.from_warehouse(
        manifest=str(Path(cache_dir) / "manifest.json"))
    session = cache.get_session_data(int(session_id))
    return read_nwb(session.api.path)
