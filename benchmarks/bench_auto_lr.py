"""``lr='auto'`` against the fixed 5e-3 on wide recordings, side by side in one run.

Poisson spiking from planted dictionaries
(:func:`sklearn_mini.datasets.make_dictionary_spikes`, 50 ms bins) at 250, 400, 739 and
1000 units, and wide versions of two recovery-benchmark generators (broad_narrow at 300
units, parent_child at 400); the first 70% of the bins train, the last 30% are held out,
each unit is divided by its training maximum. For each, ``SpikeSAE(random_state=0)`` with its
defaults at ``lr=5e-3`` and at ``lr='auto'`` (:func:`sklearn_mini.sae.auto_lr`), and
with ``n_epochs=60`` where ``--epochs 60`` asks. Reported: epochs, fit seconds, the
fraction of planted atoms matched by a learned atom at cosine >= 0.9, held-out
explained variance and dead fraction. The user guide's choosing-sizes page holds a run.

    python benchmarks/bench_auto_lr.py               # every width, n_epochs='auto'
    python benchmarks/bench_auto_lr.py --epochs 60   # a fixed budget
    python benchmarks/bench_auto_lr.py --rates auto --epochs auto 60  # both budgets
    python benchmarks/bench_auto_lr.py --only 250 400  # some widths (units)
    python benchmarks/bench_auto_lr.py --smoke       # seconds-long run, for CI
"""

import argparse
import time
import warnings

import numpy as np
from bench_stopping import split, training_scale

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import (
    make_broad_narrow,
    make_dictionary_spikes,
    make_parent_child,
    match_atoms,
)
from sklearn_mini.sae import auto_lr

GENERATORS = {
    "24000 x 250": (make_dictionary_spikes, dict(
        n_samples=24_000, n_units=250, n_broad=5, n_narrow=60, narrow_size=(6, 16),
        p_broad=0.1, random_state=2)),
    "30000 x 400": (make_dictionary_spikes, dict(
        n_samples=30_000, n_units=400, n_broad=3, n_narrow=80, random_state=1)),
    "18000 x 739 (MEA stand-in)": (make_dictionary_spikes, dict(
        n_samples=18_000, n_units=739, n_broad=4, n_narrow=150, random_state=0)),
    "20000 x 1000": (make_dictionary_spikes, dict(
        n_samples=20_000, n_units=1000, n_broad=4, n_narrow=200, random_state=3)),
    # Wide versions of two recovery-benchmark generators (--only 300 400 picks them too).
    "broad_narrow 20000 x 300": (make_broad_narrow, dict(
        n_samples=20_000, n_units=300, n_broad=4, n_narrow=120, random_state=5)),
    "parent_child 20000 x 400": (make_parent_child, dict(
        n_samples=20_000, n_units=400, n_parents=6, children_per_parent=8, random_state=6)),
}
SMOKE = {"smoke (1500 x 160)": (make_dictionary_spikes, dict(
    n_samples=1500, n_units=160, n_broad=2, n_narrow=10, random_state=0))}


def run(name, generator, budgets, rates):
    make, kwargs = generator
    X, truth = make(**kwargs)
    train, test = split(X)
    planted = truth.dictionary / training_scale(X)  # the atoms in the units the model sees
    for lr, n_epochs in ((lr, n) for n in budgets for lr in rates):
        sae = SpikeSAE(lr=lr, n_epochs=n_epochs, random_state=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dead-latent warnings of the fixed rate
            sae.fit(train)
        seconds = time.perf_counter() - start
        best = match_atoms(np.asarray(sae.components_, dtype=np.float64), planted)
        shown = f"{sae.lr_:.2g}" + (" (auto)" if lr == "auto" else "")
        print(f"| {name} | {shown} | {sae.n_iter_} | {seconds:.1f} s "
              f"| {np.mean(best >= 0.9):.3f} | {sae.score(test):.4f} "
              f"| {sae.dead_fraction_:.1%} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", nargs="+", default=["auto"],
                        help="n_epochs: 'auto' and/or numbers of epochs, side by side")
    parser.add_argument("--rates", nargs="+", default=["5e-3", "auto"],
                        help="lr: 5e-3 and/or auto")
    parser.add_argument("--only", nargs="+", type=int, metavar="UNITS",
                        help="only the generators with these numbers of units")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    budgets = [5] if args.smoke else [e if e == "auto" else int(e) for e in args.epochs]
    rates = [r if r == "auto" else float(r) for r in args.rates]
    print(f"auto_lr at 250/400/739/1000 units: "
          f"{', '.join(f'{auto_lr(n):.2g}' for n in (250, 400, 739, 1000))}")
    print("| data | lr | epochs | fit | matched | held-out EV | dead |")
    print("|---|---|---|---|---|---|---|")
    for name, generator in (SMOKE if args.smoke else GENERATORS).items():
        if args.only is None or generator[1]["n_units"] in args.only:
            run(name, generator, budgets, rates)


if __name__ == "__main__":
    main()
