"""Why latents died on real data: the wave-1 defaults, then one change at a time.

On a shared recording (default: the retinal waves of Eglen et al. 2014, binned at 50 ms
with ``SpikeBinner(min_rate=0.5)``, first 70% of the time to train, last 30% held out),
SpikeSAE is fitted with the defaults it had before wave 2 and then with each of wave 2's
changes added in turn, ending at today's defaults. Every row prints the held-out
explained variance, the dead fraction (training data and held-out time), the effective
units per used atom (near 1: the dictionary copies single units) and the fit time.

    python benchmarks/bench_dead_latents.py [--data ../shared/data] [--recording retina]
    python benchmarks/bench_dead_latents.py --smoke     # two short fits, for CI
"""

import argparse
import math
import pathlib

from _wave1 import wave1_params
from bench_recordings import RECORDINGS, evaluate, load_split

from sklearn_mini import SpikeSAE

DEFAULT_PRUNE_FROM = SpikeSAE().prune_from


def steps(params, n_train, n_features):
    """The changes, in order: (label, parameters) with each row adding one change."""
    per_epoch = math.ceil(n_train / 1024)
    wave1 = wave1_params(n_train, n_features)
    changes = [
        ("wave-1 defaults", {}),
        ("+ positive_dict=True", {"positive_dict": True}),
        ("+ output_relu=False", {"output_relu": False}),
        ("+ decoder_bias_init='zeros'", {"decoder_bias_init": "zeros"}),
        ("+ dead_window = one epoch", {"dead_window": per_epoch}),
        ("+ sparsity='topk'", {"sparsity": "topk"}),
        ("+ d_sae = 2 n_units, >= 4000 steps",
         {"d_sae": "auto", "topk": "auto", "dead_window": None, "n_epochs": "auto"}),
        (f"+ prune_from={DEFAULT_PRUNE_FROM:g} (today's defaults)",
         {"prune_from": DEFAULT_PRUNE_FROM}),
    ]
    current = dict(wave1, **params)
    for label, change in changes:
        current = dict(current, **change)
        yield label, dict(current)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"))
    parser.add_argument("--recording", default="retinal waves", choices=list(RECORDINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="two short fits, for CI")
    args = parser.parse_args()
    name = "salamander retina" if args.smoke else args.recording
    data = load_split(args.data, name)
    if data is None:
        return
    train, test = data
    print(f"{name}: {train.shape[0]} training bins, {test.shape[0]} held out, "
          f"{train.shape[1]} units\n")
    print("| configuration | d_sae | topk | held-out EV | dead (held-out) | units per atom "
          "| fit s |")
    print("|---|---|---|---|---|---|---|")
    rows = list(steps({}, len(train), train.shape[1]))
    if args.smoke:
        rows = [(label, dict(p, n_epochs=2)) for label, p in (rows[0], rows[-1])]
    for label, params in rows:
        r = evaluate(train, test, 1, random_state=args.seed, **params)
        print(f"| {label} | {r['d_sae']} | {r['topk']} | {r['ev']:.3f} | {r['dead']:.1%} "
              f"({r['dead_test']:.1%}) | {r['units']:.1f} | {r['fit_s']:.0f} |", flush=True)

if __name__ == "__main__":
    main()
