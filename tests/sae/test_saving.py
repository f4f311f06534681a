"""Pickle-free save and load of the binner and of fitted Pipelines (issue 22 friction)."""

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from sklearn_mini import MatryoshkaSAE, SpikeBinner, SpikeSAE, SpikeTrains, load, save

from ..conftest import simulated_spikes


@pytest.fixture
def spikes():
    arr = simulated_spikes(n_units=8, duration=30.0)
    names = np.array([f"cell_{u}" for u in range(8)])  # string ids survive the round trip
    return SpikeTrains(arr[:, 0], names[arr[:, 1].astype(int)],
                       unit_info={"label": np.array(["good"] * 7 + ["mua"])})


def test_a_fitted_binner_round_trips_without_pickle(spikes, tmp_path):
    binner = SpikeBinner(bin_size=0.1, min_rate=1.0, unit_labels=("good",)).fit(spikes)
    assert len(binner.unit_ids_) < 8  # QC dropped something, so qc_ is worth keeping
    save(binner, tmp_path / "b")
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["class"] == "SpikeBinner"
    loaded = load(tmp_path / "b")
    np.testing.assert_array_equal(loaded.transform(spikes), binner.transform(spikes))
    assert loaded.get_params() == binner.get_params()
    np.testing.assert_array_equal(loaded.unit_ids_, binner.unit_ids_)
    assert loaded.unit_ids_.dtype.kind == "U"
    for key in ("unit_id", "firing_rate", "isi_violations", "kept", "reason"):
        np.testing.assert_array_equal(loaded.qc_[key], binner.qc_[key])
    assert loaded.get_feature_names_out().tolist() == binner.get_feature_names_out().tolist()


def test_a_fitted_pipeline_of_our_steps_round_trips(spikes, tmp_path):
    pipe = make_pipeline(SpikeBinner(bin_size=0.1, min_rate=0.5),
                         SpikeSAE(d_sae=8, topk=2, n_epochs=2, random_state=0)).fit(spikes)
    save(pipe, tmp_path / "p")
    loaded = load(tmp_path / "p")
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    np.testing.assert_array_equal(loaded.transform(spikes), pipe.transform(spikes))
    assert loaded.score(spikes) == pytest.approx(pipe.score(spikes))
    mat = make_pipeline(SpikeBinner(bin_size=0.1),
                        MatryoshkaSAE(levels=((4, 1), (8, 2)), n_epochs=2, random_state=0))
    mat.fit(spikes)
    save(mat, tmp_path / "m")
    np.testing.assert_array_equal(load(tmp_path / "m").transform(spikes), mat.transform(spikes))


def test_a_pipeline_with_a_foreign_step_is_refused_before_anything_is_written(spikes, tmp_path):
    pipe = make_pipeline(SpikeBinner(bin_size=0.1), PCA(2)).fit(spikes)
    with pytest.raises(TypeError, match="Step 'pca' of the Pipeline: PCA has no pickle-free"):
        save(pipe, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(TypeError, match="use pickle or skops"):
        save(PCA(2), tmp_path / "y")


def test_an_unfitted_binner_or_pipeline_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SpikeBinner().save(tmp_path / "b")
    with pytest.raises(NotFittedError):
        save(make_pipeline(SpikeBinner(), SpikeSAE()), tmp_path / "p")
    assert not (tmp_path / "p").exists()  # nothing half-written
