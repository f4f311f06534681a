"""Fits that stop when done: the convergence rule against the full epoch budget.

On each data set, in one run, with the same seed: ``SpikeSAE()`` with its defaults (the
convergence rule on the training loss), with ``early_stopping=True`` (the rule on the
explained variance of the last 10% of the training rows) and with
``n_iter_no_change=None`` (every epoch of ``n_epochs='auto'``), and the rule with
``prune_from=1`` (no over-complete start, for its cost in time). The first 70% of the bins
train, the last 30% are held out and scored. Reported: epochs, optimiser steps, fit
seconds and held-out explained variance; ``--json`` also writes every curve and
``--plot`` draws them (training loss, the epoch where the rule fired, held-out scores).

Data sets: planted assemblies that share units
(:func:`sklearn_mini.datasets.make_shared_assemblies`, 20,000 bins x 60 units), an
MEA-sized stand-in (18,000 bins x 739 units of Poisson spiking from a
planted dictionary, :func:`sklearn_mini.datasets.make_dictionary_spikes`; no such
recording is in the shared data) and the retinal waves of ``../shared/data`` (50 ms
bins, units >= 0.5 Hz, ``bench_recordings.split``; skipped when absent), each divided
by the training maximum of every unit.

    python benchmarks/bench_stopping.py                       # every data set
    python benchmarks/bench_stopping.py --only waves          # one of planted, mea, waves
    python benchmarks/bench_stopping.py --json out.json --plot curves.png
    python benchmarks/bench_stopping.py --smoke               # seconds-long run, for CI
"""

import argparse
import json
import time
import warnings

import numpy as np
from bench_recordings import load_split

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_dictionary_spikes, make_shared_assemblies

RULES = {
    "convergence rule (defaults)": {},
    "early_stopping=True": {"early_stopping": True},
    "every epoch (n_iter_no_change=None)": {"n_iter_no_change": None},
    # The price of the over-complete start: the same rule, trained at d_sae throughout.
    "convergence rule, prune_from=1": {"prune_from": 1},
}


def training_scale(X):
    """Each unit's maximum over the first 70% of the bins (1 where it never fires)."""
    X = np.asarray(X, dtype=np.float32)
    scale = X[: int(0.7 * len(X))].max(axis=0)
    scale[scale == 0] = 1.0
    return scale


def split(X):
    """First 70% to train, last 30% held out, both divided by the training maxima."""
    X = np.asarray(X, dtype=np.float32)
    cut = int(0.7 * len(X))
    scale = training_scale(X)
    return X[:cut] / scale, X[cut:] / scale


def datasets(smoke, data_dir, only=None):
    if smoke:
        X, _ = make_dictionary_spikes(n_samples=1500, n_units=40, n_broad=2, n_narrow=10,
                                      random_state=0)
        yield "smoke stand-in (1500 x 40)", split(X)
        return
    if only in (None, "planted"):
        X, _ = make_shared_assemblies(random_state=0)
        yield "shared assemblies (planted, 20000 x 60)", split(X)
    if only == "planted":
        return
    if only in (None, "mea"):
        X, _ = make_dictionary_spikes(n_samples=18_000, n_units=739, n_broad=4, n_narrow=150,
                                      random_state=0)
        yield "MEA stand-in (18000 x 739)", split(X)
    if only == "mea":
        return
    waves = load_split(data_dir, "retinal waves")
    if waves is not None:
        yield "retinal waves (50 ms)", tuple(np.asarray(x, dtype=np.float32) for x in waves)


def run(name, X_train, X_test, seed, smoke, rules=tuple(RULES)):
    rows = []
    for rule in rules:
        params = RULES[rule]
        if smoke:
            params = {**params, "n_epochs": 30}
        sae = SpikeSAE(random_state=seed, **params)
        start = time.perf_counter()
        sae.fit(X_train)
        seconds = time.perf_counter() - start
        rows.append({"data": name, "rule": rule, "epochs": sae.n_iter_, "steps": sae.n_steps_,
                     "converged": sae.converged_, "seconds": seconds,
                     "held_out_ev": sae.score(X_test), "dead": sae.dead_fraction_,
                     "loss_curve": sae.loss_curve_,
                     "validation_scores": sae.validation_scores_})
        print(f"| {name} | {rule} | {sae.n_iter_} | {sae.n_steps_} | {seconds:.1f} "
              f"| {rows[-1]['held_out_ev']:.4f} | {sae.dead_fraction_:.1%} |", flush=True)
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["data"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        for r in (r for r in rows if r["data"] == name):
            line, = ax.plot(np.arange(1, r["epochs"] + 1), r["loss_curve"], label=r["rule"], lw=1)
            if r["converged"]:
                ax.axvline(r["epochs"], color=line.get_color(), ls=":", lw=1)
        ax.set(title=name, xlabel="epoch", ylabel="training loss", yscale="log")
        ax.legend(fontsize=7)
        with_val = [r for r in rows if r["data"] == name and r["validation_scores"]]
        if with_val:
            twin = ax.twinx()
            r = with_val[0]
            twin.plot(np.arange(1, r["epochs"] + 1), r["validation_scores"], color="0.4", lw=1,
                      ls="--")
            twin.set_ylabel("held-out EV (early_stopping, dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--only", choices=["planted", "mea", "waves"], default=None,
                        help="one data set only (the MEA stand-in's fits take minutes each)")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES),
                        help="rules to run (default: all)")
    parser.add_argument("--json")
    parser.add_argument("--plot")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| data | rule | epochs | steps | fit s | held-out EV | dead |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name, (X_train, X_test) in datasets(args.smoke, args.data, args.only):
        rows += run(name, X_train, X_test, args.seed, args.smoke, args.rules)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh)
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
