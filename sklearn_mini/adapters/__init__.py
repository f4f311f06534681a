"""Adapters that put other latent-variable models in the SAE interface.

Each adapter imports its library only when fitted, and names the extra to install when
it is missing: ``pip install -e ".[cebra]"``, ``".[slicetca]"``;
LFADS needs ``lfads_torch`` installed from source (``LFADS_INSTALL``).
"""

from ._rng import isolated_torch_rng
from .cebra import CEBRAEmbedding
from .lfads import INSTALL as LFADS_INSTALL
from .lfads import LFADS, lfads_available
from .slicetca import SliceTCA

__all__ = ["CEBRAEmbedding", "LFADS", "LFADS_INSTALL", "SliceTCA", "isolated_torch_rng",
           "lfads_available"]
