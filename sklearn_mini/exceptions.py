"""Warnings the estimators emit about how a fit went."""

from ._core.training import DivergenceError, DivergenceWarning


class FitInterruptedWarning(UserWarning):
    """A fit was stopped by SIGINT (Ctrl-C) or SIGTERM.

    The estimator is fitted with the model as of the last completed training step; with
    a ``checkpoint_dir`` a checkpoint of that state was written, and fitting again with
    the same parameters and data continues from it.
    """


__all__ = ["DivergenceError", "DivergenceWarning", "FitInterruptedWarning"]
