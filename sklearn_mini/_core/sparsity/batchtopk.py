"""``sparsity='batchtopk'``: the ``k * n`` largest pre-activations of a batch of ``n``."""

import torch

from .base import Sparsifier, register
from .selection import Selection, batch_top_indices, scatter_like


@register
class BatchTopK(Sparsifier):
    """Keep the ``k * batch_size`` largest pre-activations of the whole batch.

    Training lets busy samples use more latents than quiet ones (Bussmann et al. 2024).
    At inference a single threshold, calibrated after training so that the mean L0 on
    the training data equals ``k`` (:func:`batchtopk_threshold`), keeps every
    pre-activation above it, which makes inference row-wise.
    """

    name = "batchtopk"
    uses_threshold = True
    supports_sparse = True
    uses_topk = True

    def select(self, pre, k):
        """The batch's ``k * n`` largest entries as a :class:`Selection`, grouped by sample.

        Each sample's entries form one bag starting at ``offsets[sample]`` (an empty bag
        decodes to 0). Ranking raw pre-activations instead of ReLU'd ones only changes
        which non-positive entries fill a batch with fewer than ``k * n`` positive
        values; those are ReLU'd to 0 either way.
        """
        n, d = pre.shape
        flat_index = batch_top_indices(pre, min(k * n, n * d))
        rows = torch.div(flat_index, d, rounding_mode="floor")
        order = torch.argsort(rows)
        counts = torch.bincount(rows, minlength=n)
        return Selection(rows[order], (flat_index % d)[order], torch.cumsum(counts, 0) - counts)

    def train_codes(self, pre, k, module=None):
        flat = pre.relu().flatten()
        n_keep = min(k * pre.shape[0], flat.numel())
        values, index = flat.topk(n_keep, sorted=False)
        return scatter_like(flat, 0, index, values).view_as(pre)

    def infer_codes(self, pre, k, threshold, module=None):
        # threshold >= 0, so this is also a ReLU.
        return torch.where(pre > threshold, pre, pre.new_zeros(()))
