"""The main job on recordings: behaviour labels, and a wide recording in three formats.

``--retina``: ``run_job`` on the salamander retina (Onken et al. 2016, shared data) with
image identity as a trials label; prints the label section of ``summary.md`` (decoding
of the image from all SpikeSAE latents against PCA at the SAE's mean active latents,
the latents of highest AUROC). ``--wide``: a 739-unit stand-in of an MEA recording
(:func:`sklearn_mini.datasets.make_spiking_features`, 15 minutes) written as an NWB file, a
Kilosort folder and a CSV spike table, each run through ``sklearn-mini run`` with the
sizes chosen from the data; prints the sizes, the wall time and the table of each.

    python benchmarks/bench_job.py --retina [--bin-size 0.3]
    python benchmarks/bench_job.py --wide [--n-jobs 1] [--formats csv]
    python benchmarks/bench_job.py --smoke     # a tiny retina run, for CI (skips without data)
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

MODELS = ("SpikeSAE ", "MatryoshkaSAE ", "PCA ", "NMF ", "CEBRA ")
DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def retina(bin_size, epochs, out):
    from sklearn_mini.io import LabelTable, load_retina
    from sklearn_mini.report import run_job

    path = DATA / "retina_onken2016" / "NaturalImages1.mat"
    if not path.exists():
        print(f"skipped: {path} not found")
        return
    rec = load_retina(path)
    p = rec.presentations
    labels = LabelTable("trials", np.column_stack([p["start"], p["stop"]]),
                        {"image": p["stimulus"]}, source="retina presentations")
    start = time.perf_counter()
    run_job(rec.spikes, out, bin_size=bin_size, d_sae="auto", topk="auto", level0="auto",
            verbose=0, n_epochs=epochs, labels=labels, log=lambda line: None,
            source=str(path))
    text = (out / "summary.md").read_text()
    print(f"salamander retina, {bin_size * 1000:g} ms bins ({time.perf_counter() - start:.0f} s)")
    print(text[text.index("Parameters:"):text.index("sklearn-mini 0")].strip())
    print(text[text.index("### Label"):text.index("Every latent's scores")].strip())


def wide(folder, formats, n_jobs):
    from sklearn_mini.datasets import make_spiking_features
    from sklearn_mini.io import write_spike_files

    spikes, _ = make_spiking_features(n_units=739, duration=900.0, random_state=0)
    print(f"stand-in: {spikes.n_units} units, {spikes.n_spikes} spikes, 900 s")
    paths = write_spike_files(spikes, folder, formats)
    for fmt in formats:
        out = folder / f"report_{fmt}"
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "sklearn_mini", "run", str(paths[fmt]),
                              "--verbose", "0", "--out", str(out), "--n-jobs", str(n_jobs)],
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        lines = run.stdout.splitlines()
        sizes = [line for line in lines if line.startswith("sizes:")]
        print(f"{fmt}: {wall:.0f} s wall; {sizes[0] if sizes else '(no sizes line)'}")
        table = [line for line in lines if line.startswith(("method ", *MODELS))]
        print("\n".join(f"  {line}" for line in table), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retina", action="store_true")
    parser.add_argument("--wide", action="store_true")
    parser.add_argument("--formats", nargs="+", default=["nwb", "kilosort", "csv"])
    parser.add_argument("--bin-size", type=float, default=0.05)
    parser.add_argument("--n-jobs", type=int, default=-1,
                        help="the job's --n-jobs (default -1, the CLI's default)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        if args.smoke:
            retina(0.3, 2, tmp / "retina")
            return
        if args.retina:
            retina(args.bin_size, "auto", tmp / "retina")
        if args.wide:
            wide(tmp, args.formats, args.n_jobs)


if __name__ == "__main__":
    main()
