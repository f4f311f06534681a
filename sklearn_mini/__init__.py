"""sklearn_mini: sparse autoencoders for neural spike data, as scikit-learn estimators."""

from ._persistence import load as _load_files
from .sae import SpikeSAE

__version__ = "0.1.0"

_ESTIMATORS = {"SpikeSAE": SpikeSAE}


def load(path):
    """Load any estimator saved with ``save(path)`` (safetensors + JSON, no pickle).

    Parameters
    ----------
    path : str or path-like
        Directory written by an estimator's ``save``.

    Returns
    -------
    estimator : object
        The fitted estimator, of the class that saved it.
    """
    config, _ = _load_files(path)
    name = config.get("class")
    if name not in _ESTIMATORS:
        raise ValueError(f"{path} holds an unknown estimator class {name!r}.")
    return _ESTIMATORS[name].load(path)


__all__ = ["SpikeSAE", "load", "__version__"]
