"""Co-smoothing bits per spike on the shared recordings (issue 21's comparison, part).

The Neural Latents Benchmark's co-smoothing (:mod:`sklearn_mini.evaluation.cosmoothing`):
a quarter of the units (drawn with ``--unit-seed``) are held out; every model is fitted
on the other units of the first 70% of the time, a Poisson readout per held-out unit
learns those units from the model's latents on the same time, and the held-out units of
the last 30% are predicted from the held-in units alone, in bits per spike. Bins of
50 ms, units of at least 0.5 Hz (``SpikeBinner(min_rate=0.5, normalize=None)``: the
score needs counts); each model sees its held-in counts divided by their training
maximum (``MaxAbsScaler``), as the package's recordings benchmark does.

Models: ``SpikeSAE()`` and ``MatryoshkaSAE()`` with their defaults, PCA and NMF with 8 and
32 components. GPFA and LFADS are not in the package yet.

    python benchmarks/bench_cobps.py [--data ../shared/data] [--recordings ...]
    python benchmarks/bench_cobps.py --smoke     # simulated counts, small models (CI)
"""

import argparse
import pathlib
import time
import warnings

from bench_recordings import RECORDINGS
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from sklearn_mini import MatryoshkaSAE, SpikeBinner, SpikeSAE
from sklearn_mini.baselines import NMF, PCA
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.evaluation.cosmoothing import co_smoothing, held_out_units


def counts_split(spikes, bin_size=0.05):
    """Counts of the first 70% of the time and of the last 30% (units >= 0.5 Hz)."""
    cut = spikes.t_start + 0.7 * (spikes.t_stop - spikes.t_start)
    binner = SpikeBinner(bin_size=bin_size, min_rate=0.5, normalize=None)
    train = binner.fit_transform(spikes.restrict(spikes.t_start, cut))
    return train, binner.transform(spikes.restrict(cut, spikes.t_stop))


def models(n_held_in, smoke):
    """Label -> unfitted model (PCA and NMF at most as many components as held-in units)."""
    epochs = {"n_epochs": 3} if smoke else {}
    scaled = lambda model: make_pipeline(MaxAbsScaler(), model)  # noqa: E731
    nested = {"levels": ((8, 2), (32, 4))} if smoke else {}
    found = {"SpikeSAE()": scaled(SpikeSAE(random_state=0, **epochs)),
             "MatryoshkaSAE()": scaled(MatryoshkaSAE(random_state=0, **epochs, **nested))}
    for k in sorted({min(8, n_held_in), min(32, n_held_in)}):
        found[f"PCA({k})"] = scaled(PCA(k))
        found[f"NMF({k})"] = scaled(NMF(k, max_iter=500, random_state=0))
    return found


def run(name, train, test, unit_seed, smoke=False):
    held_out = held_out_units(train.shape[1], 0.25, random_state=unit_seed)
    print(f"\n{name}: {train.shape[0]} / {test.shape[0]} bins (train / test), "
          f"{train.shape[1]} units, {len(held_out)} held out")
    print("| model | co-bps | fit s |\n|---|---|---|")
    for label, model in models(train.shape[1] - len(held_out), smoke).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NMF convergence, dead latents
            result = co_smoothing(model, train, test, held_out)
        print(f"| {label} | {result.bits_per_spike:.4f} | {time.perf_counter() - start:.0f} |",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"))
    parser.add_argument("--recordings", nargs="+", default=["retinal waves"],
                        choices=list(RECORDINGS))
    parser.add_argument("--unit-seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="simulated counts, a few epochs (runs without the shared data)")
    args = parser.parse_args()
    if args.smoke:
        X, _ = make_sparse_counts(n_samples=3000, n_features=40, n_atoms=8, n_active=2,
                                  random_state=0)
        run("simulated (make_sparse_counts)", X[:2100], X[2100:], args.unit_seed, smoke=True)
        return
    for name in args.recordings:
        file, load = RECORDINGS[name]
        path = pathlib.Path(args.data) / file
        if not path.exists():
            print(f"skipped {name}: {path} not found")
            continue
        run(name, *counts_split(load(path)), args.unit_seed)


if __name__ == "__main__":
    main()
