"""The README quick start, the demo command and the documentation examples run."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from sklearn_mini import SpikeTrains
from sklearn_mini.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


FAST = ["--epochs", "3", "--cebra-iterations", "20", "--verbose", "0"]
TINY = ["--duration", "60", *FAST]


@pytest.mark.slow
def test_demo_prints_the_comparison_and_writes_the_report(capsys, tmp_path):
    assert main(["demo", *TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("held-out EV", "SpikeSAE", "MatryoshkaSAE", "PCA", "NMF", "dead latents",
                 "planted features recovered by SpikeSAE"):
        assert text in out
    summary = (tmp_path / "summary.md").read_text()
    assert "| SpikeSAE |" in summary and "Planted features recovered" in summary
    assert "$" not in summary  # no raw matplotlib mathtext in the alt text (issue 22 bug 14)
    from sklearn_mini import __version__  # the summary names data, QC, settings and code
    for text in ("Data: simulated by make_spiking_features(n_units=100, duration=60, "
                 "random_state=0)", "Unit QC kept ", "Parameters: bin_size=0.05, ",
                 "seed=0", f"sklearn-mini {__version__}, torch "):
        assert text in summary, text
    assert "Unit QC kept " in out
    # Issue 19 item 1: the SAE beside models with as many active dimensions (its topk, 1).
    assert "## At matched active dimensions" in summary and "- k=1: SpikeSAE " in summary
    assert "| dictionary (OMP) | 1 |" in summary and "held-out EV at matched active" in out
    for name in ("comparison.png", "training_curve.png", "r2_per_unit.png",
                 "latent_raster.png", "feature_recovery.png", "selectivity.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"({name})" in summary


@pytest.mark.slow
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
    with pytest.raises((OSError, ValueError), match=message):  # --traceback: the real error
        main(["run", str(path), *FAST, "--traceback", "--out", str(tmp_path / "r")])


@pytest.mark.slow
def test_demo_frontier_fits_every_model_at_every_k_and_draws_it(capsys, tmp_path):
    assert main(["demo", *TINY, "--frontier", "1", "2", "--out", str(tmp_path)]) == 0
    summary = (tmp_path / "summary.md").read_text()
    for k in (1, 2):
        for method in ("SpikeSAE", "PCA", "NMF", "dictionary (OMP)"):
            assert f"| {method} | {k} |" in summary, (method, k)
        assert f"- k={k}: SpikeSAE " in summary
    assert (tmp_path / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert summary.index("(frontier.png)") < summary.index("(comparison.png)")
    assert main(["demo", *TINY, "--frontier", "0", "--out", str(tmp_path)]) == 2
    assert "Matched dimensions [0] out of range" in capsys.readouterr().err


def test_a_first_level_as_big_as_the_sae_is_named_in_cli_terms(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_code:
        main(["demo", *TINY, "--d-sae", "8", "--out", str(tmp_path)])
    assert exit_code.value.code == 2
    assert "--level0 (8) must be smaller than --d-sae (8)" in capsys.readouterr().err


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


@pytest.mark.slow
def test_python_dash_m_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_mini", *TINY, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "held-out EV" in result.stdout and (tmp_path / "summary.md").exists()


def test_examples_exist():
    assert len(EXAMPLES) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_documentation_example_runs(script):
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


# ------------------------------------------------------ one recording, every file format
def _write_every_format(spikes, folder, fs=30000.0):
    """The same spikes as NWB, a Kilosort folder, a CSV and an NPZ table."""
    from sklearn_mini.io import write_spike_files

    return write_spike_files(spikes, folder, sampling_rate=fs)


def _sorted_pairs(spikes):
    order = np.lexsort((spikes.units, spikes.times))
    return np.column_stack([spikes.times[order], spikes.units[order]])


def test_every_file_format_gives_the_same_recording_bins_and_scores(tmp_path):
    # Issue 22 bug 9: NWB/CSV/NPZ started the recording at its first spike and Kilosort
    # at 0, so the bin grid and the 70/30 split moved with the file format.
    pytest.importorskip("pynwb", reason="pynwb is in the 'test' extra")
    from sklearn_mini import SpikeBinner
    from sklearn_mini.datasets import make_spiking_features
    from sklearn_mini.report import read_recording

    simulated, _ = make_spiking_features(n_units=12, duration=40, random_state=3)
    fs = 30000.0
    late = simulated.restrict(1.3, simulated.t_stop)  # the first spike is well after 0
    spikes = SpikeTrains(np.round(late.times * fs) / fs, late.units)
    read = {fmt: read_recording(path)
            for fmt, path in _write_every_format(spikes, tmp_path, fs).items()}
    reference = read.pop("kilosort")
    assert reference.t_start == 0.0
    binner = SpikeBinner(bin_size=0.05, min_rate=0.5).fit(reference)
    for fmt, rec in read.items():
        assert (rec.t_start, rec.t_stop) == (reference.t_start, reference.t_stop), fmt
        np.testing.assert_array_equal(rec.times, reference.times, err_msg=fmt)
        # Spikes at the same sample may come in another order: compare them as a set.
        np.testing.assert_array_equal(_sorted_pairs(rec), _sorted_pairs(reference), err_msg=fmt)
        np.testing.assert_array_equal(SpikeBinner(bin_size=0.05, min_rate=0.5).fit(rec)
                                      .transform(rec), binner.transform(reference), err_msg=fmt)


@pytest.mark.slow
def test_run_gives_the_same_table_for_every_file_format(tmp_path, capsys):
    pytest.importorskip("pynwb", reason="pynwb is in the 'test' extra")
    from sklearn_mini.datasets import make_spiking_features

    simulated, _ = make_spiking_features(n_units=12, duration=40, random_state=3)
    late = simulated.restrict(1.3, simulated.t_stop)
    spikes = SpikeTrains(np.round(late.times * 30000.0) / 30000.0, late.units)
    paths = _write_every_format(spikes, tmp_path)
    tables = []
    for fmt in ("nwb", "kilosort", "csv", "npz"):
        out = tmp_path / f"report_{fmt}"
        assert main(["run", str(paths[fmt]), *FAST, "--d-sae", "16", "--out", str(out)]) == 0
        summary = (out / "summary.md").read_text()
        # The timings may differ, and CEBRA's CPU training is not bit-reproducible
        # between two runs of the same data (its third decimal moves).
        tables.append([line.rsplit("|", 3)[0] for line in summary.splitlines()
                       if line.startswith("| ") and not line.startswith("| CEBRA")])
    capsys.readouterr()
    assert all(table == tables[0] for table in tables) and len(tables[0]) > 2


def test_string_unit_ids_from_a_csv_and_an_object_array(tmp_path):
    # Issue 22 bug 4: genfromtxt turned "cell_59" into NaN and the reader blamed
    # floating-point ids; an object array with string ids was refused.
    from sklearn_mini import as_spike_trains
    from sklearn_mini.report import read_recording

    path = tmp_path / "spikes.csv"
    path.write_text("time,unit\n0.1,cell_59\n0.25, cell_3\n0.3,cell_59\n")
    rec = read_recording(path)
    assert rec.unit_ids.tolist() == ["cell_3", "cell_59"]
    np.testing.assert_array_equal(rec.spike_times("cell_59"), [0.1, 0.3])
    rows = np.array([[0.1, "cell_59"], [0.25, "cell_3"], [0.3, "cell_59"]], dtype=object)
    spikes = as_spike_trains(rows)
    assert spikes.unit_ids.tolist() == ["cell_3", "cell_59"]
    np.testing.assert_array_equal(spikes.spike_times("cell_59"), [0.1, 0.3])
    with pytest.raises(ValueError, match="must be spike times"):
        as_spike_trains(np.array([["a", "cell_3"]], dtype=object))
    path.write_text("time,unit\nsoon,cell_3\n")
    with pytest.raises(ValueError, match="not numeric"):
        read_recording(path)


def test_a_bin_size_typo_on_the_command_line_is_one_line_not_a_memory_error(tmp_path, capsys):
    path = tmp_path / "spikes.csv"
    path.write_text("time,unit\n" + "".join(f"{t / 10},{t % 3}\n" for t in range(1, 1000)))
    assert main(["run", str(path), *FAST, "--bin-size", "1e-9", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "would make a " in err and "max_bytes" in err and len(err.strip().splitlines()) == 1


def test_the_guide_documents_every_sparsity_loss_and_extra():
    # Issue 22 bug 13: the SpikeSAE page listed 3 of 5 sparsities and 2 of 4 losses, and
    # install.rst described the test extra wrongly.
    import re

    from sklearn_mini._core.losses import LOSSES
    from sklearn_mini._core.sparsity import SPARSITIES

    guide = (ROOT / "docs" / "user_guide" / "spikesae.rst").read_text()
    for name in SPARSITIES:
        assert f"``sparsity='{name}'``" in guide, name
    for name in LOSSES:
        assert f"``loss='{name}'``" in guide, name
    # tomllib is Python >= 3.11; the optional-dependencies table is simple enough to read.
    table = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1]
    table = table.split("\n[")[0]
    extras = dict(re.findall(r"^(\w+) = \[(.*?)\]$", table, flags=re.M | re.S))
    assert {"test", "docs", "plot", "nwb"} <= set(extras)
    install = (ROOT / "docs" / "install.rst").read_text()
    for extra in extras:
        assert f"``{extra}``" in install, extra
    described = install.split("``test``")[1].split("``docs``")[0]
    test_packages = re.findall(r'"([A-Za-z0-9_.-]+)', extras["test"])
    assert "pynwb" in test_packages and "matplotlib" in test_packages
    for package in test_packages:  # the test extra's description names every package
        assert package in described, package
