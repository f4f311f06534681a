"""GPFA (Yu et al. 2009) through elephant, in the SAE interface.

Gaussian-process factor analysis: the square roots of the counts are a linear map of
smooth latent trajectories plus Gaussian noise (``sqrt(y) = C x + d + noise``), each
latent a Gaussian process over the bins of a trial. elephant fits it by EM
(``elephant.gpfa.gpfa_core``); this adapter hands it windows of binned counts as trials,
square-rooted as elephant's own GPFA does, and returns the orthonormalised posterior
means per bin.
"""

import contextlib
import importlib.util
import io
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ..dynamics._windows import covering_windows, cut_windows, rows_of, validated_counts
from ..evaluation._score import ReconstructionScoreMixin

INSTALL = "GPFA needs elephant: `pip install elephant` (or sklearn_mini[gpfa])."


def gpfa_available():
    """Whether elephant can be imported in this environment."""
    return importlib.util.find_spec("elephant") is not None


def _sequences(windows):
    """Windows ``(n, window, units)`` as elephant's trial records of ``sqrt`` counts."""
    return np.array([(w.shape[0], np.sqrt(w.T)) for w in windows],
                    dtype=[("T", int), ("y", "O")])


class GPFA(ReconstructionScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
           BaseEstimator):
    """Gaussian-process factor analysis (elephant's EM) on windows of binned counts.

    Rows of ``X`` are consecutive bins; ``fit`` cuts them into windows of ``window``
    bins (the trials; a final partial window is not used) and models the square roots
    of the counts, as elephant's GPFA does. ``transform`` gives the orthonormalised
    posterior-mean trajectories per bin; ``inverse_transform`` maps them back through
    the orthonormal loadings and the offsets and squares the result. Needs ``elephant``
    (:data:`INSTALL`); construction works without it.

    Read more in the :ref:`User Guide <dynamics>`.

    Parameters
    ----------
    window : int, default=50
        Bins per trial.
    x_dim : int, default=3
        Latent dimensions.
    bin_size : float, default=0.01
        Seconds per bin; with ``tau_init`` it sets the starting timescale in bins.
    tau_init : float, default=0.1
        Initial GP timescale in seconds.
    em_max_iters : int, default=500
        EM iterations.
    em_tol : float, default=1e-8
        Relative change of the log-likelihood at which EM stops.

    Attributes
    ----------
    loadings_ : ndarray of shape (n_units, x_dim)
        Orthonormal loadings (elephant's ``Corth``); zero rows for silent units.
    offset_ : ndarray of shape (n_units,)
        Per-unit offsets ``d`` of the square-rooted counts.
    timescales_ : ndarray of shape (x_dim,)
        The fitted GP timescales in seconds.
    active_units_ : ndarray of bool, shape (n_units,)
        Units with a count in the training data; silent ones are left out of the model.
    n_features_in_ : int
        Units.

    Examples
    --------
    >>> from sklearn_mini.adapters import GPFA
    >>> from sklearn_mini.datasets import make_lorenz_spikes
    >>> X, latents, rates = make_lorenz_spikes(n_trials=20, n_bins=20, random_state=0)
    >>> GPFA(window=20, x_dim=3, em_max_iters=10).fit(X).transform(X).shape
    (400, 3)
    """

    _parameter_constraints: dict = {
        "window": [Interval(Integral, 2, None, closed="left")],
        "x_dim": [Interval(Integral, 1, None, closed="left")],
        "bin_size": [Interval(Real, 0, None, closed="neither")],
        "tau_init": [Interval(Real, 0, None, closed="neither")],
        "em_max_iters": [Interval(Integral, 1, None, closed="left")],
        "em_tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, window=50, x_dim=3, bin_size=0.01, tau_init=0.1, em_max_iters=500,
                 em_tol=1e-8):
        self.window = window
        self.x_dim = x_dim
        self.bin_size = bin_size
        self.tau_init = tau_init
        self.em_max_iters = em_max_iters
        self.em_tol = em_tol

    def _validate_counts(self, X, reset):
        return validated_counts(self, X, reset=reset, dtype=np.float64,
                                why="it models the square roots of binned counts")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit GPFA by EM on the whole windows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)
            Consecutive binned spike counts.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if not gpfa_available():
            raise ImportError(INSTALL)
        from elephant.gpfa import gpfa_core

        X = self._validate_counts(X, reset=True)
        # Units that never fire carry no information and make the covariance singular
        # (elephant drops them too); they get zero loadings and offsets.
        self.active_units_ = X.any(axis=0)
        if self.active_units_.sum() <= self.x_dim:
            raise ValueError(f"GPFA with x_dim={self.x_dim} needs more than {self.x_dim} "
                             f"units that fire; X has {int(self.active_units_.sum())} "
                             f"(n_features = {X.shape[1]}).")
        windows = cut_windows(X[:, self.active_units_], self.window)
        # gpfa_core prints its progress whatever `verbose` says; a fit here is quiet.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            # elephant cuts trials into 20-bin segments for EM and warns, for windows
            # shorter than that, that it uses them whole instead: which is what we want.
            warnings.filterwarnings("ignore", message="trial corresponding to index")
            warnings.filterwarnings("ignore", message="No segments extracted")
            params, _ = gpfa_core.fit(
                _sequences(windows), x_dim=self.x_dim, bin_width=1000 * self.bin_size,
                em_max_iters=self.em_max_iters, em_tol=self.em_tol,
                tau_init=1000 * self.tau_init)
        loadings = np.zeros((X.shape[1], self.x_dim))
        loadings[self.active_units_], self._to_ortho = _orthonormal(params["C"])
        self.loadings_ = loadings
        self.offset_ = np.zeros(X.shape[1])
        self.offset_[self.active_units_] = np.asarray(params["d"]).ravel()
        self.timescales_ = self.bin_size / np.sqrt(np.asarray(params["gamma"]).ravel())
        self._params = params
        return self

    def transform(self, X):
        """The orthonormalised latent trajectories of every bin.

        Bins after the last whole window are read from a window ending at the last bin.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)

        Returns
        -------
        latents : ndarray of shape (n_bins, x_dim)
        """
        check_is_fitted(self)
        from elephant.gpfa import gpfa_core

        X = self._validate_counts(X, reset=False)
        windows, tail = covering_windows(X[:, self.active_units_], self.window)
        seqs, _ = gpfa_core.exact_inference_with_ll(_sequences(windows), self._params,
                                                    get_ll=False)
        latents = np.stack([self._to_ortho @ z for z in seqs["latent_variable"]])
        return rows_of(latents.transpose(0, 2, 1), tail)

    def inverse_transform(self, X):
        """Counts predicted from latents: ``max(loadings_ @ x + offset_, 0) ** 2``.

        GPFA models the square roots of the counts, so the prediction is squared back.

        Parameters
        ----------
        X : array-like of shape (n_bins, x_dim)

        Returns
        -------
        counts : ndarray of shape (n_bins, n_units)
        """
        check_is_fitted(self)
        root = np.asarray(X, dtype=np.float64) @ self.loadings_.T + self.offset_
        return np.maximum(root, 0.0) ** 2

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    @property
    def _n_features_out(self):
        """Latents per bin: ``get_feature_names_out`` gives ``gpfa0``, ``gpfa1``, ..."""
        check_is_fitted(self)  # unfitted: NotFittedError, which hasattr reads as absent
        return self.x_dim


def _orthonormal(loadings):
    """elephant's orthonormalisation of the loadings ``C = U diag(s) V``: returns the
    orthonormal loadings ``U`` and ``T = diag(s) V``, the map of the latents onto ``U``'s
    axes."""
    u, s, vt = np.linalg.svd(loadings, full_matrices=False)
    return u, np.diag(s) @ vt
