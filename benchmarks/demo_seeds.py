"""The main job's recovery claims over seeds: simulation seed = model seed = 0..N-1.

For every seed, :func:`sklearn_mini.datasets.make_spiking_features` is drawn with that
seed and the main job's SAEs (``SpikeSAE(d_sae=40, topk=1, sparsity='batchtopk')`` and
``MatryoshkaSAE(levels=((8, 1), (40, 1)), sparsity='batchtopk')``, with and without
renumbering of the latents) are fitted on the first 70% of the time behind a
``SpikeBinner(bin_size=0.05)``. Prints the planted features SpikeSAE recovers (cosine
>= 0.9), its dead fraction, and the coarse features in the MatryoshkaSAE's first level.

    python benchmarks/demo_seeds.py [--seeds 10]
"""

import argparse

import numpy as np
from sklearn.pipeline import make_pipeline

from sklearn_mini import MatryoshkaSAE, SpikeBinner, SpikeSAE
from sklearn_mini.datasets import make_spiking_features
from sklearn_mini.features import feature_recovery


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        spikes, truth = make_spiking_features(random_state=seed)
        train = spikes.restrict(0.0, 0.7 * spikes.t_stop)

        def fit(model):
            return make_pipeline(SpikeBinner(bin_size=0.05), model).fit(train)

        sae = fit(SpikeSAE(d_sae=40, topk=1, sparsity="batchtopk", random_state=seed))
        levels = ((8, 1), (40, 1))
        level0 = [feature_recovery(fit(MatryoshkaSAE(levels=levels, sparsity="batchtopk",
                                                     reorder_latents=order,
                                                     random_state=seed)), truth)
                  .level_fraction_coarse[0] for order in ("frequency", "none")]
        row = (feature_recovery(sae, truth).fraction, sae[-1].dead_fraction_, *level0)
        rows.append(row)
        print(f"seed {seed}: SpikeSAE recovered {row[0]:.0%}, dead {row[1]:.1%}; "
              f"Matryoshka level 0 coarse {row[2]:.0%} (without renumbering {row[3]:.0%})",
              flush=True)
    rows = np.array(rows)
    print(f"SpikeSAE {rows[:, 0].min():.0%}-{rows[:, 0].max():.0%} (dead "
          f"{rows[:, 1].min():.1%}-{rows[:, 1].max():.1%}); level 0 all eight coarse in "
          f"{int(np.sum(rows[:, 2] == 1))} of {len(rows)} seeds (mean {rows[:, 2].mean():.1%}), "
          f"without renumbering in {int(np.sum(rows[:, 3] == 1))} (mean {rows[:, 3].mean():.1%})")


if __name__ == "__main__":
    main()
