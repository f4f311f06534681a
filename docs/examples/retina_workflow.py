"""The full workflow on a real recording: salamander retina, 60 natural images x 30 trials.

Bins every 300 ms image presentation, fits SpikeSAE, decodes image identity from its
latents (cross-validated over trials: the SAE and PCA are refitted inside every fold),
compares with PCA of as many components as the SAE's mean L0 and with the binned counts
themselves (the ceiling a compression should approach), and lists the latents most
selective for a few images. Needs ``../shared/data/retina_onken2016`` (Onken et al. 2016,
CC0) beside the repository; it says so and exits otherwise.

Run: ``python docs/examples/retina_workflow.py``
"""

import pathlib
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_mini import SpikeBinner, SpikeSAE
from sklearn_mini.baselines import PCA
from sklearn_mini.features import latent_selectivity, top_latents
from sklearn_mini.io import load_retina

DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "retina_onken2016"
if not (DATA / "NaturalImages1.mat").exists():
    print(f"skipped: {DATA} not found")
    raise SystemExit(0)

rec = load_retina(DATA / "NaturalImages1.mat")
X = SpikeBinner(bin_size=0.3, min_rate=0.5).fit_transform(rec.spikes)  # one row per image
image, trial = rec.presentations["stimulus"], rec.presentations["trial"]
print(f"{X.shape[0]} presentations x {X.shape[1]} units")


def accuracy(model):
    """Image identity decoded from the model's codes (``None``: from the binned counts
    themselves), 5 folds of whole trials."""
    steps = [model] if model is not None else []
    pipe = make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cross_val_score(pipe, X, image, groups=trial, cv=GroupKFold(5)).mean()


sae = SpikeSAE(d_sae=64, topk=4, random_state=0).fit(X)
Z = sae.transform(X)
l0 = np.count_nonzero(Z, axis=1).mean()
print(f"SpikeSAE: mean L0 {l0:.2f}, dead latents {sae.dead_fraction_:.1%}")
acc_sae = accuracy(SpikeSAE(d_sae=64, topk=4, random_state=0))
acc_pca = accuracy(PCA(n_components=int(round(l0))))
acc_raw = accuracy(None)
print(f"image identity decoded from SAE latents: {acc_sae:.3f} "
      f"(PCA with {int(round(l0))} components: {acc_pca:.3f}; all {X.shape[1]} units' "
      f"counts: {acc_raw:.3f}; chance {1 / 60:.3f})")

selectivity = latent_selectivity(Z, image)
selective = np.argwhere(selectivity.selectivity >= 0.9)
print(f"{len(selective)} (latent, image) pairs with selectivity >= 0.9: "
      + ", ".join(f"latent {i} for image {selectivity.conditions[c]}" for i, c in selective))
for img in (0, 1, 2):
    best = top_latents(selectivity, img, n=2)
    c = np.flatnonzero(selectivity.conditions == img)[0]
    print(f"image {img}: most selective latents "
          + ", ".join(f"{b} (selectivity {selectivity.selectivity[b, c]:.2f}, "
                      f"active on {selectivity.f_in[b, c]:.0%} of its presentations)"
                      for b in best))
