"""The one ``score`` of every model here: pooled explained variance of its reconstruction.

:func:`sklearn_mini.metrics.explained_variance` is the formula; this mixin is the only
``score`` that applies it, so the SAEs, the baselines, the adapters and
:class:`~sklearn_mini.stability.StableFeatures` report the same number. A class says
only how it reconstructs (:meth:`ReconstructionScoreMixin._scored`).
"""

from .metrics import explained_variance, reconstruct_with


class ReconstructionScoreMixin:
    """``score(X)``: explained variance of the model's reconstruction of ``X``."""

    def score(self, X, y=None):
        """Pooled explained variance of the reconstruction of ``X``.

        ``1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2`` with per-unit means over the
        rows of ``X`` (:func:`sklearn_mini.metrics.explained_variance`). Score held-out
        time bins, never the training bins, to judge a model.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Data to reconstruct (binned counts of held-out time).
        y : None
            Ignored.

        Returns
        -------
        score : float
            Explained variance (higher is better, at most 1).
        """
        return explained_variance(*self._scored(X))

    def _scored(self, X):
        """``(X as a dense array, its reconstruction)``; by default through
        ``reconstruct`` or ``inverse_transform(transform(X))``."""
        return reconstruct_with(self, X)
