"""Fit SpikeSAE on simulated spike counts and judge it on held-out time.

Run: ``python docs/examples/fit_spikesae.py``
"""

import numpy as np

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts, match_atoms

# 20,000 time bins of 64 units driven by 32 sparse, non-negative features.
X, truth = make_sparse_counts(n_samples=20_000, n_features=64, n_atoms=32, n_active=3,
                              rate_scale=8.0, random_state=0)

# Hold out the last 30% of the recording (contiguous time, not random bins).
n_train = int(0.7 * len(X))
scale = X[:n_train].max()
X_train, X_test = X[:n_train] / scale, X[n_train:] / scale

sae = SpikeSAE(d_sae=64, topk=3, random_state=0).fit(X_train)

Z = sae.transform(X_test)
print(f"held-out explained variance: {sae.score(X_test):.3f}")
print(f"held-out mean L0: {np.count_nonzero(Z, axis=1).mean():.2f} (topk=3)")
print(f"dead latents: {sae.dead_fraction_:.1%}")
best = match_atoms(sae.components_, truth.dictionary)
print(f"planted features recovered (cosine >= 0.9): {np.mean(best >= 0.9):.0%}")
