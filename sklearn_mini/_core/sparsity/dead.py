"""Which dead latents the auxiliary loss decodes, dense and sparse."""

import torch

from .selection import row_selection, row_topk, scatter_like


def _top_dead(pre, dead, k_aux):
    """``(values, index)`` of every sample's ``k_aux`` largest pre-activations among the
    ``dead`` latents; live ones are masked to ``-inf`` and fill in only when fewer than
    ``k_aux`` latents are dead (no host synchronisation needed to know how many)."""
    masked = pre.masked_fill(~dead, float("-inf"))
    return row_topk(masked, k_aux)


def dead_latent_selection(pre, dead, k_aux):
    """The top ``k_aux`` dead latents of every sample: ``(Selection, is_dead)``.

    The sparse form of :func:`dead_latent_mask`. When fewer than ``k_aux`` latents are
    dead, live ones fill the selection; ``is_dead`` (a float mask per entry) zeroes them.
    """
    selection = row_selection(_top_dead(pre, dead, k_aux).indices)
    return selection, dead[selection.cols].to(pre.dtype)


def dead_columns(dead):
    """The latents whose pre-activations the dense aux loss decodes.

    The dead ones on the CPU, where listing them is free. On an accelerator listing
    them would stop the host until the device catches up, so every latent is taken and
    :func:`dead_latent_mask` masks the live ones out (``None``).
    """
    return dead.nonzero().squeeze(1) if dead.device.type == "cpu" else None


def dead_latent_mask(pre, dead, k_aux):
    """1 at every sample's ``k_aux`` largest dead pre-activations, 0 elsewhere.

    ``pre`` holds every latent's pre-activations and ``dead`` their mask (live latents
    masked out), or ``dead`` is None and ``pre`` holds the dead latents' columns only
    (from :func:`dead_columns`). With at most ``k_aux`` dead latents every one of them is
    selected in every sample.
    """
    pre = pre.detach()
    if dead is not None:
        values, index = _top_dead(pre, dead, k_aux)
        return scatter_like(pre, -1, index, torch.isfinite(values).to(pre.dtype))
    if pre.shape[1] <= k_aux:
        return torch.ones_like(pre)
    index = row_topk(pre, k_aux).indices
    return scatter_like(pre, -1, index, torch.ones_like(index, dtype=pre.dtype))
