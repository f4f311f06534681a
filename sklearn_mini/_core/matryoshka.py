"""Matryoshka's training policies, handed to the :class:`~.training.Trainer` through
:class:`~.train_state.TrainConfig`: which inner dictionary sizes a step trains (prefix
sampling) and the renumbering of latents by firing frequency.

A flat dictionary, or nesting with neither policy, uses :class:`NestingPolicy` with its
defaults: the nominal levels every step and no renumbering.
"""

import torch

from .train_state import Level

# At the end of each epoch in the first REORDER_FRACTION of a fit, the latents are
# renumbered by how often they fired in the whole dictionary during that epoch, most
# frequent first. A latent that found a frequent feature late, outside the first level,
# moves into it, and a rare one leaves; the whole dictionary's function is unchanged.
# The second half of the fit trains the final nesting undisturbed.
REORDER_FRACTION = 0.5


class NestingPolicy:
    """How training treats nested levels.

    Parameters
    ----------
    prefix_sampling : {'fixed', 'random'}
        ``'random'`` draws every inner level's size anew at each step
        (:meth:`step_levels`).
    reorder : bool
        Renumber latents by firing frequency in the first ``REORDER_FRACTION`` of a fit.
    """

    def __init__(self, prefix_sampling="fixed", reorder=False):
        if prefix_sampling not in ("fixed", "random"):
            raise ValueError(f"prefix_sampling must be 'fixed' or 'random', got "
                             f"{prefix_sampling!r}.")
        self.prefix_sampling = prefix_sampling
        self.reorder = bool(reorder)

    def __repr__(self):
        return (f"NestingPolicy(prefix_sampling={self.prefix_sampling!r}, "
                f"reorder={self.reorder})")

    def step_levels(self, levels, generator):
        """The levels of one step: the nominal ones, or random inner cut points.

        With ``prefix_sampling='random'`` every inner level ``l`` gets a size drawn
        uniformly from ``max(k_l, d'_{l-1} + 1) .. d_l`` (its nominal size at most) with
        ``generator``; the last level is always the whole dictionary.
        """
        if self.prefix_sampling != "random" or len(levels) == 1:
            return levels
        drawn, previous = [], 0
        for level in levels[:-1]:
            low = min(level.d, max(level.k, previous + 1))
            d = int(torch.randint(low, level.d + 1, (1,), generator=generator))
            drawn.append(Level(d, level.k, level.weight))
            previous = d
        return (*drawn, levels[-1])

    def reorder_epochs(self, n_epochs, n_levels):
        """How many of a fit's first epochs end with a renumbering (0 without nesting)."""
        if not self.reorder or n_levels < 2:
            return 0
        return int(REORDER_FRACTION * n_epochs)


def frequency_order(firing):
    """Latent order by firing count, most frequent first; ties keep their order."""
    return torch.argsort(firing, descending=True, stable=True)


def select_latents(module, optimizer, index):
    """Keep the latents ``index`` of ``module`` in that order (a permutation renumbers, a
    subset prunes), and the optimiser's moments of every per-latent tensor with them, so
    the next step continues as if the latents had always been numbered so."""
    module.select_latents(index)
    params = {id(p): dim for p, dim in module.latent_parameters()}
    for param, moments in optimizer.state.items():
        dim = params.get(id(param))
        if dim is None:
            continue
        for name, value in moments.items():
            if torch.is_tensor(value) and value.dim() == param.dim():
                moments[name] = value.index_select(dim, index.to(value.device))
