"""Sparsifiers: map encoder pre-activations to sparse, non-negative codes.

Each sparsifier has a training-time rule (``train_codes``) and an inference rule
(``infer_codes``). Inference must be row-wise, so that the code of one sample never
depends on the other samples passed in the same call.

One module per variant (``topk``, ``batchtopk``, ``relu``, ``jumprelu``, ``gated``), each
a :class:`~.base.Sparsifier` registered by name (:func:`~.base.register`). Every module
of this package is imported below, so a new variant is one new file (and its test):
the estimators' ``sparsity`` options, the constraints of its hyperparameters and the
user guide's table are read from the registry. The shared kernels are in
``selection``, the aux loss's dead-latent choice in ``dead``, BatchTopK's calibration
in ``thresholds``.
"""

import importlib
import pkgutil

from .base import (
    NAMES,
    REGISTRY,
    Sparsifier,
    SparsityInputs,
    encoder_hooks,
    make_sparsifier,
    register,
    registry_table,
)
from .dead import dead_columns, dead_latent_mask, dead_latent_selection
from .selection import (
    ROW_CANDIDATES_PER_K,
    Selection,
    batch_top_indices,
    masked_row_selection,
    row_selection,
    row_topk,
)
from .thresholds import ThresholdCalibrator, batchtopk_threshold

# The built-in variants first, in the order the guide lists them; then any other module
# of this package (a new variant needs no line here).
# (isort: off keeps that order.)
# isort: off
from .topk import TopK  # noqa: E402
from .batchtopk import BatchTopK  # noqa: E402
from .relu import ReLUL1  # noqa: E402
from .jumprelu import JumpReLU  # noqa: E402
from .gated import Gated  # noqa: E402
# isort: on

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

# The built-in variants (a variant registered from a user's code is in REGISTRY only).
SPARSITIES = ("topk", "batchtopk", "relu", "jumprelu", "gated")

__all__ = ["NAMES", "REGISTRY", "ROW_CANDIDATES_PER_K", "SPARSITIES", "BatchTopK", "Gated",
           "JumpReLU", "ReLUL1", "Selection", "Sparsifier", "SparsityInputs", "ThresholdCalibrator",
           "TopK", "batch_top_indices", "batchtopk_threshold", "dead_columns", "dead_latent_mask",
           "dead_latent_selection", "encoder_hooks", "make_sparsifier", "masked_row_selection",
           "register", "registry_table", "row_selection", "row_topk"]
