"""sklearn_mini: sparse autoencoders for neural spike data, as scikit-learn estimators."""

from ._persistence import load as _load_files
from .binning import SpikeBinner
from .compare import compare, plot_comparison
from .matryoshka import MatryoshkaSAE
from .sae import SpikeSAE
from .spikes import SpikeTrains, as_spike_trains

__version__ = "0.1.0"

_ESTIMATORS = {"SpikeSAE": SpikeSAE, "MatryoshkaSAE": MatryoshkaSAE}


def load(path, device=None):
    """Load any estimator saved with ``save(path)`` (safetensors + JSON, no pickle).

    Parameters
    ----------
    path : str or path-like
        Directory written by an estimator's ``save``.
    device : {'auto', 'cpu', 'cuda'} or None, default=None
        Replaces the saved ``device`` parameter (e.g. ``'cpu'`` for a model fitted
        with ``device='cuda'``); ``None`` keeps it.

    Returns
    -------
    estimator : object
        The fitted estimator, of the class that saved it.
    """
    config, _ = _load_files(path)
    name = config.get("class")
    if name not in _ESTIMATORS:
        raise ValueError(f"{path} holds an unknown estimator class {name!r}.")
    return _ESTIMATORS[name].load(path, device=device)


__all__ = ["MatryoshkaSAE", "SpikeBinner", "SpikeSAE", "SpikeTrains", "as_spike_trains", "compare",
           "load", "plot_comparison", "__version__"]
