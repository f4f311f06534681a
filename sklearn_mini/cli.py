"""Command line: ``sklearn-mini demo`` (also ``python -m sklearn_mini demo``)."""

import argparse
import sys
import time

import numpy as np


def _demo(args):
    from .datasets import make_sparse_counts, match_atoms
    from .metrics import explained_variance
    from .sae import SpikeSAE

    print(f"Simulating {args.n_samples} time bins x {args.n_units} units from "
          f"{args.n_atoms} planted sparse features ({args.n_active} active per bin)...")
    X, truth = make_sparse_counts(n_samples=args.n_samples, n_features=args.n_units,
                                  n_atoms=args.n_atoms, n_active=args.n_active,
                                  rate_scale=args.rate_scale, random_state=args.seed)
    n_train = int(0.7 * len(X))
    X_train, X_test = X[:n_train], X[n_train:]  # contiguous blocks: held-out *time*
    scale = X_train.max()
    sae = SpikeSAE(d_sae=args.d_sae, topk=args.topk, n_epochs=args.epochs,
                   device=args.device, random_state=args.seed, verbose=args.verbose)
    start = time.perf_counter()
    sae.fit(X_train / scale)
    fit_s = time.perf_counter() - start
    Z = sae.transform(X_test / scale)
    ev = explained_variance(X_test / scale, sae.inverse_transform(Z))
    best = match_atoms(sae.components_, truth.dictionary)
    print(f"SpikeSAE(d_sae={sae.d_sae_}, topk={args.topk}, sparsity='batchtopk', loss='msle') "
          f"fitted in {fit_s:.1f} s ({sae.n_iter_} epochs, {sae.n_steps_} steps)")
    print(f"  held-out explained variance : {ev:.3f}")
    print(f"  held-out mean L0            : {np.count_nonzero(Z, axis=1).mean():.2f}")
    print(f"  dead latents (train)        : {100 * sae.dead_fraction_:.1f}%")
    print(f"  planted features recovered  : {100 * np.mean(best >= 0.9):.0f}% "
          f"(cosine >= 0.9; median best cosine {np.median(best):.3f})")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="sklearn-mini",
                                     description="Sparse autoencoders for spike data.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="fit SpikeSAE on built-in simulated data")
    demo.add_argument("--n-samples", type=int, default=40_000)
    demo.add_argument("--n-units", type=int, default=64)
    demo.add_argument("--n-atoms", type=int, default=32)
    demo.add_argument("--n-active", type=int, default=3)
    demo.add_argument("--rate-scale", type=float, default=8.0)
    demo.add_argument("--d-sae", type=int, default=64)
    demo.add_argument("--topk", type=int, default=3)
    demo.add_argument("--epochs", type=lambda s: s if s == "auto" else int(s), default="auto")
    demo.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=1)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        args = parser.parse_args(["demo", *(argv or sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
