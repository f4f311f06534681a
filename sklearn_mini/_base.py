"""Shared scikit-learn shell for every sparse autoencoder estimator.

Subclasses declare their parameters in ``__init__`` and say how the dictionary is split
into levels (:meth:`_BaseSAE._make_levels`); fitting, inference, scoring and persistence
live here once and run on the torch core in :mod:`sklearn_mini._core`.
"""

import copy
import math
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _persistence
from ._core import init as core_init
from ._core.device import resolve_device, resolve_dtype
from ._core.model import SAEModule
from ._core.sparsity import make_sparsifier
from ._core.training import (
    TrainConfig,
    Trainer,
    TrainState,
    calibrate_thresholds,
    encode,
    firing_counts,
    iter_batches,
)
from .metrics import explained_variance

# Rows per block for inference; bounds the memory of transform/score.
INFERENCE_BATCH = 8192
# n_epochs='auto': at least this many epochs and at least this many optimiser steps.
AUTO_MIN_EPOCHS = 20
AUTO_MIN_STEPS = 1000
AUTO_MAX_EPOCHS = 1000


class _BaseSAE(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Fit/transform/score/save logic shared by SpikeSAE and its relatives."""

    _parameter_constraints: dict = {
        "sparsity": [StrOptions({"batchtopk", "topk", "relu"})],
        "loss": [StrOptions({"msle", "mse"})],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "l1_coef": [Interval(Real, 0, None, closed="left")],
        "aux_coef": [Interval(Real, 0, None, closed="left")],
        "k_aux": [Interval(Integral, 1, None, closed="left"), None],
        "dead_window": [Interval(Integral, 1, None, closed="left"), None],
        "decoder_bias_init": [StrOptions({"mean", "geometric_median", "zeros"})],
        "subtract_decoder_bias": ["boolean"],
        "output_relu": ["boolean", StrOptions({"auto"})],
        "optimizer": [StrOptions({"adam", "nadam", "adamw"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine_cycle"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------ subclass hooks
    def _make_levels(self, n_samples, n_features):
        """Tuple of :class:`~sklearn_mini._core.training.Level`, smallest first."""
        raise NotImplementedError

    def _set_level_attributes(self):
        """Expose per-level statistics as fitted attributes (estimators with levels)."""

    # ------------------------------------------------------------ validation
    def _validate_X(self, X, reset):
        X = validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=["csr", "csc", "coo"],
            dtype=[np.float64, np.float32],
        )
        if sp.issparse(X):
            X = X.toarray()
        if self.loss == "msle" and X.size and X.min() < 0:
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__} (min {X.min():.4g}): "
                "loss='msle' compares log1p of counts and needs non-negative input. Pass "
                "spike counts (or rates), or use loss='mse' for centred/z-scored data."
            )
        return X

    def _to_tensor(self, X, device):
        return torch.tensor(np.asarray(X), dtype=resolve_dtype(self.dtype), device=device)

    def _levels_or_raise(self, n_samples, n_features):
        levels = self._make_levels(n_samples, n_features)
        if self.sparsity != "relu":
            for level in levels:
                if level.k > level.d:
                    raise ValueError(
                        f"topk={level.k} is larger than the number of latents it selects "
                        f"from ({level.d}). Use topk <= d_sae."
                    )
        return levels

    def _train_config(self, levels, n_samples, n_features):
        batch_size = min(self.batch_size, n_samples)
        steps_per_epoch = math.ceil(n_samples / batch_size)
        d_sae = levels[-1].d
        return TrainConfig(
            levels=levels,
            sparsifier=make_sparsifier(self.sparsity, self.l1_coef),
            loss=self.loss,
            tau=self.tau,
            aux_coef=self.aux_coef,
            k_aux=min(d_sae, self.k_aux or max(1, n_features // 2)),
            dead_window=self.dead_window or max(1, math.ceil(steps_per_epoch / 2)),
            optimizer=self.optimizer,
            lr=self.lr,
            lr_schedule=self.lr_schedule,
            batch_size=batch_size,
            verbose=self.verbose,
            prefix_sampling=getattr(self, "prefix_sampling", "fixed"),
        ), steps_per_epoch

    def _n_epochs(self, steps_per_epoch):
        if self.n_epochs != "auto":
            return self.n_epochs
        return min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_MIN_STEPS / steps_per_epoch)))

    # ------------------------------------------------------------ fitting
    def _initialise(self, X_t, levels, generator):
        output_relu = bool(X_t.min() >= 0) if self.output_relu == "auto" else self.output_relu
        module = SAEModule(
            X_t.shape[1],
            levels[-1].d,
            subtract_decoder_bias=self.subtract_decoder_bias,
            output_relu=output_relu,
            generator=generator,
            dtype=X_t.dtype,
            n_levels=len(levels),
        )
        module.init_decoder_bias(core_init.decoder_bias(X_t.cpu(), self.decoder_bias_init, generator=generator))
        return module

    def _train(self, X, reset, n_epochs=None, schedule=None):
        """Fit from scratch (``reset``) or continue training for one epoch."""
        device = resolve_device(self.device)
        n_samples, n_features = X.shape
        levels = self._levels_or_raise(n_samples, n_features)
        config, steps_per_epoch = self._train_config(levels, n_samples, n_features)
        X_t = self._to_tensor(X, device)
        if reset:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            generator = torch.Generator().manual_seed(int(seed))
            module, state = self._initialise(X_t, levels, generator), TrainState()
            curve_so_far, epochs_so_far = [], 0
        else:
            generator = torch.Generator()
            generator.set_state(self._train_state.extra["rng_state"])
            module, state = self._module, self._train_state
            curve_so_far, epochs_so_far = list(self.loss_curve_), self.n_iter_
        trainer = Trainer(module, config, generator, device, state)
        n_epochs = n_epochs or self._n_epochs(steps_per_epoch)
        curve = trainer.run(X_t, n_epochs, schedule=schedule)
        module.eval()
        calibrate_thresholds(module, X_t, levels, config.sparsifier, INFERENCE_BATCH)
        self._store_fitted(module, levels, config.sparsifier, X_t)
        self._set_level_attributes()
        self._train_state = trainer.state()
        self._train_state.extra["rng_state"] = generator.get_state()
        self.loss_curve_ = curve_so_far + curve
        self.n_iter_ = epochs_so_far + n_epochs
        self.n_steps_ = trainer.step
        return self

    def _store_fitted(self, module, levels, sparsifier, X_t):
        """Public fitted attributes derived from the trained module."""
        self._module = module
        self._levels = levels
        self._sparsifier = sparsifier
        self.d_sae_ = module.d_sae
        self.output_relu_ = module.output_relu
        self.components_ = module.W_dec.detach().cpu().numpy().copy()
        thresholds = module.thresholds.cpu().numpy()
        self.threshold_ = float(thresholds[-1]) if sparsifier.uses_threshold else None
        # A latent is alive if it fires at inference in any level it belongs to.
        alive = torch.zeros(module.d_sae, dtype=torch.bool, device=X_t.device)
        level_l0, level_dead, start = [], [], 0
        for index, level in enumerate(levels):
            counts, l0 = firing_counts(module, X_t, level, index, sparsifier, INFERENCE_BATCH)
            alive[: level.d] |= counts > 0
            level_l0.append(float(l0))
            level_dead.append(float((counts[start:level.d] == 0).double().mean()))
            start = level.d
        self.dead_fraction_ = float((~alive).double().mean())
        self.mean_l0_ = level_l0[-1]
        self.latent_frequency_ = (counts.double() / X_t.shape[0]).cpu().numpy()
        self._level_stats = {"mean_l0": level_l0, "dead_fraction": level_dead}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the sparse autoencoder on ``X``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts (time bins x units), non-negative for ``loss='msle'``.
        y : None
            Ignored; present for Pipeline and GridSearchCV compatibility.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        return self._train(X, reset=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch over ``X``, continuing from the current state.

        The first call initialises the model from ``X``. Later calls keep the optimiser
        state and the dead-latent clocks, use the constant learning rate ``lr`` (the total
        number of steps of an incremental fit is unknown, so no schedule applies), and
        recalibrate the BatchTopK threshold on the ``X`` of that call.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            A chunk of binned spike counts.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not hasattr(self, "_module")
        X = self._validate_X(X, reset=first)
        return self._train(X, reset=first, n_epochs=1, schedule="constant")

    # ------------------------------------------------------------ inference
    def _module_on(self, device):
        """The fitted module, moved (in place) to ``device`` when it is elsewhere."""
        if self._module.W_dec.device != device:
            self._module.to(device)
        return self._module

    def _inference_setup(self, X):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        device = resolve_device(self.device)
        return X, device, self._module_on(device)

    def _encode_blocks(self, X, level_index=-1):
        """Yield ``(x_block, codes_block)`` tensor pairs for the rows of ``X``."""
        X, device, module = self._inference_setup(X)
        index = level_index % len(self._levels)
        level = self._levels[index]
        with torch.inference_mode():
            for block in iter_batches(X, INFERENCE_BATCH):
                x = self._to_tensor(block, device)
                yield x, encode(module, x, level, index, self._sparsifier)

    def _out_dtype(self, X):
        dtype = getattr(X, "dtype", None)
        return dtype if dtype in (np.float32, np.float64) else np.float64

    def transform(self, X):
        """Sparse latent activations of ``X``.

        Inference is row-wise: BatchTopK uses its calibrated threshold, so the code of a
        row never depends on the other rows of the call.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts with the units seen in ``fit``.

        Returns
        -------
        Z : ndarray of shape (n_samples, d_sae)
            Non-negative latent activations (mostly zeros).
        """
        out_dtype = self._out_dtype(X)
        blocks = [z.cpu().numpy() for _, z in self._encode_blocks(X)]
        return np.concatenate(blocks).astype(out_dtype, copy=False)

    def _check_codes(self, X):
        """Latent activations as a dense float array (clear errors for bad input)."""
        Z = check_array(X, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc", "coo"])
        return Z.toarray() if sp.issparse(Z) else Z

    def _decode(self, Z, like):
        """Decode the dense codes ``Z`` with the first ``Z.shape[1]`` atoms."""
        device = resolve_device(self.device)
        module = self._module_on(device)
        with torch.inference_mode():
            out = [module.decode(self._to_tensor(b, device)).cpu().numpy()
                   for b in iter_batches(Z, INFERENCE_BATCH)]
        return np.concatenate(out).astype(self._out_dtype(like), copy=False)

    def inverse_transform(self, X):
        """Reconstruct spike counts from latent activations.

        Parameters
        ----------
        X : array-like of shape (n_samples, d_sae)
            Latent activations, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            ``X @ components_ + decoder bias`` (with a ReLU when ``output_relu_``).
        """
        check_is_fitted(self)
        Z = self._check_codes(X)
        if Z.shape[1] != self.d_sae_:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but {type(self).__name__} has d_sae_={self.d_sae_} "
                "latents: inverse_transform expects latent activations."
            )
        return self._decode(Z, X)

    def _reconstruct(self, X, level_index=-1):
        out_dtype = self._out_dtype(X)
        module = self._module
        blocks = [module.decode(z).cpu().numpy() for _, z in self._encode_blocks(X, level_index)]
        return np.concatenate(blocks).astype(out_dtype, copy=False)

    def reconstruct(self, X):
        """Reconstruction of ``X`` through the sparse code (``inverse_transform(transform(X))``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Reconstructed counts.
        """
        return self._reconstruct(X)

    def score(self, X, y=None):
        """Pooled explained variance of the reconstruction of ``X``.

        ``1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2`` with per-unit means over the
        rows of ``X`` (:func:`sklearn_mini.metrics.explained_variance`). Score held-out
        time bins, never the training bins, to judge a model.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Explained variance (higher is better, at most 1).
        """
        X_dense = X.toarray() if sp.issparse(X) else X
        return explained_variance(np.asarray(X_dense, dtype=np.float64), self._reconstruct(X))

    # ------------------------------------------------------------ sklearn glue
    @property
    def _n_features_out(self):
        return self.d_sae_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = self.loss == "msle"
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # CUDA kernels (scatter/index_add, atomics) are not bit-reproducible.
        tags.non_deterministic = self.device == "cuda"
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        module = state.get("_module")
        if module is not None and module.W_dec.device.type != "cpu":
            state["_module"] = copy.deepcopy(module).cpu()
        return state

    # ------------------------------------------------------------ persistence
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
        return _persistence.save(path, type(self).__name__, params, fitted, tensors)

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
        from ._core.training import Level

        config, tensors = _persistence.load(path)
        if config.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {config.get('class')!r}, not a {cls.__name__}.")
        params = dict(config["params"])
        if device is not None:
            params["device"] = device
        est = cls(**params)
        fitted = config["fitted"]
        mcfg = fitted["module"]
        n_levels, d, n = mcfg["n_levels"], mcfg["d_sae"], mcfg["n_features"]
        _persistence.expect_shapes(tensors, {
            "W_enc": (n, d), "W_dec": (d, n), "b_enc": (d,), "b_dec": (n,),
            "thresholds": (n_levels,), "latent_frequency": (d,),
        })
        module = SAEModule(n, d, subtract_decoder_bias=mcfg["subtract_decoder_bias"],
                           output_relu=mcfg["output_relu"], generator=torch.Generator(),
                           dtype=resolve_dtype(est.dtype), n_levels=n_levels)
        freq = tensors.pop("latent_frequency")
        module.load_state_dict({k: v.to(getattr(module, k).dtype) for k, v in tensors.items()})
        module.eval()
        levels = tuple(Level(int(a), int(b), float(c)) for a, b, c in fitted["levels"])
        est._module, est._levels = module, levels
        est._sparsifier = make_sparsifier(est.sparsity, est.l1_coef)
        est._train_state = TrainState(extra={"rng_state": torch.Generator().get_state()})
        for name in ("n_features_in_", "d_sae_", "n_iter_", "n_steps_", "loss_curve_",
                     "dead_fraction_", "mean_l0_"):
            setattr(est, name, fitted[name])
        est._level_stats = fitted["level_stats"]
        est._set_level_attributes()
        if "feature_names_in_" in fitted:
            est.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        est.output_relu_ = module.output_relu
        est.components_ = module.W_dec.detach().numpy().copy()
        est.threshold_ = float(module.thresholds[-1]) if est._sparsifier.uses_threshold else None
        est.latent_frequency_ = freq.double().numpy()
        return est
