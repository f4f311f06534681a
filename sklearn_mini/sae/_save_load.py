"""Saving a fitted SAE to a directory (safetensors + JSON) and loading it, no pickle.

A mixin of :class:`~sklearn_mini._base._BaseSAE`.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .. import _model_files
from .._core.device import resolve_dtype
from .._core.model import SAEModule
from .._core.train_state import TrainState


def _as_tuples(value):
    """Lists (nested) back to tuples, e.g. ``levels`` read from JSON."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


class _SaveLoadMixin:
    """``save(path)`` and ``load(path)`` of a fitted SAE."""

    def save(self, path):
        """Save the fitted model to the directory ``path`` (safetensors + JSON).

        Loading it back with :meth:`load` executes no pickle. The optimiser state is not
        saved: a loaded model transforms, scores and can continue with ``partial_fit``
        from a fresh optimiser.

        Parameters
        ----------
        path : str or path-like
            Directory to create (or overwrite files in).

        Returns
        -------
        path : pathlib.Path
            The directory written.
        """
        check_is_fitted(self)
        params = self.get_params(deep=False)
        if not (params["random_state"] is None or isinstance(params["random_state"], Integral)):
            params["random_state"] = None  # a RandomState instance has no JSON form
        fitted = {
            "n_features_in_": self.n_features_in_,
            "d_sae_": self.d_sae_,
            "n_iter_": self.n_iter_,
            "n_steps_": self.n_steps_,
            "loss_curve_": self.loss_curve_,
            "dead_fraction_curve_": self.dead_fraction_curve_,
            "dead_fraction_": self.dead_fraction_,
            "mean_l0_": self.mean_l0_,
            "level_stats": self._level_stats,
            "module": self._module.config(),
            "levels": [[lv.d, lv.k, lv.weight] for lv in self._levels],
        }
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        tensors = dict(self._module.state_dict())
        tensors["latent_frequency"] = torch.as_tensor(self.latent_frequency_)
        return _model_files.save(path, type(self).__name__, params, fitted, tensors)

    @classmethod
    def load(cls, path, device=None):
        """Load a model written by :meth:`save` (no pickle is executed).

        Parameters
        ----------
        path : str or path-like
            Directory written by :meth:`save`.
        device : {'auto', 'cpu', 'cuda'} or None, default=None
            Replaces the saved ``device`` parameter, e.g. ``'cpu'`` to use a model
            fitted with ``device='cuda'`` on a machine without a GPU. ``None`` keeps it.

        Returns
        -------
        estimator : object
            A fitted estimator of the saved class, on the CPU until used elsewhere.
        """
        from .._core.train_state import Level

        config, tensors = _model_files.load(path, cls.__name__)
        defaults = cls().get_params(deep=False)
        # JSON has no tuples: give back the tuple form where the default is a tuple.
        params = {k: _as_tuples(v) if isinstance(defaults.get(k), tuple) else v
                  for k, v in config["params"].items()}
        if device is not None:
            params["device"] = device
        # A file written before positive_dict existed holds an unconstrained dictionary.
        params.setdefault("positive_dict", bool(config["fitted"]["module"].get("positive_dict",
                                                                               False)))
        est = cls(**params)
        fitted = config["fitted"]
        mcfg = dict(fitted["module"])
        n, d = mcfg.pop("n_features"), mcfg.pop("d_sae")
        module = SAEModule(n, d, generator=torch.Generator(), dtype=resolve_dtype(est.dtype),
                           **mcfg)
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        expected["latent_frequency"] = (d,)
        _model_files.expect_shapes(tensors, expected)
        freq = tensors.pop("latent_frequency")
        module.load_state_dict({k: v.to(module.state_dict()[k].dtype) for k, v in tensors.items()})
        module.eval()
        levels = tuple(Level(int(a), int(b), float(c)) for a, b, c in fitted["levels"])
        est._module, est._levels = module, levels
        est.topk_ = levels[-1].k
        est.lr_ = est._lr(n)
        est._sparsifier = est._make_sparsifier()
        est._train_state = TrainState(extra={"rng_state": torch.Generator().get_state()})
        for name in ("n_features_in_", "d_sae_", "n_iter_", "n_steps_", "loss_curve_",
                     "dead_fraction_", "mean_l0_"):
            setattr(est, name, fitted[name])
        est.dead_fraction_curve_ = fitted.get("dead_fraction_curve_", [])
        est._level_stats = fitted["level_stats"]
        est._set_level_attributes()
        if "feature_names_in_" in fitted:
            est.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        est._store_decoder(module)
        est.threshold_ = float(module.thresholds[-1]) if est._sparsifier.uses_threshold else None
        est.latent_frequency_ = freq.double().numpy()
        return est
