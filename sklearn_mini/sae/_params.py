"""The parameters every SAE estimator shares, written once: default and constraints.

scikit-learn reads an estimator's parameters from the signature of its ``__init__``,
which may only store them. :func:`sae_init` builds that ``__init__`` for an estimator
from its own parameters (first, positional) and the shared ones below, then the
hyperparameters of every registered sparsity variant (their defaults and constraints
are the variant's, :mod:`sklearn_mini._core.sparsity`). So SpikeSAE and MatryoshkaSAE
cannot drift apart, and a variant's new hyperparameter is a parameter of both.
"""

import inspect
import os
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._core.losses import LOSSES
from .._core.sparsity import NAMES, REGISTRY

# May also be passed by position, after the estimator's own parameters.
SHARED_POSITIONAL = {
    # The registry's own set of names: a variant registered later is accepted too.
    "sparsity": ("topk", [StrOptions(NAMES)]),
    "loss": ("msle", [StrOptions(set(LOSSES))]),
    "tau": (1.0, [Interval(Real, 0, None, closed="neither")]),
}
SHARED_KEYWORD = {
    "l1_warmup": (0.0, [Interval(Real, 0, 1, closed="both")]),
    "eps": (1e-8, [Interval(Real, 0, None, closed="neither")]),
    "decoder_layers": ((), ["array-like"]),
    "positive_dict": (True, ["boolean"]),
    "prune_from": (2.0, [Interval(Real, 1, None, closed="left")]),
    "seq_len": (1, [Interval(Integral, 1, None, closed="left")]),
    "transform_algorithm": ("encoder", [StrOptions({"encoder", "omp"})]),
    "decoder_path": ("auto", [StrOptions({"auto", "dense", "sparse"})]),
    "aux_coef": (1 / 32, [Interval(Real, 0, None, closed="left")]),
    "k_aux": (None, [Interval(Integral, 1, None, closed="left"), None]),
    "dead_window": (None, [Interval(Integral, 1, None, closed="left"), None]),
    "decoder_bias_init": ("zeros", [StrOptions({"mean", "geometric_median", "zeros"})]),
    "subtract_decoder_bias": (True, ["boolean"]),
    "output_relu": (False, ["boolean", StrOptions({"auto"})]),
    "optimizer": ("adam", [StrOptions({"adam", "nadam", "adamw"})]),
    "momentum_decay": (4e-3, [Interval(Real, 0, None, closed="left")]),
    "lr": ("auto", [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})]),
    "lr_schedule": ("cosine_cycle", [StrOptions({"constant", "cosine_cycle"})]),
    "batch_size": (1024, [Interval(Integral, 1, None, closed="left")]),
    "n_epochs": ("auto", [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})]),
    "tol": (1e-4, [Interval(Real, 0, None, closed="left")]),
    "n_iter_no_change": (10, [Interval(Integral, 1, None, closed="left"), None]),
    "early_stopping": (False, ["boolean"]),
    "validation_fraction": (0.1, [Interval(Real, 0, 1, closed="neither")]),
    "device": ("auto", [StrOptions({"auto", "cpu", "cuda"})]),
    "dtype": ("float32", [StrOptions({"float32", "float64"})]),
    "random_state": (None, ["random_state"]),
    "verbose": (0, ["verbose"]),
    "checkpoint_dir": (None, [str, os.PathLike, None]),
    "checkpoint_every": (1, [Interval(Integral, 1, None, closed="left")]),
    "data_memory_limit": ("auto", [Interval(Real, 0, None, closed="neither"),
                                   StrOptions({"auto"})]),
}


def sparsity_parameters():
    """Every registered variant's hyperparameters: name -> (default, constraints)."""
    found = {}
    for cls in REGISTRY.values():
        for name, spec in cls.params.items():
            found.setdefault(name, spec)
    return found


def shared_constraints():
    """``_parameter_constraints`` of the shared parameters."""
    specs = {**SHARED_POSITIONAL, **SHARED_KEYWORD, **sparsity_parameters()}
    return {name: constraints for name, (_, constraints) in specs.items()}


def sae_init(own):
    """An ``__init__`` taking ``own`` (name -> default, in order; positional) and then the
    shared parameters, storing each one unchanged, as scikit-learn requires.

    Its signature (``inspect.signature``, which scikit-learn's ``get_params``, ``clone``
    and ``help()`` read) lists every parameter by name with its default.
    """
    positional = {**own, **{name: default for name, (default, _) in SHARED_POSITIONAL.items()}}
    keyword = {name: default for name, (default, _) in
               {**sparsity_parameters(), **SHARED_KEYWORD}.items()}
    kind = inspect.Parameter
    signature = inspect.Signature(
        [kind("self", kind.POSITIONAL_OR_KEYWORD)]
        + [kind(name, kind.POSITIONAL_OR_KEYWORD, default=d) for name, d in positional.items()]
        + [kind(name, kind.KEYWORD_ONLY, default=d) for name, d in keyword.items()])

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:  # say whose parameters, as Python's own message does
            raise TypeError(f"{type(self).__name__}() {error}") from None
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature
    return __init__
