"""Warnings and errors the estimators raise about how a fit went.

A leaf module (it imports nothing of the package), so that every layer can raise them
and their ``__module__`` is the public ``sklearn_mini.exceptions``.
"""


class DivergenceWarning(UserWarning):
    """Training diverged and was rolled back with a smaller learning rate."""


class DivergenceError(ValueError, FloatingPointError):
    """Training kept diverging after every allowed roll-back, ended without a kept update
    or with diverged parameters, or its first loss was not finite.

    A ``ValueError`` (the parameters or the input's scale are unusable) and a
    ``FloatingPointError`` (what went wrong).
    """


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
