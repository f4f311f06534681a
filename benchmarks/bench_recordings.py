"""SpikeSAE() with its defaults on the shared real recordings, against PCA and NMF.

Every recording is binned at 50 ms with ``SpikeBinner(min_rate=0.5)`` (its defaults
otherwise: each unit divided by its training maximum); the first 70% of the time trains,
the last 30% is held out. ``SpikeSAE()`` is fitted with ``--seeds`` random states; the
table gives the sizes the defaults chose, the held-out explained variance, the mean L0
on held-out bins, the dead fraction (training data; held-out time in parentheses; the
worst seed's training value in brackets), the effective
number of units per used atom (usage-weighted :func:`sklearn_mini.metrics.units_per_atom`;
near 1 means the dictionary copies single units), the seed consistency of the
dictionaries (:func:`sklearn_mini.stability.seed_consistency`) and PCA and NMF with as
many components as the SAE's mean held-out L0 (rounded, at least 1).

Recordings (``../shared/data``; each is skipped when absent): the retinal waves of Eglen
et al. (2014) / Stafford et al. (2009); the salamander retina of Onken et al. (2016)
(``NaturalImages1``); the Aplysia pedal ganglion of Bruno et al. (2017)
(``Jun0214da01``).

    python benchmarks/bench_recordings.py [--data ../shared/data] [--seeds 3]
    python benchmarks/bench_recordings.py --smoke        # one seed, the retina only, CI
    python benchmarks/bench_recordings.py --topk 1 2 4   # the topk sweep of the docs
"""

import argparse
import pathlib
import time
import warnings

import numpy as np
from _wave1 import wave1_params
from sklearn.decomposition import NMF, PCA

from sklearn_mini import SpikeBinner, SpikeSAE
from sklearn_mini.io import load_aplysia, load_retina, load_retinal_waves
from sklearn_mini.metrics import dead_fraction, explained_variance, units_per_atom
from sklearn_mini.stability import seed_consistency

RECORDINGS = {
    "retinal waves": ("retinal_waves_eglen2014/Stafford2009_WT_37C_Dorsal_2008-06-27-0.h5",
                      load_retinal_waves),
    "salamander retina": ("retina_onken2016/NaturalImages1.mat",
                          lambda path: load_retina(path).spikes),
    "Aplysia": ("aplysia_bruno2017/Data/Spikes/Jun0214da01.mat",
                lambda path: load_aplysia(path).spikes),
}


def split(spikes, bin_size=0.05):
    """The first 70% of the time and the last 30%, binned (each unit divided by its
    training maximum)."""
    cut = spikes.t_start + 0.7 * (spikes.t_stop - spikes.t_start)
    binner = SpikeBinner(bin_size=bin_size, min_rate=0.5)
    train = binner.fit_transform(spikes.restrict(spikes.t_start, cut))
    test = binner.transform(spikes.restrict(cut, spikes.t_stop))
    return np.asarray(train, dtype=np.float64), np.asarray(test, dtype=np.float64)


def load_split(data_dir, name):
    """``split`` of a named recording, or ``None`` (and a line saying so) when absent."""
    file, load = RECORDINGS[name]
    path = pathlib.Path(data_dir) / file
    if not path.exists():
        print(f"skipped {name}: {path} not found")
        return None
    return split(load(path))


def used_atom_size(sae):
    """Units per atom, averaged over the atoms weighted by how often they fire."""
    freq = sae.latent_frequency_
    alive = freq > 0
    return float(np.average(units_per_atom(sae.components_[alive]), weights=freq[alive]))


def baseline_ev(model, train, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NMF convergence
        model.fit(train)
    return explained_variance(test, model.inverse_transform(model.transform(test)))


def evaluate(train, test, seeds, random_state=0, **params):
    """SpikeSAE(**params) with ``seeds`` random states from ``random_state``: mean scores."""
    rows, models = [], []
    for seed in range(random_state, random_state + seeds):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dead latents are in the table
            sae = SpikeSAE(random_state=seed, **params).fit(train)
        Z = sae.transform(test)
        rows.append({"fit_s": time.perf_counter() - start,
                     "ev": explained_variance(test, sae.inverse_transform(Z)),
                     "l0": float(np.mean((Z > 0).sum(1))), "dead": sae.dead_fraction_,
                     "dead_test": dead_fraction(Z), "units": used_atom_size(sae)})
        models.append(sae)
    mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    mean["dead_max"] = max(r["dead"] for r in rows)
    k = max(1, int(round(mean["l0"])))
    mean["k"] = k
    mean["pca"] = baseline_ev(PCA(k), train, test)
    mean["nmf"] = baseline_ev(NMF(k, init="nndsvda", max_iter=500, random_state=0), train, test)
    mean["consistency"] = seed_consistency(models).mean if seeds > 1 else float("nan")
    mean["d_sae"], mean["topk"] = models[0].d_sae_, models[0].topk_
    return mean


def _consistency(value):
    """The table cell: one seed has no consistency to report."""
    return "-- (one seed)" if np.isnan(value) else f"{value:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recordings", nargs="+", default=list(RECORDINGS),
                        choices=list(RECORDINGS))
    parser.add_argument("--topk", type=int, nargs="*", default=None,
                        help="sweep these topk values (default: topk='auto' only)")
    parser.add_argument("--wave1", action="store_true",
                        help="SpikeSAE with the defaults it had before wave 2")
    parser.add_argument("--smoke", action="store_true", help="one seed, retina only, for CI")
    args = parser.parse_args()
    names = ["salamander retina"] if args.smoke else args.recordings
    seeds = 1 if args.smoke else args.seeds
    settings = [{}] if not args.topk else [{"topk": k} for k in args.topk]
    print("| recording | bins (train/test) x units | d_sae_ | topk_ | held-out EV | L0 | "
          "PCA(L0) | NMF(L0) | dead (held-out) [worst seed] | units per atom | "
          "seed consistency | fit s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        data = load_split(args.data, name)
        if data is None:
            continue
        train, test = data
        for params in settings:
            if args.wave1:
                params = dict(wave1_params(len(train), train.shape[1]), **params)
            if args.smoke:
                params = dict(params, n_epochs=2)
            r = evaluate(train, test, seeds, **params)
            print(f"| {name} | {len(train)}/{len(test)} x {train.shape[1]} | {r['d_sae']} | "
                  f"{r['topk']} | {r['ev']:.3f} | {r['l0']:.2f} | {r['pca']:.3f} | "
                  f"{r['nmf']:.3f} | {r['dead']:.1%} ({r['dead_test']:.1%}) "
                  f"[{r['dead_max']:.1%}] | "
                  f"{r['units']:.1f} | {_consistency(r['consistency'])} | {r['fit_s']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
