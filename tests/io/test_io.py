"""Loaders: NWB, Kilosort/Phy, pynapple, neo, and the public recordings."""

import glob

import numpy as np
import pytest

from sklearn_mini import SpikeBinner, SpikeTrains
from sklearn_mini.io import (
    from_neo,
    from_pynapple,
    load_allen_session,
    load_aplysia,
    load_retina,
    load_retinal_waves,
    read_kilosort,
    read_nwb,
    to_neo,
    to_pynapple,
)
from sklearn_mini.io.kilosort import read_params

from ..conftest import SHARED_DATA

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason="the public recordings in ../shared/data are not on this machine",
)


# ----------------------------------------------------------------------- NWB
@pytest.fixture
def nwb_file(tmp_path):
    pynwb = pytest.importorskip("pynwb", reason="pynwb is in the 'test' extra")
    from datetime import datetime, timezone

    nwb = pynwb.NWBFile(session_description="test", identifier="t1",
                        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_unit_column(name="quality", description="curation")
    nwb.add_unit_column(name="firing_rate", description="Hz")
    nwb.add_unit(spike_times=[0.1, 0.5, 1.2, 3.3], quality="good", firing_rate=1.0, id=11)
    nwb.add_unit(spike_times=[0.2, 2.5], quality="noise", firing_rate=0.5, id=7)
    nwb.add_unit(spike_times=[0.05, 0.06, 2.9, 3.0, 3.4], quality="good", firing_rate=2.0, id=3)
    nwb.add_invalid_time_interval(start_time=1.0, stop_time=2.0)
    nwb.add_trial_column(name="stimulus", description="image")
    nwb.add_trial(start_time=0.0, stop_time=1.0, stimulus="a")
    nwb.add_trial(start_time=2.0, stop_time=3.0, stimulus="b")
    path = tmp_path / "session.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_read_nwb_units_metadata_invalid_times_and_tables(nwb_file):
    rec = read_nwb(nwb_file)
    spikes = rec.spikes
    assert list(spikes.unit_ids) == [3, 7, 11] and spikes.n_spikes == 11
    assert list(spikes.unit_info["quality"]) == ["good", "noise", "good"]
    assert list(spikes.unit_info["label"]) == ["good", "noise", "good"]
    np.testing.assert_allclose(spikes.spike_times(11), [0.1, 0.5, 1.2, 3.3])
    np.testing.assert_allclose(rec.invalid_times, [[1.0, 2.0]])
    assert spikes.intervals.shape == (2, 2) and spikes.intervals[0, 1] == 1.0
    trials = rec.tables["trials"]
    assert list(trials["stimulus"]) == ["a", "b"]
    # Invalid time is excluded from binning; labels filter on 'quality'.
    binner = SpikeBinner(bin_size=0.5, min_rate=0, unit_labels=("good",), normalize=None)
    X = binner.fit_transform(spikes)
    assert list(binner.unit_ids_) == [3, 11]
    assert X.sum() == 8  # the spike at 1.2 s lies in invalid time


def test_read_nwb_without_units(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py is in the 'test' extra")
    path = tmp_path / "empty.nwb"
    with h5py.File(path, "w") as f:
        f.create_group("acquisition")
    with pytest.raises(ValueError, match="no units table"):
        read_nwb(path)


# ----------------------------------------------------------------------- Kilosort / Phy
def _kilosort_folder(path, with_group=True):
    path.mkdir()
    np.save(path / "spike_times.npy", np.array([30, 300, 3000, 30000, 30030], dtype=np.uint64))
    np.save(path / "spike_clusters.npy", np.array([2, 5, 2, 5, 9], dtype=np.int32))
    (path / "params.py").write_text(
        "dat_path = 'raw.bin'\nn_channels_dat = 385\ndtype = 'int16'\nsample_rate = 30000.0\n"
        "hp_filtered = False\n")
    (path / "cluster_KSLabel.tsv").write_text("cluster_id\tKSLabel\n2\tgood\n5\tmua\n9\tgood\n")
    if with_group:
        (path / "cluster_group.tsv").write_text("cluster_id\tgroup\n2\tgood\n5\tgood\n9\tnoise\n")
    (path / "cluster_Amplitude.tsv").write_text(
        "cluster_id\tAmplitude\n2\t55.1\n5\t40.0\n9\t12.5\n")
    return path


def test_read_kilosort_with_phy_curation(tmp_path):
    spikes = read_kilosort(_kilosort_folder(tmp_path / "ks"))
    assert list(spikes.unit_ids) == [2, 5, 9]
    np.testing.assert_allclose(spikes.spike_times(5), [0.01, 1.0])
    np.testing.assert_allclose(spikes.spike_times(9), [1.001])
    assert list(spikes.unit_info["label"]) == ["good", "good", "noise"]  # cluster_group wins
    assert list(spikes.unit_info["Amplitude"]) == ["55.1", "40.0", "12.5"]
    binner = SpikeBinner(min_rate=0, unit_labels=("good",)).fit(spikes)
    assert list(binner.unit_ids_) == [2, 5]


def test_read_kilosort_labels_fallback_and_params(tmp_path):
    spikes = read_kilosort(_kilosort_folder(tmp_path / "ks", with_group=False))
    assert list(spikes.unit_info["label"]) == ["good", "mua", "good"]
    assert read_params(tmp_path / "ks" / "params.py")["sample_rate"] == 30000.0


def test_params_py_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "params.py").write_text(
        f"import os\nos.system('touch {marker}')\nsample_rate = 20000\n")
    assert read_params(tmp_path / "params.py") == {"sample_rate": 20000}
    assert not marker.exists()


def test_read_kilosort_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="spike_times.npy"):
        read_kilosort(tmp_path)


# ----------------------------------------------------------------------- pynapple / neo
def _small():
    return SpikeTrains([0.1, 0.2, 0.4, 0.9, 1.5], [1, 2, 1, 2, 1], t_start=0.0, t_stop=2.0,
                       unit_info={"region": np.array(["V1", "LGN"], dtype=object)})


def test_pynapple_round_trip():
    pytest.importorskip("pynapple", reason="pynapple is in the 'test' extra")
    spikes = _small()
    group = to_pynapple(spikes)
    assert sorted(group.keys()) == [1, 2]
    back = from_pynapple(group)
    np.testing.assert_allclose(back.spike_times(1), spikes.spike_times(1))
    assert list(back.unit_info["region"]) == ["V1", "LGN"]
    np.testing.assert_allclose(back.intervals, [[0.0, 2.0]])
    b = SpikeBinner(bin_size=0.5, min_rate=0, normalize=None)
    np.testing.assert_array_equal(b.fit_transform(group), b.fit_transform(spikes))


def test_neo_round_trip():
    pytest.importorskip("neo", reason="neo is in the 'test' extra")
    spikes = _small()
    trains = to_neo(spikes)
    assert len(trains) == 2 and trains[0].annotations["region"] == "V1"
    back = from_neo(trains)
    np.testing.assert_allclose(back.spike_times(2), spikes.spike_times(2))
    assert back.t_stop == 2.0
    b = SpikeBinner(bin_size=0.5, min_rate=0, normalize=None)
    np.testing.assert_array_equal(b.fit_transform(trains), b.fit_transform(spikes))


def test_allen_needs_allensdk():
    try:
        import allensdk  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install -e \"\.\[allen\]\""):
            load_allen_session(732592105, "/tmp/allen-cache")
    else:  # pragma: no cover - allensdk is never required
        pytest.skip("allensdk is installed; this test checks the error without it")


# ----------------------------------------------------------------------- public recordings
@needs_shared
def test_retinal_waves_recording():
    spikes = load_retinal_waves(
        SHARED_DATA / "retinal_waves_eglen2014" / "Stafford2009_WT_37C_Dorsal_2008-06-27-0.h5")
    assert spikes.n_units == 193
    assert spikes.t_stop == pytest.approx(7199, abs=2)
    binner = SpikeBinner(bin_size=0.05, min_rate=0.5).fit(spikes)
    assert len(binner.unit_ids_) == 66  # units >= 0.5 Hz


@needs_shared
def test_aplysia_recordings():
    files = sorted(glob.glob(str(SHARED_DATA / "aplysia_bruno2017" / "Data" / "Spikes" / "*.mat")))
    assert len(files) == 30
    import scipy.io

    for path in files[::7]:
        rec = load_aplysia(path)
        ids = scipy.io.loadmat(path)["spks"][:, 0]
        assert rec.spikes.n_units == int(ids.max()) and 75 <= rec.spikes.n_units <= 160
        assert rec.spikes.n_spikes == ids.size


@needs_shared
@pytest.mark.parametrize("name, n_units", [("NaturalImages1.mat", 38), ("NaturalImages2.mat", 49)])
def test_retina_recordings(name, n_units):
    rec = load_retina(SHARED_DATA / "retina_onken2016" / name)
    assert rec.spikes.n_units == n_units
    assert rec.presentations["start"].size == 60 * 30
    X = SpikeBinner(bin_size=0.3, min_rate=0, normalize=None).fit_transform(rec.spikes)
    assert X.shape == (1800, n_units)  # one row per presentation
    assert X.sum() == rec.spikes.n_spikes


def test_a_missing_optional_dependency_names_the_checkout_install():
    # Issue 22 bugs 13-14: the hint said pip install 'sklearn-mini[plot]' although the
    # README installs from a checkout, and "The report's figures needs" read wrong.
    from sklearn_mini._optional import require

    with pytest.raises(ImportError) as error:
        require("no_such_module.pyplot", "plot", "Drawing the report's figures")
    message = str(error.value)
    assert message.startswith("Drawing the report's figures: the optional dependency "
                              "'no_such_module' is not installed.")
    assert 'pip install -e ".[plot]"' in message and "pip install no_such_module" in message


def test_nwb_span_is_the_observation_intervals_when_the_file_has_them(tmp_path):
    # Issue 22 bug 9: one start rule for every reader, the recording's own when known.
    pynwb = pytest.importorskip("pynwb", reason="pynwb is in the 'test' extra")
    from datetime import datetime, timezone

    nwb = pynwb.NWBFile(session_description="t", identifier="t",
                        session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_unit(spike_times=[5.5, 7.0], obs_intervals=[[5.0, 9.0]], id=1)
    nwb.add_unit(spike_times=[6.0], obs_intervals=[[4.0, 8.0]], id=2)
    path = tmp_path / "observed.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    spikes = read_nwb(path).spikes
    assert (spikes.t_start, spikes.t_stop) == (4.0, 9.0)
