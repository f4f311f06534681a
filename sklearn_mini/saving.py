"""Save and load fitted estimators, and Pipelines of them, without pickle.

Every estimator of the package writes a directory of ``config.json`` (parameters and
fitted scalars) and ``model.safetensors`` (arrays); a Pipeline of them writes its own
config naming its steps, and each step in a sub-directory ``step<i>``. Loading executes
no pickle, so a saved model from someone else is safe to open.
"""

from pathlib import Path

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from . import _model_files


def _classes():
    from .dynamics.lfads import LFADS
    from .sae.matryoshka import MatryoshkaSAE
    from .sae.spike import SpikeSAE
    from .spikes.binning import SpikeBinner

    return {cls.__name__: cls for cls in (SpikeBinner, SpikeSAE, MatryoshkaSAE, LFADS)}


def save(estimator, path):
    """Save a fitted estimator of this package, or a fitted Pipeline of them, to ``path``.

    Parameters
    ----------
    estimator : SpikeBinner, SpikeSAE, MatryoshkaSAE, LFADS or Pipeline of these
        The fitted object.
    path : str or path-like
        Directory to create (or overwrite files in).

    Returns
    -------
    path : pathlib.Path
        The directory written.
    """
    path = Path(path)
    if not isinstance(estimator, Pipeline):
        if type(estimator).__name__ not in _classes():
            raise TypeError(_unsaveable(estimator))
        return estimator.save(path)
    for name, step in estimator.steps:  # refuse before writing anything
        if type(step).__name__ not in _classes():
            raise TypeError(f"Step {name!r} of the Pipeline: {_unsaveable(step)}")
        check_is_fitted(step)
    for i, (_, step) in enumerate(estimator.steps):
        step.save(path / f"step{i}")
    steps = [[name, type(step).__name__] for name, step in estimator.steps]
    return _model_files.save(path, "Pipeline", {"steps": steps, "verbose": estimator.verbose},
                             {}, {})


def _unsaveable(estimator):
    return (f"{type(estimator).__name__} has no pickle-free format here; only "
            f"{', '.join(sorted(_classes()))} and Pipelines of them can be saved this way "
            "(use pickle or skops for other objects).")


def load(path, device=None):
    """Load what :func:`save` (or an estimator's ``save``) wrote; no pickle is executed.

    Parameters
    ----------
    path : str or path-like
        Directory written by ``save``.
    device : {'auto', 'cpu', 'cuda'} or None, default=None
        Replaces the saved ``device`` parameter of the SAEs (e.g. ``'cpu'`` for a model
        fitted with ``device='cuda'``); ``None`` keeps it.

    Returns
    -------
    estimator : object
        The fitted estimator or Pipeline, of the classes that saved it.
    """
    path = Path(path)
    config, _ = _model_files.load(path)
    name = config.get("class")
    if name == "Pipeline":
        steps = config["params"]["steps"]
        return Pipeline([(step, load(path / f"step{i}", device)) for i, (step, _) in
                         enumerate(steps)], verbose=config["params"]["verbose"])
    classes = _classes()
    if name not in classes:
        raise ValueError(f"{path} holds an unknown estimator class {name!r}.")
    if name == "SpikeBinner":  # no device: it holds no tensors at run time
        return classes[name].load(path)
    return classes[name].load(path, device=device)
