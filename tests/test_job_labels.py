"""The main job on a recording: sizes chosen from the data, labels scored, feature cards
(issue 19 items 2-5)."""

import csv

import numpy as np

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
    assert main(["run", str(path), *FAST, "--behaviour", str(labels), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    assert "- topk " in summary and "twice the 30 units" in summary  # what and why
    assert "d_sae=40," not in summary  # not the demo's sizes
    assert "### Label `stimulus`" in summary and "Decoding (balanced accuracy" in summary
    assert "PCA(" in summary and "Highest AUROC" in summary
    with open(out / "latent_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["condition"] for row in rows} == {"s0", "s1", "s2"}
    assert all(0.0 <= float(row["auroc"]) <= 1.0 for row in rows)
    html = (out / "features.html").read_text()
    assert html.count('<div class="card"') > 0 and "stimulus: best AUROC" in html
    assert "features.html" in printed


def test_a_label_without_values_in_the_held_out_time_is_reported_not_scored(tmp_path):
    spikes, _ = make_spiking_features(n_units=20, duration=60, random_state=1)
    path = tmp_path / "spikes.npz"
    np.savez(path, times=spikes.times, units=spikes.units)
    labels = tmp_path / "early.csv"
    labels.write_text("start,stop,stimulus\n0,10,a\n10,20,b\n")  # all in training time
    out = tmp_path / "r"
    assert main(["run", str(path), *FAST, "--behaviour", str(labels), "--out", str(out)]) == 0
    assert "Not scored: 0 held-out bins have a value" in (out / "summary.md").read_text()


def test_write_spike_files_refuses_an_unknown_format(tmp_path):
    import pytest

    from sklearn_mini.io import write_spike_files

    spikes, _ = make_spiking_features(n_units=5, duration=5, random_state=0)
    with pytest.raises(ValueError, match=r"Unknown formats \['mat'\]"):
        write_spike_files(spikes, tmp_path, formats=("csv", "mat"))
    assert not (tmp_path / "rec.csv").exists()  # nothing written before the check
