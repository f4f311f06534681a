"""Choosing the dictionary size: the d_sae descent (:class:`DSAESearch`)."""

import math
import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, _fit_context, clone
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ._meta import WrapsSAE
from .metrics import r2_per_example, r2_per_unit, reconstruct_with


def _path_table(rows):
    """``path_``: a pandas DataFrame when pandas is installed, else a dict of arrays."""
    columns = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    try:
        import pandas as pd
    except ImportError:
        return Bunch(**columns)
    return pd.DataFrame(columns)


class DSAESearch(WrapsSAE, MetaEstimatorMixin, TransformerMixin, BaseEstimator):
    """Choose ``d_sae`` by descending from the largest useful size, then refit.

    The seed notes' heuristic. The last ``validation_fraction`` of the rows (a contiguous
    block of time, never shuffled) is held out. Starting at ``d_max`` (``'auto'``: one
    latent per ten training rows, the upper limit beyond which latents memorise samples)
    and keeping the estimator's ``topk``, each step fits a clone with ``d_sae`` shrunk by
    the fraction ``step`` and scores the held-out block with the mean R² per unit and the
    mean R² per example. The descent continues while both stay within ``tol`` (relative)
    of the previous size's; at the first size where either drops by more, the previous
    size is selected: the smallest dictionary before the reconstruction starts to
    suffer. The chosen size is refitted on all rows.

    Parameters
    ----------
    estimator : SpikeSAE or MatryoshkaSAE-like estimator, default=None
        Any estimator with a ``d_sae`` parameter, ``fit`` and a reconstruction
        (``inverse_transform``); ``None`` uses ``SpikeSAE()``.
    step : float, default=0.15
        Fraction by which ``d_sae`` shrinks at every step, between 0.1 and 0.2.
    tol : float, default=0.05
        Largest relative drop of either held-out score from one size to the next that
        still counts as "no worse".
    d_max : int or 'auto', default='auto'
        Starting size; ``'auto'``: ``n_train_rows // 10``.
    d_min : int or None, default=None
        Smallest size tried; ``None``: twice the estimator's ``topk_`` (at least 2).
    validation_fraction : float, default=0.2
        Fraction of the rows, taken from the end, held out for scoring.
    refit : bool, default=True
        Refit the chosen size on all rows (``best_estimator_``).
    verbose : int, default=0
        ``>= 1`` prints every size and its scores.

    Attributes
    ----------
    path_ : pandas.DataFrame (dict-like Bunch without pandas)
        One row per size tried, largest first: ``d_sae``, ``r2_unit``, ``r2_example``,
        ``fit_time`` and ``selected``.
    best_d_sae_ : int
        The selected size.
    best_estimator_ : estimator
        The estimator with ``d_sae=best_d_sae_`` fitted on all rows (``refit=True``).
    n_features_in_ : int
        Number of features (units) seen in ``fit``.

    Examples
    --------
    >>> from sklearn_mini import SpikeSAE
    >>> from sklearn_mini.datasets import make_sparse_counts
    >>> from sklearn_mini.model_selection import DSAESearch
    >>> X, _ = make_sparse_counts(n_samples=2000, n_features=32, n_atoms=8, random_state=0)
    >>> search = DSAESearch(SpikeSAE(topk=3, n_epochs=10, random_state=0), d_max=40)
    >>> search.fit(X).best_d_sae_ <= 40
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "inverse_transform", "set_params"]), None],
        "step": [Interval(Real, 0.1, 0.2, closed="both")],
        "tol": [Interval(Real, 0, 1, closed="neither")],
        "d_max": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "d_min": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator=None, *, step=0.15, tol=0.05, d_max="auto", d_min=None,
                 validation_fraction=0.2, refit=True, verbose=0):
        self.estimator = estimator
        self.step = step
        self.tol = tol
        self.d_max = d_max
        self.d_min = d_min
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.verbose = verbose

    def _with_size(self, d_sae):
        """A clone of the estimator with ``d_sae`` latents (topk capped at d_sae)."""
        model = clone(self._base()).set_params(d_sae=d_sae)
        topk = model.get_params().get("topk")
        if isinstance(topk, Integral) and topk > d_sae:
            model.set_params(topk=d_sae)
        return model

    def _score(self, X_train, X_val, d_sae):
        start = time.perf_counter()
        model = self._with_size(d_sae).fit(X_train)
        fit_time = time.perf_counter() - start
        observed, X_hat = reconstruct_with(model, X_val)
        return model, {"d_sae": d_sae, "r2_unit": float(np.mean(r2_per_unit(observed, X_hat))),
                       "r2_example": float(np.mean(r2_per_example(observed, X_hat))),
                       "fit_time": fit_time}

    def _dropped(self, previous, current):
        """Whether either score fell by more than ``tol`` relative to the previous size."""
        return any(current[key] < previous[key] - self.tol * abs(previous[key])
                   for key in ("r2_unit", "r2_example"))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Run the descent on ``X`` (time bins x units) and refit the chosen size.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts, in time order.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted search.
        """
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        self.n_features_in_ = X.shape[1]
        n_val = math.ceil(self.validation_fraction * X.shape[0])
        X_train, X_val = X[: X.shape[0] - n_val], X[X.shape[0] - n_val:]
        if X_train.shape[0] < 2 or n_val < 2:
            raise ValueError(f"DSAESearch needs at least 2 training rows and 2 held-out rows; "
                             f"got {X_train.shape[0]} and {n_val} from n_samples = "
                             f"{X.shape[0]} rows.")
        d = X_train.shape[0] // 10 if self.d_max == "auto" else self.d_max
        d = max(d, self.d_min or 2)
        rows, chosen = [], None
        model, row = self._score(X_train, X_val, d)
        d_min = self.d_min or max(2, 2 * model.topk_)
        rows.append(row)
        self._log(row)
        while chosen is None:
            next_d = math.floor(d * (1 - self.step))
            if next_d < d_min or next_d == d:
                chosen = d  # reached the smallest size without a drop
                break
            _, row = self._score(X_train, X_val, next_d)
            rows.append(row)
            self._log(row)
            if self._dropped(rows[-2], row):
                chosen = d
            d = next_d
        for row in rows:
            row["selected"] = row["d_sae"] == chosen
        self.path_ = _path_table(rows)
        self.best_d_sae_ = int(chosen)
        if self.refit:
            X_all = X.toarray() if sp.issparse(X) else X
            self.best_estimator_ = self._with_size(chosen).fit(X_all)
        return self

    def _log(self, row):
        if self.verbose:
            print(f"d_sae {row['d_sae']:>6}: held-out R2 per unit {row['r2_unit']:.4f}, "
                  f"per example {row['r2_example']:.4f} ({row['fit_time']:.1f} s)")

    def _fitted(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def transform(self, X):
        """Latent activations of ``X`` from ``best_estimator_``."""
        return self._fitted().transform(X)

    def inverse_transform(self, Z):
        """Reconstruction of latent activations by ``best_estimator_``."""
        return self._fitted().inverse_transform(Z)

    def score(self, X, y=None):
        """``best_estimator_``'s score of ``X`` (held-out explained variance for an SAE)."""
        return self._fitted().score(X)

    def get_feature_names_out(self, input_features=None):
        """Feature names of ``best_estimator_``'s latents."""
        return self._fitted().get_feature_names_out(input_features)
