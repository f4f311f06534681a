"""sklearn_mini: sparse autoencoders for neural spike data, as scikit-learn estimators."""

from ._version import __version__

# Through the earlier path on purpose: importing the submodule sklearn_mini.compare binds
# the package attribute ``compare`` to it, so it must happen here, before the function
# of the same name takes that attribute (a later `import sklearn_mini.compare` then
# finds the module loaded and leaves the function in place).
from .compare import compare, plot_comparison
from .sae.matryoshka import MatryoshkaSAE
from .sae.spike import SpikeSAE
from .saving import load, save
from .spikes import SpikeTrains, as_spike_trains
from .spikes.binning import SpikeBinner

__all__ = ["MatryoshkaSAE", "SpikeBinner", "SpikeSAE", "SpikeTrains", "as_spike_trains", "compare",
           "load", "plot_comparison", "save", "__version__"]
