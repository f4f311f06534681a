"""Synthetic spike data with planted ground truth.

* The demo's simulator and the original planted-count generators
  (:mod:`._simulators`): :func:`make_sparse_counts`, :func:`make_sparse_spikes`,
  :func:`make_hierarchical_counts`, :func:`make_spiking_features`.
* The recovery suite (:mod:`._planted`), generators the package's defaults were not
  tuned on: :func:`make_broad_narrow`, :func:`make_dictionary_spikes`,
  :func:`make_shared_assemblies`, :func:`make_parent_child` and the held-out
  :func:`make_probe_bumps` (all in
  ``RECOVERY_GENERATORS``).
* Latent dynamics: :func:`make_lorenz_spikes` (:mod:`._lorenz`), Poisson spikes driven
  by a Lorenz attractor.
* :func:`match_atoms` scores a learned dictionary against planted atoms.
"""

from ._lorenz import make_lorenz_spikes
from ._planted import (
    RECOVERY_GENERATORS,
    make_broad_narrow,
    make_dictionary_spikes,
    make_parent_child,
    make_probe_bumps,
    make_shared_assemblies,
)
from ._simulators import (
    make_hierarchical_counts,
    make_sparse_counts,
    make_sparse_spikes,
    make_spiking_features,
    match_atoms,
)

__all__ = [
    "RECOVERY_GENERATORS",
    "make_broad_narrow",
    "make_dictionary_spikes",
    "make_hierarchical_counts",
    "make_lorenz_spikes",
    "make_parent_child",
    "make_probe_bumps",
    "make_shared_assemblies",
    "make_sparse_counts",
    "make_sparse_spikes",
    "make_spiking_features",
    "match_atoms",
]
