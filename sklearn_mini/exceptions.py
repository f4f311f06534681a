"""Warnings the estimators emit about how a fit went."""

from ._core.training import DivergenceError, DivergenceWarning


class FitInterruptedWarning(UserWarning):
    """A fit was stopped by SIGINT (Ctrl-C) or SIGTERM.

    The estimator is fitted with the model as of the last completed training step; with
    a ``checkpoint_dir`` a checkpoint of that state was written, and fitting again with
    the same parameters and data continues from it.
    """


class DeadLatentWarning(UserWarning):
    """A fit ended with more than a quarter of its latents dead.

    A dead latent never fires on the training data at inference: its atom is not a
    feature of the data. See ``dead_fraction_`` (and ``level_dead_fractions_``) for how
    many, and ``dead_fraction_curve_`` for when during training they died.
    """


__all__ = ["DeadLatentWarning", "DivergenceError", "DivergenceWarning",
           "FitInterruptedWarning"]
