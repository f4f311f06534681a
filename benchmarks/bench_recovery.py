"""Feature recovery on planted dictionaries the package's defaults were not tuned on.

For every generator of ``sklearn_mini.datasets`` (see ``RECOVERY_GENERATORS``; their
docstrings say what each plants) and every seed, the data are drawn, the first 70% of the
bins train every method and the last 30% are held out. A planted atom is *matched* when
some learned atom has cosine >= 0.9 with it; the tables give the matched fraction (all,
broad and narrow patterns), the mean best cosine, the held-out explained variance, the
fraction of dead atoms (never used on the training bins) and the mean number of active
components per held-out bin (L0). Every method gets the same number of components ``d``:
the number of planted atoms (``--sizes 1``) and twice that (``--sizes 2``).

Methods: SpikeSAE with its defaults (``d_sae=d``; the configuration the user guide
recommends for feature discovery), the same without pruning (``prune_from=1``: trained at
``d`` latents from the start), SpikeSAE with the defaults it had before wave 2
(unconstrained atoms, BatchTopK, ReLU output, mean decoder bias, half-epoch dead window,
at least 1000 steps), MatryoshkaSAE with a small first level (8 latents, top-2; its row
also says how many broad patterns level 0 matched), NMF (Frobenius and
Kullback-Leibler), sparse NMF, dictionary learning with OMP codes and PCA; ``k`` is
``topk='auto'`` for the number of units. Seed consistency: on the seed-0 data, SpikeSAE
with ``d_sae`` = the number of planted atoms is fitted with five model seeds and the mean
pairwise matched cosine of their live dictionaries is reported
(:func:`sklearn_mini.stability.seed_consistency`).

    python benchmarks/bench_recovery.py                  # 5 seeds, every generator
    python benchmarks/bench_recovery.py --smoke          # one small run, for CI
    python benchmarks/bench_recovery.py --json out.json  # also write every row
    python benchmarks/bench_recovery.py --topk 2 --methods SpikeSAE NMF  # another topk
    python benchmarks/bench_recovery.py --sizes 1 --methods "SpikeSAE (defaults)" \\
        --prune-from 2                                   # another over-complete start
    python benchmarks/bench_recovery.py --oracle         # random vs planted-atom starts

``--oracle`` asks whether a fit's shortfall is the loss's or the optimiser's: on seed 0
of every generator, ``SpikeSAE(prune_from=1)`` with ``d`` = the planted atoms is fitted
from its random start and from a start at the planted atoms themselves (its decoder and
tied encoder set to them), and both runs' final training loss and matched fraction are
printed. A planted start that ends at a lower loss means the loss prefers the planted
atoms and the random start stopped in a worse local optimum.
"""

import argparse
import json
import time
import warnings

import numpy as np
import torch
from _wave1 import wave1_params

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini.baselines import NMF, PCA, k_sparse_dictionary, sparse_nmf
from sklearn_mini.datasets import RECOVERY_GENERATORS, match_atoms
from sklearn_mini.exceptions import DivergenceError
from sklearn_mini.metrics import explained_variance
from sklearn_mini.sae import auto_topk
from sklearn_mini.stability import seed_consistency

THRESHOLD = 0.9
# The generators, and the noiseless variant of the first (where NMF does well).
CASES = {name: (make, {}) for name, make in RECOVERY_GENERATORS.items()}
CASES["broad_narrow (noiseless)"] = (RECOVERY_GENERATORS["broad_narrow"], {"noise": None})
# The row of a fit that raised DivergenceError: no atom matched, the other scores unknown.
DIVERGED = {"matched": 0.0, "broad": 0.0, "narrow": 0.0, "mean_cos": float("nan"),
            "ev": float("nan"), "dead": float("nan"), "l0": float("nan"), "diverged": True}



def sae_overrides(epochs=None, topk=None, prune_from=None):
    """The SpikeSAE parameters the command line sets (none by default)."""
    names = {"n_epochs": epochs, "topk": topk, "prune_from": prune_from}
    return {name: value for name, value in names.items() if value is not None}


def methods(d, n_units, n_train, seed, sae):
    """Name -> unfitted estimator, every one with ``d`` components; ``sae`` holds the
    overrides of :func:`sae_overrides`."""
    k = sae.get("topk", auto_topk(n_units))
    old = wave1_params(n_train, n_units, d_sae=d)
    if "n_epochs" in sae:
        old["n_epochs"] = sae["n_epochs"]
    # NNDSVD starts need n_components <= n_features; wider NMFs start at random.
    nmf = dict(init="nndsvda" if d <= n_units else "random", max_iter=500, random_state=seed)
    return {
        "SpikeSAE (defaults)": SpikeSAE(d_sae=d, random_state=seed, **sae),
        "SpikeSAE (prune_from=1)": SpikeSAE(d_sae=d, random_state=seed,
                                            **{**sae, "prune_from": 1}),
        "SpikeSAE (wave-1 defaults)": SpikeSAE(random_state=seed, **old),
        "MatryoshkaSAE ((8, 2), (d, k))": MatryoshkaSAE(
            levels=((8, 2), (max(d, 9), k)), random_state=seed,
            **{key: value for key, value in sae.items() if key != "topk"}),
        "NMF": NMF(d, **nmf),
        "NMF-KL": NMF(d, beta_loss="kullback-leibler", solver="mu", **nmf),
        "sparse NMF": sparse_nmf(d, random_state=seed).set_params(init=nmf["init"]),
        "dictionary (OMP)": k_sparse_dictionary(d, k, random_state=seed),
        "PCA": PCA(min(d, n_units)),
    }


def score(name, model, train, test, truth):
    """One row of the table for a fitted model."""
    atoms = np.asarray(model.components_, dtype=np.float64)
    best = match_atoms(atoms, truth.dictionary)
    broad = truth.is_broad
    Z_train, Z_test = model.transform(train), model.transform(test)
    row = {
        "matched": float(np.mean(best >= THRESHOLD)),
        "broad": float(np.mean(best[broad] >= THRESHOLD)),
        "narrow": float(np.mean(best[~broad] >= THRESHOLD)),
        "mean_cos": float(best.mean()),
        "ev": explained_variance(test, model.inverse_transform(Z_test)),
        "dead": float(np.mean(np.all(Z_train == 0, axis=0))),
        "l0": float(np.mean(np.sum(Z_test != 0, axis=1))),
    }
    if name.startswith("MatryoshkaSAE"):
        level0 = match_atoms(atoms[: model.level_slices_[0].stop], truth.dictionary[broad])
        row["level0_broad"] = float(np.mean(level0 >= THRESHOLD))
    return row


def run_case(case, seeds, sizes, n_samples, sae, only=None):
    make, kwargs = CASES[case]
    rows = []
    for seed in seeds:
        X, truth = make(n_samples=n_samples, random_state=seed, **kwargs)
        split = int(0.7 * len(X))
        train, test = X[:split], X[split:]
        for factor in sizes:
            d = factor * len(truth.dictionary)
            for name, model in methods(d, X.shape[1], len(train), seed, sae).items():
                if only and not any(word in name for word in only):
                    continue
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # NMF convergence, dead-latent warnings
                    try:
                        model.fit(train)
                        row = score(name, model, train, test, truth)
                    except DivergenceError:  # counted as matching nothing, and reported
                        row = dict(DIVERGED)
                row.update(case=case, method=name, size=f"{factor}x", d=d, seed=seed,
                           fit_s=time.perf_counter() - start)
                rows.append(row)
    return rows


def consistency(case, n_samples, sae, n_models=5):
    """Mean pairwise matched cosine of SpikeSAE's dictionaries over model seeds (those
    that did not diverge), and how many diverged."""
    make, kwargs = CASES[case]
    X, truth = make(n_samples=n_samples, random_state=0, **kwargs)
    train = X[: int(0.7 * len(X))]
    models = []
    for seed in range(n_models):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                models.append(SpikeSAE(d_sae=len(truth.dictionary), random_state=seed,
                                       **sae).fit(train))
            except DivergenceError:
                pass
    return seed_consistency(models).mean, n_models - len(models)


def oracle(case, n_samples, epochs):
    """Final training loss and matched fraction from a random and a planted start."""
    make, kwargs = CASES[case]
    X, truth = make(n_samples=n_samples, random_state=0, **kwargs)
    train = X[: int(0.7 * len(X))]
    planted = torch.as_tensor(truth.dictionary)
    results = {}
    for start in ("random", "planted"):
        sae = SpikeSAE(d_sae=len(planted), random_state=0, prune_from=1,
                       **sae_overrides(epochs))
        if start == "planted":  # the module the fit starts from, set to the truth
            initialise = sae._initialise

            def planted_start(data, levels, generator):
                module = initialise(data, levels, generator)
                with torch.no_grad():
                    module.W_dec.copy_(planted.to(module.W_dec.dtype))
                    module.W_enc.copy_(module.W_dec.T)
                return module

            sae._initialise = planted_start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sae.fit(train)
        best = match_atoms(sae.components_, truth.dictionary)
        results[start] = (sae.loss_curve_[-1], float(np.mean(best >= THRESHOLD)))
    return results


def table(rows, case):
    """A markdown table: mean (min over seeds) per method and size."""
    keys = ["matched", "broad", "narrow", "mean_cos", "ev", "dead", "l0"]
    lines = [f"\n### {case}\n",
             "| method | d | matched (min) | broad | narrow | mean best cos | held-out EV "
             "| dead | L0 | level-0 broad |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    groups = {}
    for row in rows:
        groups.setdefault((row["size"], row["method"]), []).append(row)
    for (size, method), group in groups.items():
        mean = {k: np.nanmean([r[k] for r in group]) for k in keys}
        diverged = sum(r.get("diverged", False) for r in group)
        if diverged:
            method = f"{method} [{diverged} diverged]"
        low = min(r["matched"] for r in group)
        level0 = ("" if "level0_broad" not in group[0] else
                  f"{np.mean([r['level0_broad'] for r in group]):.0%} (min "
                  f"{min(r['level0_broad'] for r in group):.0%})")
        lines.append(f"| {method} | {group[0]['d']} | {mean['matched']:.0%} ({low:.0%}) | "
                     f"{mean['broad']:.0%} | {mean['narrow']:.0%} | {mean['mean_cos']:.3f} | "
                     f"{mean['ev']:.3f} | {mean['dead']:.0%} | {mean['l0']:.1f} | {level0} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--n-samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every SAE's n_epochs (for quick runs)")
    parser.add_argument("--smoke", action="store_true", help="one tiny run, for CI")
    parser.add_argument("--json", default=None, help="write every row to this file")
    parser.add_argument("--topk", type=int, default=None,
                        help="topk of the SAEs and OMP instead of topk='auto'")
    parser.add_argument("--prune-from", type=float, default=None,
                        help="prune_from of the SAEs (and the consistency fits) instead of "
                             "the default")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="run only the methods whose names contain one of these words")
    parser.add_argument("--oracle", action="store_true",
                        help="fit from random and from planted atoms (seed 0), compare losses")
    args = parser.parse_args()
    if args.oracle:
        print("| generator | final training loss: random start | planted start | matched: "
              "random start | planted start |\n|---|---|---|---|---|")
        for case in args.cases:
            r = oracle(case, args.n_samples, args.epochs)
            print(f"| {case} | {r['random'][0]:.5f} | {r['planted'][0]:.5f} | "
                  f"{r['random'][1]:.0%} | {r['planted'][1]:.0%} |", flush=True)
        return
    if args.smoke:
        args.seeds, args.sizes, args.cases = 1, [1, 4], ["parent_child"]
        args.n_samples, args.epochs = 3000, 5
    all_rows = []
    sae = sae_overrides(args.epochs, args.topk, args.prune_from)
    chosen = {key: value for key, value in sae.items() if key != "n_epochs"}
    if chosen:
        print(f"{chosen} instead of the defaults for the SAEs (topk also for OMP)")
    for case in args.cases:
        rows = run_case(case, range(args.seeds), args.sizes, args.n_samples, sae,
                        args.methods)
        all_rows += rows
        print(table(rows, case))
        if not args.smoke:
            value, diverged = consistency(case, args.n_samples, sae)
            setting = chosen or "its defaults"
            print(f"\nseed consistency of SpikeSAE with {setting} (5 model seeds, seed-0 "
                  f"data, d = planted atoms): {value:.3f}"
                  + (f" ({diverged} diverged, left out)" if diverged else ""))
        print(flush=True)
        if args.json:  # after every case, so that a stopped run keeps what it measured
            with open(args.json, "w") as handle:
                json.dump(all_rows, handle, indent=1)


if __name__ == "__main__":
    main()
