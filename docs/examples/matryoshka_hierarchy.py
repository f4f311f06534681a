"""Nested levels find coarse features first: MatryoshkaSAE on a planted hierarchy.

Run: ``python docs/examples/matryoshka_hierarchy.py``
"""

import numpy as np

from sklearn_mini import MatryoshkaSAE
from sklearn_mini.datasets import make_hierarchical_counts, match_atoms

# 8 coarse features active 25% of the time, 32 fine ones active about 4% of the time.
X, truth = make_hierarchical_counts(n_samples=10_000, tied=False, random_state=0)
n_train = int(0.7 * len(X))
X_train, X_test = X[:n_train], X[n_train:]

sae = MatryoshkaSAE(levels=((16, 2), (64, 4)), random_state=0).fit(X_train)

level0 = sae.level_slices_[0]
coarse = match_atoms(sae.components_[level0], truth.coarse)
print(f"coarse features matched by level 0 (cosine >= 0.9): {np.mean(coarse >= 0.9):.0%}")
unit = sae.components_ / np.linalg.norm(sae.components_, axis=1, keepdims=True)
fine_owner = (truth.fine @ unit.T).argmax(axis=1)
print(f"fine features best matched outside level 0: {np.mean(fine_owner >= level0.stop):.0%}")
for level, score in enumerate(sae.score_levels(X_test)):
    print(f"level {level}: held-out explained variance {score:.3f}, "
          f"L0 {sae.level_mean_l0_[level]:.2f}, dead {sae.level_dead_fractions_[level]:.1%}")
