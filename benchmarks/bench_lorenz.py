"""Latent dynamics on Lorenz-driven spikes: LFADS against GPFA and PCA.

``make_lorenz_spikes`` (100 trials x 50 bins x 30 units, 20 Hz at the mean, 10 ms bins);
the first 80 trials train every model, the last 20 are held out. Each model's latents
are read out linearly to the true 3-D state (least squares on the training trials) and
scored by R^2 on the held-out ones; also the held-out explained variance of each model's
predicted counts (``score``) and its fit time. Run:

    python benchmarks/bench_lorenz.py --seeds 3
"""

import argparse
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from sklearn_mini.adapters import GPFA
from sklearn_mini.datasets import make_lorenz_spikes
from sklearn_mini.dynamics import LFADS

N_TRIALS, N_BINS, N_UNITS, N_TRAIN = 100, 50, 30, 80


def models(seed, epochs, em_iters):
    """Name -> unfitted model; each returns latents per bin from ``transform``."""
    lfads = dict(window=N_BINS, fac_dim=8, batch_size=16, random_state=seed)
    return {
        "LFADS (gen 32, 200 epochs)": LFADS(gen_dim=32, ic_dim=16, enc_dim=32,
                                           n_epochs=epochs or 200, **lfads),
        "LFADS (gen 64, 300 epochs)": LFADS(n_epochs=epochs or 300, **lfads),
        "GPFA (3 latents)": GPFA(window=N_BINS, x_dim=3, em_max_iters=em_iters),
        "GPFA (8 latents)": GPFA(window=N_BINS, x_dim=8, em_max_iters=em_iters),
        "PCA (8)": PCA(8),
    }


def run(seed, epochs, em_iters=500):
    X, latents, _ = make_lorenz_spikes(N_TRIALS, N_BINS, N_UNITS, random_state=seed)
    cut = N_TRAIN * N_BINS
    rows = {}
    for name, model in models(seed, epochs, em_iters).items():
        start = time.perf_counter()
        model.fit(X[:cut])
        seconds = time.perf_counter() - start
        Z = model.transform(X)
        readout = LinearRegression().fit(Z[:cut], latents[:cut])
        r2 = r2_score(latents[cut:], readout.predict(Z[cut:]))
        # sklearn's PCA scores a likelihood; the others the package's explained variance.
        score = float("nan") if isinstance(model, PCA) else model.score(X[cut:])
        rows[name] = (r2, score, seconds)
        print(f"seed {seed} | {name} | R2 {r2:.3f} | held-out EV {score:.3f} | "
              f"fit {seconds:.1f} s", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override LFADS's epochs")
    parser.add_argument("--smoke", action="store_true",
                        help="one seed, 2 LFADS epochs, 5 EM iterations, for CI")
    args = parser.parse_args()
    em_iters = 5 if args.smoke else 500
    if args.smoke:
        args.seeds, args.epochs = 1, 2
    results = [run(seed, args.epochs, em_iters) for seed in range(args.seeds)]
    print("\n| model | latent R^2, mean (min) | held-out EV of counts | fit (s) |")
    print("|---|---|---|---|")
    for name in results[0]:
        r2 = np.array([r[name][0] for r in results])
        ev = np.array([r[name][1] for r in results])
        sec = np.array([r[name][2] for r in results])
        ev_text = "--" if np.isnan(ev).all() else f"{ev.mean():.3f}"
        print(f"| {name} | {r2.mean():.3f} ({r2.min():.3f}) | {ev_text} | {sec.mean():.1f} |")


if __name__ == "__main__":
    main()
