"""``sparsity='topk'``: exactly the ``k`` largest pre-activations of every sample."""

import torch

from .base import Sparsifier, register
from .selection import masked_row_selection, row_selection, row_topk, scatter_like


@register
class TopK(Sparsifier):
    """Keep the ``k`` largest pre-activations of every sample (after a ReLU)."""

    name = "topk"
    supports_sparse = True
    uses_topk = True

    def select(self, pre, k):
        """The kept entries as a :class:`Selection`: each sample's ``k`` largest latents.

        Zeros from the ReLU stay selected and add nothing (their value is ReLU'd later).
        """
        return row_selection(row_topk(pre, k).indices)

    def select_levels(self, pre, levels):
        """Every nested level's selection from one top-k of the whole dictionary.

        With ``C`` a sample's ``k`` largest entries over all latents, a level's top
        ``k_l`` over its prefix lies inside ``C`` wherever ``C`` holds at least ``k_l``
        prefix entries (everything outside ``C`` is smaller); and where ``C`` reaches
        down to a non-positive value, every positive entry is in ``C``, and the rest of
        the prefix would decode to zero with no gradient (its ReLU'd value), so it is
        left out. Other samples get their own top-k. The result decodes exactly as
        :meth:`select` on every prefix, at the cost of one full top-k; on the CPU only,
        as it needs the count of the samples that fall back.
        """
        last = levels[-1]
        if len(levels) == 1 or pre.device.type != "cpu" or last.d != pre.shape[-1]:
            return super().select_levels(pre, levels)
        values, index = row_topk(pre, last.k)
        reaches_zero = values.min(dim=-1).values <= 0
        selections = []
        for level in levels[:-1]:
            k = min(level.k, level.d)
            if k > values.shape[-1]:
                selections.append(self.select(pre[:, : level.d], k))
                continue
            in_prefix = index < level.d
            level_values, slots = row_topk(values.masked_fill(~in_prefix, float("-inf")), k)
            cols = index.gather(-1, slots)
            fallback = (~reaches_zero & (in_prefix.sum(-1) < k)).nonzero().squeeze(1)
            if len(fallback):
                cols[fallback] = row_topk(pre[fallback, : level.d], k).indices
                level_values[fallback] = 0.0
            selections.append(masked_row_selection(cols, torch.isfinite(level_values)))
        selections.append(row_selection(index))
        return selections

    def train_codes(self, pre, k, module=None):
        values, index = row_topk(pre, k)
        return scatter_like(pre, -1, index, values.relu())
