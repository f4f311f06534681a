"""A new sparsity variant in one class: TopK that drops the small ones.

With ``topk`` above the number of patterns active together, TopK spends its spare
slots on noise (see the user guide's trust page). This variant keeps each bin's ``k``
largest pre-activations, but only those at least a fifth of the bin's largest. Saved as
``sklearn_mini/_core/sparsity/topk_relative.py`` it would be picked up when the package
is imported; registered from your own code, as here, it works the same way.
"""

import numpy as np
import torch

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini._core.sparsity import (
    Sparsifier,
    masked_row_selection,
    register,
    row_topk,
)
from sklearn_mini.datasets import make_sparse_counts


@register
class RelativeTopK(Sparsifier):
    """The ``k`` largest pre-activations of each bin that are at least a fifth of its largest."""

    name = "topk_relative"
    uses_topk = True  # topk (each level's k) is its budget, so topk > d_sae is refused
    supports_sparse = True  # select() below: the gather-sum training path works too
    SHARE = 0.2

    def _kept(self, pre, k):
        values, index = row_topk(pre, k)
        largest = values.max(dim=-1, keepdim=True).values
        keep = (values > 0) & (values >= self.SHARE * largest)
        return values, index, keep

    def select(self, pre, k):
        _, index, keep = self._kept(pre, k)
        return masked_row_selection(index, keep)

    def train_codes(self, pre, k, module=None):
        values, index, keep = self._kept(pre, k)
        kept = torch.where(keep, values, torch.zeros((), dtype=pre.dtype))
        return torch.zeros_like(pre).scatter(-1, index, kept)


X, _ = make_sparse_counts(n_samples=4000, n_features=30, n_atoms=10, n_active=2,
                          random_state=0)
X_train, X_test = X[:3000], X[3000:]
for sparsity in ("topk", "topk_relative"):
    sae = SpikeSAE(d_sae=20, topk=6, sparsity=sparsity, n_epochs=30, random_state=0)
    sae.fit(X_train)
    l0 = np.count_nonzero(sae.transform(X_test), axis=1).mean()
    print(f"{sparsity:>14}: held-out EV {sae.score(X_test):.3f}, mean active latents {l0:.2f}")

# Every estimator and option takes it: Matryoshka levels, the sparse training path.
nested = MatryoshkaSAE(levels=((5, 2), (20, 6)), sparsity="topk_relative",
                       decoder_path="sparse", n_epochs=10, random_state=0).fit(X_train)
print(f"MatryoshkaSAE, sparse path: held-out EV {nested.score(X_test):.3f}")
