"""The main job on a recording: sizes chosen from the data, labels scored, feature cards
(issue 19 items 2-5)."""

import csv

import numpy as np
import pytest

from sklearn_mini.cli import main
from sklearn_mini.datasets import make_spiking_features
from sklearn_mini.report import choose_sizes
from sklearn_mini.sae import auto_d_sae, auto_topk

FAST = ["--epochs", "3", "--cebra-iterations", "20", "--verbose", "0"]


def test_choose_sizes_by_hand():
    X = np.zeros((1000, 36))
    X[::2, :6] = 1.0  # non-empty bins have 6 active units
    sizes, reasons = choose_sizes(X)
    # topk: round(sqrt(36) / 2) = 3, at most 6 / 2 = 3; d_sae: min(72, 1000 // 10) = 72.
    assert sizes == {"d_sae": 72, "topk": 3, "level0": 14}
    assert sizes["topk"] == auto_topk(36, 6.0) and sizes["d_sae"] == auto_d_sae(1000, 36, 3)
    assert "6.0 units active" in reasons[0] and "ten of the 1000 training bins" in reasons[1]
    given, reasons = choose_sizes(X, d_sae=10, topk=1, level0=4)
    assert given == {"d_sae": 10, "topk": 1, "level0": 4}
    assert all(line.endswith("given") for line in reasons)


@pytest.mark.slow
def test_run_picks_sizes_from_the_data_and_scores_the_labels(tmp_path, capsys):
    spikes, truth = make_spiking_features(n_units=30, duration=120, random_state=2)
    path = tmp_path / "spikes.npz"
    np.savez(path, times=spikes.times, units=spikes.units)
    # Trials: the strongest coarse feature of every 1-s block, as a stimulus label.
    labels = tmp_path / "trials.csv"
    blocks = np.arange(0, 120, 1.0)
    with open(labels, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start", "stop", "stimulus"])
        for start in blocks:
            writer.writerow([start, start + 1.0, f"s{int(start) % 3}"])
    out = tmp_path / "report"
    assert main(["run", str(path), *FAST, "--behaviour", str(labels), "--stability-seeds", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    assert "- topk " in summary and "twice the 30 units" in summary  # what and why
    assert "d_sae=40," not in summary  # not the demo's sizes
    assert "### Label `stimulus`" in summary and "Decoding (balanced accuracy" in summary
    assert "PCA(" in summary and "Highest AUROC" in summary
    decoding = next(line for line in summary.splitlines() if line.startswith("- Decoding"))
    try:
        import cebra  # noqa: F401
    except ImportError:
        pass
    else:  # the job's CEBRA embedding is decoded on the same bins
        assert "CEBRA " in decoding
    with open(out / "latent_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["condition"] for row in rows} == {"s0", "s1", "s2"}
    assert all(0.0 <= float(row["auroc"]) <= 1.0 for row in rows)
    html = (out / "features.html").read_text()
    assert html.count('<div class="card"') > 0 and "stimulus: best AUROC" in html
    assert "Seed stability (1 other seed(s))" in summary and "seed stability " in html
    assert "features.html" in printed


def test_a_label_without_values_in_the_held_out_time_is_reported_not_scored(tmp_path):
    spikes, _ = make_spiking_features(n_units=20, duration=60, random_state=1)
    path = tmp_path / "spikes.npz"
    np.savez(path, times=spikes.times, units=spikes.units)
    labels = tmp_path / "early.csv"
    labels.write_text("start,stop,stimulus\n0,10,a\n10,20,b\n")  # all in training time
    out = tmp_path / "r"
    assert main(["run", str(path), *FAST, "--behaviour", str(labels), "--stability-seeds", "1",
                 "--out", str(out)]) == 0
    assert "Not scored: 0 held-out bins have a value" in (out / "summary.md").read_text()


def test_write_spike_files_refuses_an_unknown_format(tmp_path):
    import pytest

    from sklearn_mini.io import write_spike_files

    spikes, _ = make_spiking_features(n_units=5, duration=5, random_state=0)
    with pytest.raises(ValueError, match=r"Unknown formats \['mat'\]"):
        write_spike_files(spikes, tmp_path, formats=("csv", "mat"))
    assert not (tmp_path / "rec.csv").exists()  # nothing written before the check


def test_write_spike_files_creates_the_folder_and_reads_back(tmp_path):
    from sklearn_mini.io import write_spike_files
    from sklearn_mini.report import read_recording

    spikes, _ = make_spiking_features(n_units=5, duration=5, random_state=0)
    paths = write_spike_files(spikes, tmp_path / "new" / "deeper", formats=("csv",))
    back = read_recording(paths["csv"])
    assert back.n_spikes == spikes.n_spikes and back.n_units == spikes.n_units
    for _ in range(2):  # writing again into the same folder overwrites every format
        paths = write_spike_files(spikes, tmp_path / "again", formats=("kilosort", "csv", "npz"))
    assert read_recording(paths["kilosort"]).n_spikes == spikes.n_spikes


def test_a_negative_number_of_stability_seeds_is_one_line(tmp_path, capsys):
    spikes, _ = make_spiking_features(n_units=10, duration=30, random_state=0)
    path = tmp_path / "spikes.npz"
    np.savez(path, times=spikes.times, units=spikes.units)
    assert main(["run", str(path), *FAST, "--stability-seeds", "-1",
                 "--out", str(tmp_path / "r")]) == 2
    assert "stability_seeds must be a whole number >= 0" in capsys.readouterr().err


def test_the_dense_rows_never_get_a_component_per_unit():
    from sklearn_mini.report import default_models

    def components(n_units, d_sae):
        models = default_models(n_units, d_sae, topk=2, level0=4, seed=0, verbose=0)
        assert models["PCA"].n_components == models["NMF"].n_components
        return models["PCA"].n_components

    # As many as the SAE's latents (the demo: 40 of 100 units), at most half the units
    # (71 units, 142 latents: 35) and at most 128 (722 units, 1260 latents).
    assert [components(100, 40), components(71, 142), components(722, 1260)] == [40, 35, 128]
