"""Saving a fitted :class:`~.binning.SpikeBinner` (safetensors + JSON, no pickle).

A mixin, as for the SAEs (``_sae_persistence.py``): the binner module holds the binning,
this one the file format of what it learnt. torch (safetensors) is imported only when a
binner is saved or loaded: binning itself needs numpy alone.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class _BinnerSaveLoadMixin:
    """``save`` / ``load`` of SpikeBinner's fitted state."""

    _SAVED_ARRAYS = ("firing_rates_", "isi_violations_", "scale_", "mean_")

    def save(self, path):
        """Save the fitted binner to the directory ``path`` (safetensors + JSON, no pickle).

        Saves what ``transform`` needs (kept units, per-unit scale and mean, the grid's
        start) and the quality-control record ``qc_``.

        Parameters
        ----------
        path : str or path-like
            Directory to create (or overwrite files in).

        Returns
        -------
        path : pathlib.Path
            The directory written.
        """
        import torch

        from .. import _model_files

        check_is_fitted(self)
        tensors = {name: torch.from_numpy(np.asarray(getattr(self, name), dtype=np.float64))
                   for name in self._SAVED_ARRAYS}
        tensors["qc_firing_rate"] = torch.from_numpy(np.asarray(self.qc_["firing_rate"], float))
        tensors["qc_isi_violations"] = torch.from_numpy(
            np.asarray(self.qc_["isi_violations"], float))
        tensors["qc_kept"] = torch.from_numpy(np.asarray(self.qc_["kept"], dtype=bool))
        fitted = {"unit_ids_": _model_files.ids_to_json(self.unit_ids_),
                  "t_start_": self.t_start_,
                  "qc_unit_id": _model_files.ids_to_json(self.qc_["unit_id"]),
                  "qc_reason": [str(r) for r in self.qc_["reason"]]}
        params = self.get_params(deep=False)
        return _model_files.save(path, type(self).__name__, params, fitted, tensors)

    @classmethod
    def load(cls, path):
        """Load a binner written by :meth:`save` (no pickle is executed).

        Parameters
        ----------
        path : str or path-like
            Directory written by :meth:`save`.

        Returns
        -------
        binner : SpikeBinner
            The fitted binner.
        """
        from .. import _model_files

        config, tensors = _model_files.load(path, cls.__name__)
        params = dict(config["params"])
        if params.get("unit_labels") is not None:
            params["unit_labels"] = tuple(params["unit_labels"])
        binner = cls(**params)
        fitted = config["fitted"]
        binner.unit_ids_ = _model_files.ids_from_json(fitted["unit_ids_"])
        n_kept, n_all = len(binner.unit_ids_), len(fitted["qc_unit_id"]["values"])
        _model_files.expect_shapes(tensors, {
            **{name: (n_kept,) for name in cls._SAVED_ARRAYS},
            "qc_firing_rate": (n_all,), "qc_isi_violations": (n_all,), "qc_kept": (n_all,)})
        for name in cls._SAVED_ARRAYS:
            setattr(binner, name, tensors[name].numpy())
        binner.t_start_ = float(fitted["t_start_"])
        binner.qc_ = {"unit_id": _model_files.ids_from_json(fitted["qc_unit_id"]),
                      "firing_rate": tensors["qc_firing_rate"].numpy(),
                      "isi_violations": tensors["qc_isi_violations"].numpy(),
                      "kept": tensors["qc_kept"].numpy(),
                      "reason": np.asarray(fitted["qc_reason"], dtype=object)}
        return binner
