"""An over-complete start pruned down to the requested dictionary (``prune_from``).

Why: trained from random atoms at its final size, a dictionary settles in a local
optimum. On the planted generators of the recovery benchmark, the same data and loss
fitted from the planted atoms themselves reached a *lower* training loss and kept every
planted atom, where the fits from random atoms had spent latents on copies of busy
units, fragments of broad patterns and blends of two rare ones. A fit that starts with
more latents than it needs has room for every pattern and for those spares; removing,
in stages, the latents whose removal costs the least loss keeps the patterns and drops
the spares (and the dead latents, whose removal costs nothing). The evidence is in the
user guide's "Features you can trust".

The cost of removing a latent is measured on a sample of training rows, under the
fit's own reconstruction loss: with ``sparsity='topk'`` the next-ranked latent of each
row takes the freed slot (what TopK would do without it); with the other sparsities its
code is dropped. A latent and its usual substitute are never removed in the same round,
so two near-copies of one pattern cannot both go.
"""

import math
from dataclasses import dataclass

import torch

from .losses import element_losses
from .train_state import Level

# Stages end these fractions of the planned epochs: in the flat part of the learning-rate
# schedule (warm-up to 10%, decay from 50%), each after the survivors of the last one had
# a tenth of the fit to take over the removed latents' bins.
STAGE_FRACTIONS = (0.2, 0.3, 0.4, 0.5)
# Fits planned for fewer epochs start at their final size: their stages would fall on
# consecutive epochs, with no training between them.
MIN_EPOCHS = 10
# Training rows on which the removal costs are measured.
COST_ROWS = 8192
# Rows per block of the cost computation (bounds the gathered atoms' memory).
COST_BLOCK = 512
# A round of removals takes at most this fraction of the live latents (at least one),
# then the costs are measured again: one at a time below 32 latents.
ROUND_FRACTION = 1 / 32


@dataclass(frozen=True)
class PruneSchedule:
    """When a fit prunes its dictionary, and to what size.

    ``start`` latents at the start, ``target`` at the end; ``stages`` holds
    ``(epochs done, size after)`` pairs. Only latents at positions ``first`` and beyond
    are removed (a nested dictionary's last level; 0 for a flat one).
    """

    start: int
    target: int
    stages: tuple
    first: int = 0

    @classmethod
    def plan(cls, target, factor, n_epochs, first=0):
        """The schedule for ``factor`` times the latents from ``first`` on, or ``None``
        when there is nothing to prune (``factor`` 1, or fewer than ``MIN_EPOCHS``)."""
        start = first + round(factor * (target - first))
        if start <= target or n_epochs < MIN_EPOCHS:
            return None
        n = len(STAGE_FRACTIONS)
        stages = tuple((round(f * n_epochs), round(start - (start - target) * (i + 1) / n))
                       for i, f in enumerate(STAGE_FRACTIONS))
        return cls(start, target, stages, first)

    @property
    def last_epoch(self):
        """The epoch count at which the last stage runs."""
        return self.stages[-1][0]

    def size_at(self, epochs_done):
        """Latents after ``epochs_done`` epochs (the stage of that epoch included)."""
        size = self.start
        for epoch, after in self.stages:
            if epoch <= epochs_done:
                size = after
        return size

    def due(self, epochs_done):
        """The size to prune to at the end of epoch ``epochs_done``, or ``None``."""
        for epoch, after in self.stages:
            if epoch == epochs_done:
                return after
        return None


def _row_losses(config, x_hat, x):
    return element_losses(config.loss, x_hat, x, config.tau, config.eps).sum(1)


@torch.no_grad()
def removal_costs(module, config, x, alive, pre=None):
    """Loss increase over the rows ``x`` when each live latent is removed (float64;
    ``inf`` for latents not ``alive``), and each one's usual substitute (-1: none).

    The last level's sparsity decides the codes. ``sparsity='topk'``: a removed latent's
    slot goes to the row's next-ranked latent. Other sparsities: its code is dropped.
    ``pre`` may hold the pre-activations of ``x``'s ``COST_BLOCK``-row blocks, computed
    once for all the rounds of a stage.
    """
    level, sparsifier = config.levels[-1], config.sparsifier
    costs = torch.zeros(module.d_sae, dtype=torch.float64, device=x.device)
    pairs = []
    w = module.W_dec
    blocks = x.split(COST_BLOCK)
    pre = pre or [module.pre_activations(block) for block in blocks]
    for block, block_pre in zip(blocks, pre):
        rows, cols, vals, subs, sub_vals = _entries(sparsifier, block_pre, level.k, module,
                                                    alive)
        out = torch.zeros_like(block).index_add_(0, rows, vals.unsqueeze(1) * w[cols])
        out += module.b_dec
        base = _row_losses(config, module._link(out), block)
        changed = out[rows] - vals.unsqueeze(1) * w[cols]
        if subs is not None:
            changed += sub_vals.unsqueeze(1) * w[subs.clamp_min(0)]
            pairs.append((cols * module.d_sae + subs)[subs >= 0])
        delta = _row_losses(config, module._link(changed), block[rows]) - base[rows]
        costs.index_add_(0, cols, delta.double())
    costs[~alive] = float("inf")
    return costs, _usual_substitutes(pairs, module.d_sae, x.device)


def _entries(sparsifier, pre, k, module, alive):
    """The codes of pre-activations ``pre`` with only the ``alive`` latents, as entries
    ``(rows, cols, values)``, plus each entry's substitute latent and value (``None``: no
    substitution)."""
    if sparsifier.name == "topk" and k < int(alive.sum()):
        values, index = pre.masked_fill(~alive, float("-inf")).topk(k + 1, dim=1)  # sorted
        values = values.relu()  # no dead latent is among the k + 1 largest: k + 1 live ones
        rows, slots = (values[:, :k] > 0).nonzero(as_tuple=True)
        sub_vals = values[rows, k]
        subs = torch.where(sub_vals > 0, index[rows, k], -1)
        return rows, index[rows, slots], values[rows, slots], subs, sub_vals
    if sparsifier.uses_topk:  # the dead ones' slots go to others, as without them
        pre = pre.masked_fill(~alive, float("-inf"))
    codes = sparsifier.train_codes(pre, k, module) * alive
    rows, cols = (codes > 0).nonzero(as_tuple=True)
    return rows, cols, codes[rows, cols], None, None


def _usual_substitutes(pairs, d, device):
    """Each latent's most frequent substitute, from ``latent * d + substitute`` keys
    (-1 for a latent that had none)."""
    usual = torch.full((d,), -1, dtype=torch.long, device=device)
    if not pairs:
        return usual
    keys, counts = torch.unique(torch.cat(pairs), return_counts=True)
    # Ascending counts, then a stable sort by latent: each latent's last key is its mode.
    keys = keys[torch.argsort(counts, stable=True)]
    keys = keys[torch.argsort(keys // d, stable=True)]
    latent = keys // d
    last = torch.ones_like(latent, dtype=torch.bool)
    last[:-1] = latent[1:] != latent[:-1]
    usual[latent[last]] = keys[last] % d
    return usual


@torch.no_grad()
def survivors(module, config, x, n_keep, first=0):
    """The latents kept when the dictionary is pruned to ``n_keep`` (sorted indices).

    Greedy: each round removes the cheapest latents (:func:`removal_costs`, at most
    ``ROUND_FRACTION`` of the live ones), never one whose usual substitute went in the
    same round, then measures the costs again. Latents before ``first`` stay.
    """
    alive = torch.ones(module.d_sae, dtype=torch.bool, device=x.device)
    protected = torch.arange(module.d_sae, device=x.device) < first
    pre = [module.pre_activations(block) for block in x.split(COST_BLOCK)]
    while int(alive.sum()) > n_keep:
        costs, usual = removal_costs(module, config, x, alive, pre)
        costs[protected] = float("inf")
        excess = int(alive.sum()) - n_keep
        quota = min(excess, max(1, math.floor(ROUND_FRACTION * int(alive.sum()))))
        _remove_round(alive, costs, usual, quota)
    return alive.nonzero().squeeze(1)


def _remove_round(alive, costs, usual, quota):
    """Mark up to ``quota`` of the cheapest latents dead, skipping substitutes of those
    removed in this round (the first candidate is always removed)."""
    spared = set()
    removed = 0
    for j in torch.argsort(costs).tolist():
        if removed == quota or not math.isfinite(float(costs[j])):
            break
        if j in spared:
            continue
        alive[j] = False
        removed += 1
        if int(usual[j]) >= 0:
            spared.add(int(usual[j]))


def with_last_size(levels, d):
    """``levels`` with the last one resized to ``d`` latents."""
    last = levels[-1]
    return (*levels[:-1], Level(d, last.k, last.weight))


def cost_rows(data, generator):
    """Up to ``COST_ROWS`` training rows drawn with the fit's generator, on the device."""
    index = torch.randperm(data.n_rows, generator=generator)[:COST_ROWS]
    return data.take(index)
