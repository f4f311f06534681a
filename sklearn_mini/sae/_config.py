"""The SAE estimators' parameters turned into plain values: validated input, the sparsity
variant, the module's arguments, the nested levels and the Trainer's configuration.

A mixin of :class:`~sklearn_mini._base._BaseSAE`; it reads the estimator's parameters
and never fits anything.
"""

import math
from numbers import Integral

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import validate_data

from .._core.data import default_limit_bytes, training_rows
from .._core.device import resolve_dtype
from .._core.matryoshka import NestingPolicy
from .._core.pruning import PruneSchedule
from .._core.schedules import auto_lr
from .._core.sparsity import make_sparsifier
from .._core.threads import cpu_threads
from .._core.train_state import TrainConfig

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


class _ConfigMixin:
    """Parameters -> plain values for the module and the Trainer."""

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
            nesting=self._nesting_policy(),
        ), steps_per_epoch

    def _prune_schedule(self, levels, n_epochs):
        """The pruning stages of a fit from scratch of ``n_epochs`` epochs to ``levels``
        (``prune_from``), or ``None``: the final size from the start. A nested dictionary
        prunes its last level only; a nonlinear decoder has no atoms to measure removal
        costs with, so it never prunes."""
        if self._decoder_layers():
            return None
        first = levels[-2].d if len(levels) > 1 else 0
        return PruneSchedule.plan(levels[-1].d, self.prune_from, n_epochs, first)

    def _nesting_policy(self):
        """How training treats nested levels (MatryoshkaSAE overrides): which prefixes a
        step trains, and whether latents are renumbered by frequency."""
        return NestingPolicy()

    def _lr(self, n_features):
        return auto_lr(n_features) if self.lr == "auto" else float(self.lr)

    def _n_epochs(self, steps_per_epoch):
        if self.n_epochs != "auto":
            return self.n_epochs
        by_steps = math.ceil(AUTO_MIN_STEPS / steps_per_epoch)
        return min(AUTO_MAX_EPOCHS, max(AUTO_MIN_EPOCHS, by_steps))

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
