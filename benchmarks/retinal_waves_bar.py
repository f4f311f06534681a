"""The bar from the research code: BatchTopK Matryoshka on the retinal-waves recording.

Setup (as the authors' code was measured): Stafford et al. (2009) retinal waves from Eglen
et al. (2014), 50 ms bins, units firing at >= 0.5 Hz, the first 70% of time for
training and the rest held out, counts divided by the training maximum;
MatryoshkaSAE levels 256:8 / 512:16 / 1024:24, weights 1 / 1.25 / 1.5, 20 epochs, MSLE,
every other parameter at its default. The research code (BatchTopK) on a 2-core CPU:
about 130 s to fit (bf16; 150 s fp32), held-out explained variance 0.955, 72% of latents
dead. Prints fit seconds, held-out EV (pooled, per-unit means of the held-out bins), the
mean held-out R^2 per unit, L0, dead fractions (training data, held-out time, and per
level) and the effective units per used atom (near 1: single-unit atoms).

``--reference`` also fits, in the same run and on the same split, a stand-in for the
research code (``reference_sae.fit_reference`` with these levels and weights: dense
BatchTopK Matryoshka, bf16 autocast, 20 epochs, batch 1024), written from the research
code's description, not from its code; it prints the time ratio of the two fits.

Run: python benchmarks/retinal_waves_bar.py [--data ../shared/data] [--epochs 20]
     python benchmarks/retinal_waves_bar.py --sparsity batchtopk   # the research code's
     python benchmarks/retinal_waves_bar.py --reference            # ratio, same run
"""

import argparse
import pathlib
import time

import numpy as np
from bench_recordings import used_atom_size

from sklearn_mini import MatryoshkaSAE, SpikeBinner
from sklearn_mini.io import load_retinal_waves
from sklearn_mini.metrics import dead_fraction, explained_variance, r2_per_unit

LEVELS = ((256, 8), (512, 16), (1024, 24))
WEIGHTS = (1, 1.25, 1.5)
FILE = "retinal_waves_eglen2014/Stafford2009_WT_37C_Dorsal_2008-06-27-0.h5"


def held_out_split(path):
    spikes = load_retinal_waves(path)
    split = spikes.t_start + 0.7 * (spikes.t_stop - spikes.t_start)
    binner = SpikeBinner(bin_size=0.05, min_rate=0.5, normalize=None)
    train = binner.fit_transform(spikes.restrict(spikes.t_start, split))
    test = binner.transform(spikes.restrict(split, spikes.t_stop))
    scale = train.max()
    return train / scale, test / scale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sparsity", default="topk", choices=["topk", "batchtopk"])
    parser.add_argument("--prune-from", type=float, default=None,
                        help="prune_from instead of the default (1: no over-complete start)")
    parser.add_argument("--reference", action="store_true",
                        help="also time the dense bf16 stand-in for the research code")
    args = parser.parse_args()
    path = pathlib.Path(args.data) / FILE
    if not path.exists():
        print(f"skipped: {path} not found")
        return
    train, test = held_out_split(path)
    print(f"train {train.shape}, held-out {test.shape}")
    sae = MatryoshkaSAE(levels=LEVELS, level_weights=WEIGHTS,
                        n_epochs=args.epochs, loss="msle", sparsity=args.sparsity,
                        random_state=args.seed)
    if args.prune_from is not None:
        sae.set_params(prune_from=args.prune_from)
    start = time.perf_counter()
    sae.fit(train)
    seconds = time.perf_counter() - start
    Z = sae.transform(test)
    X_hat = sae.inverse_transform(Z)
    print(f"fit {seconds:.1f} s | held-out EV {explained_variance(test, X_hat):.3f} | "
          f"mean R2 per unit {np.mean(r2_per_unit(test, X_hat)):.3f} | held-out L0 "
          f"{np.mean((Z > 0).sum(1)):.1f} | dead (training) {sae.dead_fraction_:.1%} | "
          f"dead (held-out) {dead_fraction(Z):.1%} | dead per level "
          f"{', '.join(f'{v:.1%}' for v in sae.level_dead_fractions_)} | units per atom "
          f"{used_atom_size(sae):.1f} | level EV "
          f"{', '.join(f'{v:.3f}' for v in sae.score_levels(test))} | training path "
          f"{'sparse' if sae._use_sparse_decoder(1024, sae._levels) else 'dense'}")
    if args.reference:
        reference(train, test, args, seconds)


def reference(train, test, args, seconds):
    """Fit the research-code stand-in on the same split; print its numbers and the ratio."""
    import torch
    from reference_sae import fit_reference, reconstruct_reference

    d_sae, k = LEVELS[-1]
    start = time.perf_counter()
    params = fit_reference(torch.as_tensor(train, dtype=torch.float32), d_sae, k, args.epochs,
                           seed=args.seed, levels=LEVELS, level_weights=WEIGHTS, bf16=True)
    ref_seconds = time.perf_counter() - start
    X_hat, codes = reconstruct_reference(params, torch.as_tensor(test, dtype=torch.float32), k,
                                         return_codes=True)
    print(f"reference (dense BatchTopK Matryoshka, bf16) fit {ref_seconds:.1f} s | held-out "
          f"EV {explained_variance(test, X_hat.numpy()):.3f} | dead (held-out) "
          f"{dead_fraction(codes.numpy()):.1%} | sklearn_mini "
          f"{ref_seconds / seconds:.2f}x faster, same run")


if __name__ == "__main__":
    main()
