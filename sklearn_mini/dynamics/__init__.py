"""Latent-dynamics models of binned spike counts: :class:`LFADS` (native)."""

from .lfads import LFADS

__all__ = ["LFADS"]
