"""The README quick start, the demo command and the documentation examples run."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from sklearn_mini.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


FAST = ["--epochs", "3", "--cebra-iterations", "20", "--verbose", "0"]
TINY = ["--duration", "60", *FAST]


def test_demo_prints_the_comparison_and_writes_the_report(capsys, tmp_path):
    assert main(["demo", *TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("held-out EV", "SpikeSAE", "MatryoshkaSAE", "PCA", "NMF", "dead latents",
                 "planted features recovered by SpikeSAE"):
        assert text in out
    summary = (tmp_path / "summary.md").read_text()
    assert "| SpikeSAE |" in summary and "Planted features recovered" in summary
    for name in ("comparison.png", "training_curve.png", "r2_per_unit.png",
                 "latent_raster.png", "feature_recovery.png", "selectivity.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"({name})" in summary


@pytest.mark.parametrize("fmt", ["npz", "csv"])
def test_run_reads_a_spike_table(fmt, tmp_path, capsys):
    from sklearn_mini.datasets import make_spiking_features

    spikes, _ = make_spiking_features(n_units=20, duration=60, random_state=1)
    path = tmp_path / f"spikes.{fmt}"
    if fmt == "npz":
        np.savez(path, times=spikes.times, units=spikes.units)
    else:
        np.savetxt(path, np.column_stack([spikes.times, spikes.units]), delimiter=",",
                   header="time,unit", comments="")
    assert main(["run", str(path), *FAST, "--d-sae", "16", "--out", str(tmp_path / "r")]) == 0
    assert "Read" in capsys.readouterr().out
    assert (tmp_path / "r" / "summary.md").exists()
    assert not (tmp_path / "r" / "feature_recovery.png").exists()  # no ground truth


def test_run_names_the_missing_column_of_a_spike_table(tmp_path, capsys):
    path = tmp_path / "spikes.csv"
    np.savetxt(path, np.ones((3, 2)), delimiter=",", header="Time,cell", comments="")
    assert main(["run", str(path), *FAST, "--out", str(tmp_path / "r")]) == 2
    assert "no unit column" in capsys.readouterr().err


@pytest.mark.parametrize("name, message", [
    ("missing.nwb", "does not exist"),
    ("recording.mat", "expected an .nwb file"),
    ("empty.csv", "No spikes in the input"),
])
def test_run_on_bad_input_prints_one_line_and_exits_non_zero(tmp_path, capsys, name, message):
    path = tmp_path / name
    if name.endswith(".mat"):
        path.write_bytes(b"not a recording")
    if name.endswith(".csv"):
        path.write_text("time,unit\n")
    assert main(["run", str(path), *FAST, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_lists_both_commands_and_version_is_printed(capsys):
    # A leading option used to be taken for the demo's, so --help hid `run`.
    with pytest.raises(SystemExit) as exit_help:
        main(["--help"])
    assert exit_help.value.code == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()
              if line.startswith("    ") and line.split()]
    assert "demo" in listed and "run" in listed
    with pytest.raises(SystemExit):
        main(["--version"])
    from sklearn_mini import __version__
    assert capsys.readouterr().out.strip() == f"sklearn-mini {__version__}"


def test_python_dash_m_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_mini", *TINY, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "held-out EV" in result.stdout and (tmp_path / "summary.md").exists()


def test_examples_exist():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_documentation_example_runs(script):
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
