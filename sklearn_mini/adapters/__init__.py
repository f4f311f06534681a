"""Adapters that put other latent-variable models in the SAE interface.

Each adapter imports its library only when fitted, and names the extra to install when
it is missing: ``pip install -e ".[cebra]"``, ``".[slicetca]"``, ``".[gpfa]"``. LFADS is
native: :class:`sklearn_mini.dynamics.LFADS`.
"""

from .._core.seeding import isolated_torch_rng
from .cebra import CEBRAEmbedding
from .gpfa import GPFA, gpfa_available
from .gpfa import INSTALL as GPFA_INSTALL
from .slicetca import SliceTCA

__all__ = ["CEBRAEmbedding", "GPFA", "GPFA_INSTALL", "SliceTCA", "gpfa_available",
           "isolated_torch_rng"]
