"""The ``score`` of adapters that reconstruct their input row for row: the package's one
score (:mod:`sklearn_mini._score`), on the input validated as the adapter's own methods
validate it."""

import numpy as np
from sklearn.utils.validation import validate_data

from ..evaluation._score import ReconstructionScoreMixin


class ValidatedReconstructionScoreMixin(ReconstructionScoreMixin):
    """``score(X)``: explained variance of ``self.reconstruct(X)`` on (held-out) rows."""

    def _scored(self, X):
        X_dense = validate_data(self, X, reset=False, dtype=np.float64)
        return X_dense, self.reconstruct(X_dense)
