"""Shared scikit-learn shell for every sparse autoencoder estimator: the fit.

Subclasses build their ``__init__`` from ``_params.sae_init`` and say how the dictionary
is split into levels (:meth:`_BaseSAE._make_levels`). This module validates, turns the
parameters into plain values (``_config.py``), starts or resumes the module, hands it to
the solver (:func:`sklearn_mini._core.solver.solve`, which trains on plain values) and
stores what comes back as fitted attributes. Inference is ``_inference.py``, saving
``_save_load.py`` and ``score`` ``evaluation/_score.py``, each a mixin of
:class:`_BaseSAE`.
"""

import copy
import math
import warnings

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state

from .._core import init as core_init
from .._core.data import minimum
from .._core.device import resolve_device
from .._core.model import SAEModule, standalone_decoder
from .._core.pruning import with_last_size
from .._core.solver import epoch_monitor, solve
from .._core.sparsity import REGISTRY
from .._core.train_state import Position, TrainState
from ..evaluation._score import ReconstructionScoreMixin
from ..evaluation.metrics import explained_variance
from ..exceptions import DeadLatentWarning, FitInterruptedWarning
from ._config import NON_NEGATIVE_LOSSES, _ConfigMixin
from ._inference import _InferenceMixin, inference_rows
from ._params import shared_constraints
from ._resume import Checkpoints
from ._save_load import _SaveLoadMixin
from ._sequence import windows

# fit warns (DeadLatentWarning) when more than this fraction of the latents is dead.
DEAD_WARNING_FRACTION = 0.25


class _BaseSAE(ReconstructionScoreMixin, _ConfigMixin, _InferenceMixin, _SaveLoadMixin,
               ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Fit/transform/score/save logic shared by SpikeSAE and its relatives."""

    _parameter_constraints: dict = shared_constraints()

    # ------------------------------------------------------------ subclass hooks
    def _make_levels(self, X):
        """Tuple of :class:`~sklearn_mini._core.train_state.Level`, smallest first, for
        training data ``X`` (its shape, and its sparsity for rules such as
        ``topk='auto'``)."""
        raise NotImplementedError

    def _set_level_attributes(self):
        """Expose per-level statistics as fitted attributes (estimators with levels)."""

    # ------------------------------------------------------------ fitting
    def _initialise(self, data, levels, generator):
        output_relu = minimum(data) >= 0 if self.output_relu == "auto" else self.output_relu
        module = SAEModule(
            data.n_features,
            levels[-1].d,
            generator=generator,
            dtype=data.dtype,
            n_levels=len(levels),
            **self._module_kwargs(output_relu),
        )
        module.init_decoder_bias(core_init.decoder_bias(data, self.decoder_bias_init,
                                                        generator=generator))
        return module

    def _train(self, X, reset, n_epochs=None, schedule=None, groups=None, X_val=None):
        """Fit from scratch (``reset``) or continue training for one epoch.

        ``X_val`` (validated rows) replaces the ``validation_fraction`` split: it is
        scored after every epoch, and decides the stopping only with ``early_stopping``.
        The parameters become plain values here; :func:`._core.solver.solve` trains.
        """
        self._check_transform_algorithm()
        device = resolve_device(self.device)
        n_rows = X.shape[0]
        X, _ = windows(X, self.seq_len, groups, full_only=True)
        if X.shape[0] == 0:
            raise ValueError(f"X has {n_rows} sample(s) but no segment with seq_len="
                             f"{self.seq_len} consecutive bins to train on.")
        if X_val is not None:
            X_val, _ = windows(X_val, self.seq_len, None, full_only=True)
        elif reset:
            X, X_val = self._validation_split(X)
        n_samples, n_features = X.shape
        levels = self._levels_or_raise(X)
        config, steps_per_epoch = self._train_config(levels, n_samples, n_features)
        data = self._training_rows(X, device)
        n_epochs = n_epochs or self._n_epochs(steps_per_epoch)
        if reset:  # an over-complete start, pruned to ``levels`` during the fit
            config.pruning = self._prune_schedule(levels, n_epochs)
            if config.pruning is not None:
                config.levels = with_last_size(levels, config.pruning.start)
        start = self._start(X, data, config.levels, n_epochs, reset)
        module, generator, state, position, checkpoints, n_epochs = start
        resumed = position.epoch if checkpoints is not None else 0
        monitor = self._monitor(module, config, X_val, n_epochs, device, position) \
            if reset else None
        result = solve(module, data, config, generator, device, n_epochs=n_epochs,
                       state=state, position=position, threads=self._threads(module, device),
                       reset=reset, schedule=schedule, monitor=monitor,
                       checkpoints=checkpoints,
                       inference_block=inference_rows(module.d_sae, device))
        self._store_fitted(module, levels, config.sparsifier, result.statistics)
        self._set_level_attributes()
        self._store_curves(result, X_val is not None, resumed)
        if result.stopped_by:
            self._warn_interrupted(result.stopped_by, result.position, n_epochs, checkpoints)
        elif reset:
            self._warn_dead()
        return self

    def _start(self, X, data, levels, n_epochs, reset):
        """Module, generator, state, position, checkpoints and epoch count to train from.

        From scratch: a new module from the estimator's seed, resumed from a checkpoint
        when ``checkpoint_dir`` holds a compatible one. Otherwise the fitted module
        continues where the last call left it, for ``n_epochs`` more epochs.
        """
        if not reset:
            generator = torch.Generator()
            generator.set_state(self._train_state.extra["rng_state"])
            state = self._train_state
            position = Position(first_step=state.step, curve=list(self.loss_curve_),
                                dead_curve=list(self.dead_fraction_curve_),
                                epoch=self.n_iter_)
            return self._module, generator, state, position, None, n_epochs + self.n_iter_
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator().manual_seed(int(seed))
        module, state, position = self._initialise(data, levels, generator), TrainState(), \
            Position()
        checkpoints = None
        if self.checkpoint_dir is not None:
            checkpoints = Checkpoints(self, X, n_epochs)
            state, position = checkpoints.resume(module, generator, state, position)
        return module, generator, state, position, checkpoints, n_epochs

    def _store_curves(self, result, validated, resumed):
        """The fit's curves and counters (sklearn's MLP names where they exist)."""
        position = result.position
        self._train_state = result.state
        self.loss_curve_ = position.curve
        self.validation_scores_ = position.validation if validated else None
        self.best_validation_score_ = (max(position.validation) if validated
                                       and position.validation else None)
        self.converged_ = position.decay_from is not None
        self.atom_turn_curve_ = position.atom_turns
        self.dead_fraction_curve_ = position.dead_curve
        self.n_iter_ = position.epoch
        self.n_steps_ = result.steps
        self.n_epochs_resumed_ = resumed

    # ------------------------------------------------------------ stopping
    def _validation_split(self, X):
        """``(train, validation)`` rows: the last ``validation_fraction`` held out."""
        if not self.early_stopping:
            return X, None
        n_val = math.ceil(self.validation_fraction * X.shape[0])
        if X.shape[0] - n_val < 1:
            raise ValueError(
                f"early_stopping holds out {n_val} of the {X.shape[0]} training rows "
                f"(validation_fraction={self.validation_fraction}), leaving none to train "
                "on. Lower validation_fraction or pass more rows.")
        return X[:-n_val], X[-n_val:]

    def _monitor(self, module, config, X_val, n_epochs, device, position):
        """The convergence rule's end-of-epoch callback (:func:`._core.solver.epoch_monitor`)."""
        held_out = {} if X_val is None else {
            "val": self._training_rows(X_val, device), "score": explained_variance,
            "truth": np.asarray(X_val, dtype=np.float64)}
        return epoch_monitor(module, config, n_epochs, position, tol=self.tol,
                             n_iter_no_change=self.n_iter_no_change,
                             early_stopping=self.early_stopping, **held_out)

    def _warn_dead(self):
        if self.dead_fraction_ <= DEAD_WARNING_FRACTION:
            return
        advice = ["a smaller d_sae (sklearn_mini.model_selection.DSAESearch)"]
        if not self.positive_dict:
            advice.append("positive_dict=True")
        advice.append("more epochs")
        warnings.warn(
            f"{self.dead_fraction_:.0%} of the {self.d_sae_} latents of {type(self).__name__} "
            "never fire on the training data: the dictionary is larger than these data "
            f"support or has not converged. Try {', '.join(advice)}; dead_fraction_curve_ "
            "shows when during training they died.",
            DeadLatentWarning, stacklevel=3,
        )

    def _warn_interrupted(self, signal_name, position, n_epochs, checkpoints):
        where = (f" A checkpoint is in {self.checkpoint_dir}: fit again with the same "
                 "parameters and data to continue." if checkpoints is not None else "")
        warnings.warn(
            f"{type(self).__name__}.fit stopped by {signal_name} after {position.epoch} of "
            f"{n_epochs} epochs (+{position.batch} batches). The estimator holds the model "
            f"as of the last completed step and is usable.{where}",
            FitInterruptedWarning, stacklevel=3,
        )

    def _store_fitted(self, module, levels, sparsifier, statistics):
        """Public fitted attributes of the trained module and its ``statistics``
        (:func:`._core.solver.level_statistics`)."""
        self._module = module
        self._levels = levels
        self._sparsifier = sparsifier
        self.d_sae_ = module.d_sae
        self.topk_ = levels[-1].k
        self.lr_ = self._lr(module.n_features)
        self._store_decoder(module)
        thresholds = module.thresholds.cpu().numpy()
        self.threshold_ = float(thresholds[-1]) if sparsifier.uses_threshold else None
        self.dead_fraction_ = statistics["dead_fraction"]
        self.mean_l0_ = statistics["level_mean_l0"][-1]
        self.latent_frequency_ = statistics["latent_frequency"]
        self._level_stats = {"mean_l0": statistics["level_mean_l0"],
                             "dead_fraction": statistics["level_dead_fraction"]}

    def _store_decoder(self, module):
        """``components_`` for a linear decoder; ``decoder_`` for a nonlinear one."""
        self.output_relu_ = module.output_relu
        if module.linear_decoder:
            self.components_ = module.W_dec.detach().cpu().numpy().copy()
            self.__dict__.pop("decoder_", None)
        else:
            self.decoder_ = standalone_decoder(module)
            self.__dict__.pop("components_", None)
        fitted = self._make_sparsifier().fitted(module)
        for cls in REGISTRY.values():  # none left from a fit with another sparsity
            for name in cls.fitted_attributes:
                self.__dict__.pop(name, None)
        self.__dict__.update(fitted)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None, X_val=None):
        """Train the sparse autoencoder on ``X``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts (time bins x units), non-negative for the count losses
            (``'msle'``, ``'msle_asym'``, ``'poisson'``).
        y : None
            Ignored; present for Pipeline and GridSearchCV compatibility.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment label of every row (e.g. trial or recording id). With
            ``seq_len > 1`` no window crosses a change of label. Ignored otherwise.
        X_val : array-like or sparse matrix of shape (n_val, n_features), default=None
            Held-out rows (e.g. a later block of time) scored after every epoch, as in
            scikit-learn's ``HistGradientBoostingRegressor.fit(X_val=...)``: their
            explained variance goes to ``validation_scores_``. With ``early_stopping``
            they replace the ``validation_fraction`` split and decide when to stop;
            without it they are only watched, and the training loss decides. In a
            Pipeline, pass them already binned: ``pipe.fit(spikes,
            spikesae__X_val=X_val)``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X = self._validate_X(X, reset=True)
        if X_val is not None:
            X_val = self._validate_X(X_val, reset=False)
        return self._train(X, reset=True, groups=groups, X_val=X_val)

    def fit_transform(self, X, y=None, groups=None, X_val=None):
        """Fit to ``X``, then return its latent activations (``groups`` used by both).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.
        y : None
            Ignored.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels, as in :meth:`fit`.
        X_val : array-like or sparse matrix, default=None
            Held-out rows, as in :meth:`fit`.

        Returns
        -------
        Z : ndarray of shape (n_samples, d_sae)
            Latent activations.
        """
        return self.fit(X, y, groups=groups, X_val=X_val).transform(X, groups=groups)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, groups=None):
        """Train for one epoch over ``X``, continuing from the current state.

        The first call initialises the model from ``X``. Later calls keep the optimiser
        state and the dead-latent clocks, use the constant learning rate ``lr_`` (the total
        number of steps of an incremental fit is unknown, so no schedule applies), and
        recalibrate the BatchTopK threshold on the ``X`` of that call.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            A chunk of binned spike counts.
        y : None
            Ignored.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels, as in :meth:`fit`.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not hasattr(self, "_module")
        X = self._validate_X(X, reset=first)
        return self._train(X, reset=first, n_epochs=1, schedule="constant", groups=groups)

    # ------------------------------------------------------------ sklearn glue
    # set_output wraps only the transform a class defines itself, so it is named here.
    transform = _InferenceMixin.transform

    @property
    def _n_features_out(self):
        return self.d_sae_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = self.loss in NON_NEGATIVE_LOSSES
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
