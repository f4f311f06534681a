"""Shared scikit-learn shell for every sparse autoencoder estimator.

Subclasses declare their parameters in ``__init__`` and say how the dictionary is split
into levels (:meth:`_BaseSAE._make_levels`); fitting, inference, scoring and persistence
live here once and run on the torch core in :mod:`sklearn_mini._core`.
"""

import copy
import math
import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.decomposition import sparse_encode
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _persistence
from ._params import shared_constraints
from ._score import ReconstructionScoreMixin
from ._core import init as core_init
from ._core.device import resolve_device, resolve_dtype
from ._core.model import SAEModule, standalone_decoder
from ._core.sparsity import REGISTRY, make_sparsifier
from ._core.training import (
    CUDA_ROW_ALIGN,
    ROW_ALIGN,
    TrainConfig,
    Trainer,
    Position,
    TrainState,
    calibrate_thresholds,
    encode,
    firing_counts,
    iter_batches,
)
from ._checkpoints import Checkpoints
from ._core.data import default_limit_bytes, minimum, training_rows
from ._core.interrupt import stop_signals
from ._core import stopping
from ._core.schedules import WARMUP_FRACTION, auto_lr
from ._core.threads import cpu_threads
from ._sequence import lag_block, windows
from .exceptions import DeadLatentWarning, FitInterruptedWarning
from .metrics import dense_float64, explained_variance

# Rows per block for inference, at most; blocks also hold at most INFERENCE_ELEMENTS
# codes (4 MB in float32), which bounds the memory of transform/score and of the
# post-fit calibration for large dictionaries. Small blocks are also faster on the CPU:
# their buffers are reused instead of fresh pages faulted in for every block
# (benchmarks/bench_kernels.py --only inference: 2^20 was 1.35-1.45x faster than 2^24).
INFERENCE_BATCH = 8192
INFERENCE_ELEMENTS = 2**20


def inference_rows(d_sae, device):
    """Rows per inference block for a dictionary of ``d_sae`` latents on ``device``.

    A multiple of ``ROW_ALIGN`` (row-wise bit-identical codes); on CUDA every block is
    padded to ``CUDA_ROW_ALIGN`` rows anyway, so blocks keep that size there.
    """
    if torch.device(device).type == "cuda":
        return CUDA_ROW_ALIGN
    rows = INFERENCE_ELEMENTS // max(1, d_sae) // ROW_ALIGN * ROW_ALIGN
    return int(min(INFERENCE_BATCH, max(ROW_ALIGN, rows)))
# Losses that compare logs or Poisson likelihoods of counts: input must be non-negative.
NON_NEGATIVE_LOSSES = ("msle", "msle_asym", "poisson")
# n_epochs='auto': at least this many epochs and at least this many optimiser steps.
AUTO_MIN_EPOCHS = 20
AUTO_MIN_STEPS = 4000
AUTO_MAX_EPOCHS = 1000
# decoder_path='auto' uses the gather-sum decoder for dictionaries of at least
# SPARSE_DECODER_MIN_D latents and SPARSE_DECODER_MIN_RATIO times the largest top-k. On a
# 2-core CPU (benchmarks/bench_sae.py, one run) dense won or tied up to d_sae = 256
# (k = 4-8) and sparse won from d_sae = 2048 (k = 8) on.
SPARSE_DECODER_MIN_D = 512
SPARSE_DECODER_MIN_RATIO = 32
# fit warns (DeadLatentWarning) when more than this fraction of the latents is dead.
DEAD_WARNING_FRACTION = 0.25


def _as_tuples(value):
    """Lists (nested) back to tuples, e.g. ``levels`` read from JSON."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


class _BaseSAE(ReconstructionScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
               BaseEstimator):
    """Fit/transform/score/save logic shared by SpikeSAE and its relatives."""

    _parameter_constraints: dict = shared_constraints()

    # ------------------------------------------------------------ subclass hooks
    def _make_levels(self, X):
        """Tuple of :class:`~sklearn_mini._core.training.Level`, smallest first, for
        training data ``X`` (its shape, and its sparsity for rules such as
        ``topk='auto'``)."""
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
            # One bin is fitted exactly by the decoder bias alone: nothing to learn, and
            # the divergence check would measure drift against a loss of 0.
            ensure_min_samples=2 if reset else 1,
        )
        if sp.issparse(X):
            X = X.toarray()
        if self.loss in NON_NEGATIVE_LOSSES and X.size and X.min() < 0:
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__} (min {X.min():.4g}): "
                f"loss={self.loss!r} models counts and needs non-negative input. Pass "
                "spike counts (or rates), or use loss='mse' for centred/z-scored data."
            )
        return X

    def _decoder_layers(self):
        try:
            layers = tuple(self.decoder_layers)
        except TypeError:
            layers = None
        if layers is None or not all(isinstance(h, Integral) and h >= 1 for h in layers):
            raise ValueError("decoder_layers must be a tuple of positive integers (hidden "
                             f"sizes of a nonlinear decoder), or () for linear; got "
                             f"{self.decoder_layers!r}.")
        return tuple(int(h) for h in layers)

    def _make_sparsifier(self):
        return make_sparsifier(self.sparsity, self.get_params(deep=False))

    def _use_sparse_decoder(self, d_sae, levels):
        """Whether training decodes by gather-sum over the selected atoms."""
        if self.decoder_path == "dense" or not self._make_sparsifier().supports_sparse:
            return False
        if self._decoder_layers():
            return False
        if self.decoder_path == "sparse":
            return True
        k = max(lv.k for lv in levels)
        return d_sae >= max(SPARSE_DECODER_MIN_D, SPARSE_DECODER_MIN_RATIO * k)

    def _module_kwargs(self, output_relu):
        """SAEModule arguments decided by the parameters (shapes come from the data)."""
        if self.loss == "poisson":
            output = "softplus"  # predicted rates must be positive
        else:
            output = "relu" if output_relu else "identity"
        return {
            "subtract_decoder_bias": self.subtract_decoder_bias,
            "output_relu": output == "relu",
            "output": output,
            "encoder": self._make_sparsifier().encoder,
            "decoder_layers": self._decoder_layers(),
            # A nonlinear decoder has no atoms to keep non-negative.
            "positive_dict": self.positive_dict and not self._decoder_layers(),
        }

    def _to_tensor(self, X, device):
        return torch.tensor(np.asarray(X), dtype=resolve_dtype(self.dtype), device=device)

    def _levels_or_raise(self, X):
        levels = self._make_levels(X)
        if self._make_sparsifier().uses_topk:  # the others ignore topk
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
            sparsifier=self._make_sparsifier(),
            loss=self.loss,
            tau=self.tau,
            eps=self.eps,
            momentum_decay=self.momentum_decay,
            l1_warmup=self.l1_warmup,
            sparse_decoder=self._use_sparse_decoder(d_sae, levels),
            aux_coef=self.aux_coef,
            k_aux=min(d_sae, self.k_aux or max(1, n_features // 2)),
            dead_window=self.dead_window or steps_per_epoch,
            optimizer=self.optimizer,
            lr=self._lr(n_features),
            lr_schedule=self.lr_schedule,
            batch_size=batch_size,
            verbose=self.verbose,
            **self._level_policies(),
        ), steps_per_epoch

    def _level_policies(self):
        """How training treats nested levels (MatryoshkaSAE overrides): which prefixes a
        step trains, and whether latents are renumbered by frequency."""
        return {"prefix_sampling": "fixed", "reorder": False}

    def _lr(self, n_features):
        return auto_lr(n_features) if self.lr == "auto" else float(self.lr)

    def _n_epochs(self, steps_per_epoch):
        if self.n_epochs != "auto":
            return self.n_epochs
        return min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, math.ceil(AUTO_MIN_STEPS / steps_per_epoch)))

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
        module.init_decoder_bias(core_init.decoder_bias(data, self.decoder_bias_init, generator=generator))
        return module

    def _check_transform_algorithm(self):
        if self.transform_algorithm == "omp" and (self.loss == "poisson" or self._decoder_layers()):
            raise ValueError(
                "transform_algorithm='omp' codes the data as a sparse sum of decoder atoms and "
                "needs a linear decoder with a linear output: not decoder_layers, not "
                f"loss='poisson' (got decoder_layers={self.decoder_layers!r}, loss={self.loss!r})."
            )

    def _training_rows(self, X, device):
        """The training data on the device, or streamed from ``X`` when over the limit."""
        limit = (default_limit_bytes(device) if self.data_memory_limit == "auto"
                 else int(self.data_memory_limit * 2**30))
        return training_rows(X, resolve_dtype(self.dtype), device, limit)

    def _threads(self, module, device):
        """CPU threads for ``module``, fit and inference alike (:mod:`._core.threads`).

        Chosen from the size of one training product (``batch_size`` x inputs x latents),
        so a model runs its inference on the threads it was fitted with.
        """
        return cpu_threads(self.batch_size * module.n_features * module.d_sae, device)

    def _train(self, X, reset, n_epochs=None, schedule=None, groups=None, X_val=None):
        """Fit from scratch (``reset``) or continue training for one epoch.

        ``X_val`` (validated rows) replaces the ``validation_fraction`` split: it is
        scored after every epoch, and decides the stopping only with ``early_stopping``.
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
        checkpoints = None
        if reset:
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            generator = torch.Generator().manual_seed(int(seed))
            module, state = self._initialise(data, levels, generator), TrainState()
            position = Position()
            if self.checkpoint_dir is not None:
                checkpoints = Checkpoints(self, X, n_epochs)
                state, position = checkpoints.resume(module, generator, state, position)
        else:
            generator = torch.Generator()
            generator.set_state(self._train_state.extra["rng_state"])
            module, state = self._module, self._train_state
            position = Position(first_step=state.step, curve=list(self.loss_curve_),
                                dead_curve=list(self.dead_fraction_curve_))
            n_epochs += self.n_iter_
            position.epoch = self.n_iter_
        trainer = Trainer(module, config, generator, device, state)
        resumed = position.epoch if checkpoints is not None else 0
        save = checkpoints.on_epoch_end(trainer) if checkpoints is not None else None
        with self._threads(module, device):
            with stop_signals() as stop:
                monitor = (self._monitor(module, config, X_val, n_epochs, device, position)
                           if reset else None)
                position = trainer.run(data, n_epochs, schedule=schedule,
                                       sparsity_warmup=reset, position=position, stop=stop,
                                       on_epoch_end=save, reorder=reset, monitor=monitor)
            if stop and checkpoints is not None:
                checkpoints.save(trainer, position)
            module.eval()
            counts = calibrate_thresholds(module, data, levels, config.sparsifier,
                                          inference_rows(module.d_sae, device))
            self._store_fitted(module, levels, config.sparsifier, data, counts)
        self._set_level_attributes()
        self._train_state = trainer.state()
        self._train_state.extra["rng_state"] = generator.get_state()
        self.loss_curve_ = position.curve
        self.validation_scores_ = position.validation if X_val is not None else None
        self.best_validation_score_ = (max(position.validation) if X_val is not None
                                       and position.validation else None)
        self.converged_ = position.decay_from is not None
        self.atom_turn_curve_ = position.atom_turns
        self.dead_fraction_curve_ = position.dead_curve
        self.n_iter_ = position.epoch
        self.n_steps_ = trainer.step
        self.n_epochs_resumed_ = resumed
        if stop:
            self._warn_interrupted(stop.signal_name, position, n_epochs, checkpoints)
        elif reset:
            self._warn_dead()
        return self

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
        """The end-of-epoch callback that scores ``X_val`` and applies the stopping rule.

        The atoms at the start of each epoch live in ``position`` (and in a mid-epoch
        checkpoint), so a resumed fit measures the same atom turns as an uninterrupted one.
        """
        warmup = stopping.warmup_epochs(n_epochs, max(
            config.l1_warmup, WARMUP_FRACTION if config.lr_schedule == "cosine_cycle" else 0.0))
        val = None if X_val is None else self._training_rows(X_val, device)
        truth = None if X_val is None else np.asarray(X_val, dtype=np.float64)

        if position.epoch_atoms is None:
            position.epoch_atoms = module.W_dec.detach().clone()

        def monitor(position):
            if val is not None:
                position.validation.append(self._validation_score(module, config, val, truth))
            now = module.W_dec.detach()
            position.atom_turns.append(stopping.largest_turn(position.epoch_atoms.to(now), now))
            position.epoch_atoms = now.clone()
            # Held-out rows decide the stopping only with early_stopping; otherwise they
            # are watched (validation_scores_) and the training loss decides.
            on_validation = val is not None and self.early_stopping
            curve = position.validation if on_validation else position.curve
            if position.decay_from is None and stopping.converged(
                    curve, self.tol, self.n_iter_no_change, start=warmup,
                    higher_is_better=on_validation, relative=not on_validation,
                    atom_turns=position.atom_turns):
                position.decay_from = position.epoch
                position.decay_epochs = stopping.decay_epochs(position.epoch)
        return monitor

    @staticmethod
    @torch.no_grad()
    def _validation_score(module, config, val, truth):
        """Explained variance of the held-out rows, coded as in training (last level)."""
        level, sparsifier = config.levels[-1], config.sparsifier
        blocks = [module.decode(sparsifier.train_codes(module.pre_activations(x)[:, : level.d],
                                                       level.k, module)).double().cpu().numpy()
                  for x in val.blocks(config.batch_size)]
        return explained_variance(truth, np.concatenate(blocks))

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

    def _store_fitted(self, module, levels, sparsifier, data, level_counts=None):
        """Public fitted attributes derived from the trained module."""
        self._module = module
        self._levels = levels
        self._sparsifier = sparsifier
        self.d_sae_ = module.d_sae
        self.topk_ = levels[-1].k
        self.lr_ = self._lr(module.n_features)
        self._store_decoder(module)
        thresholds = module.thresholds.cpu().numpy()
        self.threshold_ = float(thresholds[-1]) if sparsifier.uses_threshold else None
        # A latent is alive if it fires at inference in any level it belongs to.
        alive = torch.zeros(module.d_sae, dtype=torch.bool, device=data.device)
        level_l0, level_dead, start = [], [], 0
        for index, level in enumerate(levels):
            if level_counts is None:  # not known from the calibration pass
                counts, l0 = firing_counts(module, data, level, index, sparsifier,
                                          inference_rows(module.d_sae, data.device))
            else:
                counts = level_counts[index]
                l0 = float(counts.sum()) / max(1, data.n_rows)
            alive[: level.d] |= counts > 0
            level_l0.append(float(l0))
            level_dead.append(float((counts[start:level.d] == 0).double().mean()))
            start = level.d
        self.dead_fraction_ = float((~alive).double().mean())
        self.mean_l0_ = level_l0[-1]
        self.latent_frequency_ = (counts.double() / data.n_rows).cpu().numpy()
        self._level_stats = {"mean_l0": level_l0, "dead_fraction": level_dead}

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

    def _encode_blocks(self, X, level_index=-1, groups=None):
        """Yield ``(x_block, codes_block)`` tensor pairs for the rows of ``X``.

        With ``seq_len > 1`` the blocks hold windows (zero-padded before each segment's
        start), one per row of ``X``.
        """
        X, device, module = self._inference_setup(X)
        X = windows(X, self.seq_len, groups)
        index = level_index % len(self._levels)
        level = self._levels[index]
        with torch.inference_mode(), self._threads(module, device):
            for block in iter_batches(X, inference_rows(module.d_sae, device)):
                x = self._to_tensor(block, device)
                if self.transform_algorithm == "omp":
                    yield x, self._omp_codes(module, x, level)
                else:
                    yield x, encode(module, x, level, index, self._sparsifier)

    def _omp_codes(self, module, x, level):
        """Codes by orthogonal matching pursuit over the level's atoms (k non-zeros).

        Solves ``min ||x - b - z W||`` with at most ``k`` non-zero ``z`` (signs free)
        using :func:`sklearn.decomposition.sparse_encode`; row-wise by construction.
        """
        atoms = module.W_dec[: level.d].double().cpu().numpy()
        centred = (x.double() - module.b_dec.double()).cpu().numpy()
        codes = sparse_encode(centred, atoms, algorithm="omp", n_nonzero_coefs=min(level.k, level.d))
        return torch.as_tensor(codes, dtype=x.dtype, device=x.device)

    def _out_dtype(self, X):
        dtype = getattr(X, "dtype", None)
        return dtype if dtype in (np.float32, np.float64) else np.float64

    def transform(self, X, groups=None):
        """Sparse latent activations of ``X``.

        Inference is row-wise: BatchTopK uses its calibrated threshold, so the code of a
        row never depends on the other rows of the call. With ``seq_len > 1`` row ``t``
        is coded from the window of bins ``t - seq_len + 1 .. t``; bins before the start
        of ``X`` (or of the row's segment in ``groups``) are taken as zero.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts with the units seen in ``fit``.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels (``seq_len > 1`` only), as in :meth:`fit`.

        Returns
        -------
        Z : ndarray of shape (n_samples, d_sae)
            Non-negative latent activations (mostly zeros).
        """
        out_dtype = self._out_dtype(X)
        blocks = [z.cpu().numpy() for _, z in self._encode_blocks(X, groups=groups)]
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
                   for b in iter_batches(Z, inference_rows(module.d_sae, device))]
        out = lag_block(np.concatenate(out), self.seq_len, 0)
        return out.astype(self._out_dtype(like), copy=False)

    def inverse_transform(self, X):
        """Reconstruct spike counts from latent activations.

        Parameters
        ----------
        X : array-like of shape (n_samples, d_sae)
            Latent activations, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            ``X @ components_ + decoder bias`` through the output link (ReLU when
            ``output_relu_``, softplus for ``loss='poisson'``), or the nonlinear
            decoder's output. With ``seq_len > 1``, the reconstruction of each window's
            own (last) bin.
        """
        check_is_fitted(self)
        Z = self._check_codes(X)
        if Z.shape[1] != self.d_sae_:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but {type(self).__name__} has d_sae_={self.d_sae_} "
                "latents: inverse_transform expects latent activations."
            )
        return self._decode(Z, X)

    def _reconstruct(self, X, level_index=-1, groups=None, window=False):
        """Reconstruction through a level's code: of each row's own bin, or its window."""
        out_dtype = self._out_dtype(X)
        module = self._module
        blocks = [module.decode(z).cpu().numpy()
                  for _, z in self._encode_blocks(X, level_index, groups)]
        out = np.concatenate(blocks)
        out = out if window else lag_block(out, self.seq_len, 0)
        return out.astype(out_dtype, copy=False)

    def reconstruct(self, X, groups=None):
        """Reconstruction of ``X`` through the sparse code (``inverse_transform(transform(X))``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels (``seq_len > 1`` only), as in :meth:`fit`.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Reconstructed counts (of each row's own bin when ``seq_len > 1``).
        """
        return self._reconstruct(X, groups=groups)

    def score_lags(self, X, groups=None):
        """Explained variance of the reconstruction at every lag of the window.

        Only rows whose whole window lies inside ``X`` (and its segment) are scored, so
        zero padding never enters a score.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts (held-out time, to judge a model).
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels, as in :meth:`fit`.

        Returns
        -------
        scores : ndarray of shape (seq_len,)
            ``scores[lag]``: pooled explained variance of bin ``t - lag`` reconstructed
            from the window ending at ``t`` (``lag=0`` is the window's own bin).
        """
        check_is_fitted(self)
        X_dense = self._validate_X(X, reset=False)
        X_hat = self._reconstruct(X_dense, groups=groups, window=True)
        observed, rows = windows(X_dense, self.seq_len, groups, full_only=True)
        if rows.size == 0:
            raise ValueError(f"X has no full window of seq_len={self.seq_len} bins to score.")
        return np.array([
            explained_variance(lag_block(observed, self.seq_len, lag).astype(np.float64),
                               lag_block(X_hat[rows], self.seq_len, lag))
            for lag in range(self.seq_len)
        ])

    def _scored(self, X):
        """``(X dense in float64, its reconstruction)`` for ``score``."""
        return dense_float64(X), self._reconstruct(X)

    # ------------------------------------------------------------ sklearn glue
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

        config, tensors = _persistence.load(path, cls.__name__)
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
        _persistence.expect_shapes(tensors, expected)
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
