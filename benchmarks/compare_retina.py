"""compare() on the salamander retina (Onken et al. 2016, NaturalImages1): SpikeSAE, PCA,
NMF, CEBRA, each in a SpikeBinner pipeline, on 5 contiguous held-out blocks of time.

Run: python benchmarks/compare_retina.py [--data ../shared/data] [--smoke]
"""

import argparse
import pathlib
import warnings

from sklearn.pipeline import make_pipeline

from sklearn_mini import SpikeBinner, SpikeSAE, compare
from sklearn_mini.baselines import NMF, PCA
from sklearn_mini.io import load_retina


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    here = pathlib.Path(__file__).resolve().parents[1]
    parser.add_argument("--data", default=str(here.parent / "shared" / "data"))
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI")
    args = parser.parse_args()
    path = pathlib.Path(args.data) / "retina_onken2016" / "NaturalImages1.mat"
    if not path.exists():
        print(f"skipped: {path} not found")
        return
    spikes = load_retina(path).spikes
    k = 8
    epochs, cebra_iters = (2, 50) if args.smoke else (30, 2000)

    def binned(model):
        return make_pipeline(SpikeBinner(bin_size=0.05, min_rate=0.5), model)

    methods = {
        "SpikeSAE (d 256, k 4)": binned(SpikeSAE(d_sae=256, topk=4, n_epochs=epochs,
                                                 random_state=0)),
        f"PCA ({k})": binned(PCA(n_components=k)),
        f"NMF ({k})": binned(NMF(n_components=k, init="nndsvda", max_iter=500, random_state=0)),
    }
    try:
        import cebra  # noqa: F401

        from sklearn_mini.adapters import CEBRAEmbedding

        methods[f"CEBRA ({k})"] = binned(CEBRAEmbedding(output_dimension=k,
                                                        max_iterations=cebra_iters,
                                                        random_state=0))
    except ImportError:
        print("CEBRA row skipped: pip install 'sklearn-mini[cebra]'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare(methods, spikes, cv=5)
    print(f"retina NaturalImages1: {spikes.n_units} units, {spikes.t_stop - spikes.t_start:.0f} s, "
          "50 ms bins, units >= 0.5 Hz, 5 contiguous folds (held-out time)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
