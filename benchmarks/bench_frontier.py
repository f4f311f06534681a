"""Held-out explained variance at matched active dimensions: the sparsity-fidelity frontier.

For every ``k`` in ``--ks``, :func:`sklearn_mini.compare.matched_models` (SpikeSAE with
``topk=k``, PCA and NMF with ``k`` components, an OMP dictionary with ``k`` non-zeros and
as many atoms as the SAE has latents) is fitted on the first 70% of the time and scored
on the last 30%, through :func:`sklearn_mini.compare.frontier` with that one split.

Cases: the main job's simulation (``make_spiking_features``, seed 0, the job's SAE:
``d_sae=40``, BatchTopK), and the shared recordings of ``bench_recordings.py`` (50 ms,
units >= 0.5 Hz, each unit divided by its training maximum) with the SAE's defaults
except ``topk=k`` and ``d_sae = auto_d_sae(n_bins, n_units, k)``; each recording is
skipped when ``../shared/data`` lacks it.

    python benchmarks/bench_frontier.py [--data ../shared/data] [--ks 1 2 4 8]
    python benchmarks/bench_frontier.py --smoke    # a short simulation, k = 1 and 2, CI
"""

import argparse
import time
import warnings

import numpy as np
from bench_recordings import RECORDINGS, load_split

from sklearn_mini import SpikeBinner
from sklearn_mini.compare import frontier, frontier_verdict, matched_models
from sklearn_mini.datasets import make_spiking_features
from sklearn_mini.sae import auto_d_sae

METHODS = ["SpikeSAE", "PCA", "NMF", "dictionary (OMP)"]


def simulation(duration):
    """The job's simulation, binned and split as the job does."""
    spikes, _ = make_spiking_features(duration=duration, random_state=0)
    cut = spikes.t_start + 0.7 * (spikes.t_stop - spikes.t_start)
    binner = SpikeBinner(bin_size=0.05, min_rate=0.5)
    train = binner.fit_transform(spikes.restrict(spikes.t_start, cut))
    return train, binner.transform(spikes.restrict(cut, spikes.t_stop))


def run_case(name, train, test, ks, models):
    X = np.vstack([train, test]).astype(np.float64)
    split = [(np.arange(len(train)), np.arange(len(train), len(X)))]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NMF convergence, OMP's early stops
        table = frontier(X, ks=ks, models=models, cv=split)
    print(f"\n## {name}: {train.shape[0]} training bins x {train.shape[1]} units "
          f"({time.perf_counter() - start:.0f} s)\n")
    print("| k | " + " | ".join(METHODS) + " |")
    print("|---" * (len(METHODS) + 1) + "|")
    for k in ks:
        at_k = table[table["k"] == k].set_index("method")
        cells = [f"{at_k.loc[m, 'explained_variance']:.3f} (L0 {at_k.loc[m, 'mean_l0']:.2f})"
                 for m in METHODS]
        print(f"| {k} | " + " | ".join(cells) + " |")
    print()
    for line in frontier_verdict(table):
        print(f"- {line}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        train, test = simulation(duration=60)
        run_case("simulation (smoke)", train, test, (1, 2),
                 lambda k: matched_models(k, d_sae=16, sparsity="batchtopk", n_epochs=2))
        return
    train, test = simulation(duration=2400)
    run_case("main job's simulation", train, test, args.ks,
             lambda k: matched_models(k, d_sae=40, sparsity="batchtopk"))
    for name in RECORDINGS:
        split = load_split(args.data, name)
        if split is None:
            continue
        train, test = split
        run_case(name, train, test, args.ks,
                 lambda k, n=train.shape: matched_models(k, d_sae=auto_d_sae(*n, k)))


if __name__ == "__main__":
    main()
