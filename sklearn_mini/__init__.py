"""sklearn_mini: sparse autoencoders for neural spike data, as scikit-learn estimators."""

from .binning import SpikeBinner
from .compare import compare, plot_comparison
from .matryoshka import MatryoshkaSAE
from .sae import SpikeSAE
from .saving import load, save
from .spikes import SpikeTrains, as_spike_trains

__version__ = "0.1.0"

__all__ = ["MatryoshkaSAE", "SpikeBinner", "SpikeSAE", "SpikeTrains", "as_spike_trains", "compare",
           "load", "plot_comparison", "save", "__version__"]
