"""The ``score`` shared by adapters that reconstruct their input row for row."""

import numpy as np
from sklearn.utils.validation import validate_data

from ..metrics import explained_variance


class ReconstructionScoreMixin:
    """``score(X)``: explained variance of ``self.reconstruct(X)`` on (held-out) rows."""

    def score(self, X, y=None):
        """Explained variance of :meth:`reconstruct` on (held-out) rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        X_dense = validate_data(self, X, reset=False, dtype=np.float64)
        return explained_variance(X_dense, self.reconstruct(X_dense))
