"""The README quick start, the demo command and the documentation examples run."""

import pathlib
import subprocess
import sys

import pytest

from sklearn_mini.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def test_demo_prints_held_out_metrics(capsys):
    assert main(["demo", "--n-samples", "3000", "--epochs", "5", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    for text in ("held-out explained variance", "held-out mean L0", "dead latents",
                 "planted features recovered"):
        assert text in out


def test_python_dash_m_runs_the_demo():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_mini", "demo", "--n-samples", "2000", "--epochs", "2",
         "--verbose", "0"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "held-out explained variance" in result.stdout


def test_examples_exist():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_documentation_example_runs(script):
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
