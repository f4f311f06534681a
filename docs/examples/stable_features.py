"""Planted assemblies that share units: recovered atoms, and the ones that come back.

SpikeSAE with its defaults (non-negative atoms, TopK) against NMF with as many
components, on counts from :func:`sklearn_mini.datasets.make_shared_assemblies`, then
:class:`~sklearn_mini.stability.StableFeatures` over three seeds. Last, ``topk=1``:
one latent per bin has to blend co-active assemblies, and every seed finds the same
blends, so its dictionaries agree across seeds while matching fewer planted atoms.
Seed consistency says a dictionary is reproducible, not that it is right.
"""

import warnings

import numpy as np
from sklearn.decomposition import NMF

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_shared_assemblies, match_atoms
from sklearn_mini.stability import StableFeatures

X, truth = make_shared_assemblies(n_samples=8000, random_state=0)
train, test = X[:5600], X[5600:]
d = len(truth.dictionary)  # 14 planted assemblies

sae = SpikeSAE(d_sae=d, random_state=0).fit(train)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # NMF's convergence warning
    nmf = NMF(d, init="nndsvda", max_iter=500, random_state=0).fit(train)
for name, atoms in (("SpikeSAE", sae.components_), ("NMF", nmf.components_)):
    best = match_atoms(atoms, truth.dictionary)
    print(f"{name}: {np.sum(best >= 0.9)} of {d} planted assemblies matched at cosine >= 0.9")

stable = StableFeatures(SpikeSAE(d_sae=d), n_seeds=3, random_state=0).fit(train)
print(f"seed consistency {stable.consistency_:.3f}; {stable.stable_.sum()} of {d} latents "
      f"found again in most seeds; held-out EV of those alone {stable.score(test):.3f}")

blend = SpikeSAE(d_sae=d, topk=1, random_state=0).fit(train)
matched = np.sum(match_atoms(blend.components_, truth.dictionary) >= 0.9)
again = StableFeatures(SpikeSAE(d_sae=d, topk=1), n_seeds=3, random_state=0).fit(train)
print(f"topk=1: {matched} of {d} matched, seed consistency {again.consistency_:.3f}")
