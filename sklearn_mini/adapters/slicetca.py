"""sliceTCA (Pellegrino, Stein and Cayco-Gajic 2024) for trial-structured spike counts."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._core.device import resolve_device
from .._core.seeding import isolated_torch_rng
from .._optional import require
from ._score import ValidatedReconstructionScoreMixin


def to_trials(X, trial_length):
    """Cut ``X`` (bins x units) into consecutive trials: ``(n_trials, n_units, trial_length)``.

    A final partial trial is returned separately (``None`` when ``X`` divides evenly).
    """
    n_full = X.shape[0] // trial_length
    full = X[: n_full * trial_length].reshape(n_full, trial_length, X.shape[1]).transpose(0, 2, 1)
    rest = X[n_full * trial_length:]
    return full, (rest.T if rest.shape[0] else None)


class SliceTCA(ValidatedReconstructionScoreMixin, BaseEstimator):
    """Slice tensor component analysis of trial-structured counts, in the SAE interface.

    ``X`` holds consecutive trials of ``trial_length`` bins each (rows are bins, as
    produced by :class:`~sklearn_mini.SpikeBinner`), so the estimator can follow a binner
    in a Pipeline. ``fit`` decomposes the ``trials x units x time`` tensor with
    ``n_components = (trial-slicing, neuron-slicing, time-slicing)`` ranks.

    New trials are coded with the non-trial factors frozen: the trial-slicing slices
    (units x time), the neuron loadings of neuron-slicing components and the time
    loadings of time-slicing components stay fixed, and the trial-specific parts (trial
    weights, time courses, unit weights) are the least-squares solution for each trial
    (a small ridge, ``ridge``, fixes the gauge freedom between components). A final
    partial trial is coded from its available bins. The positivity of a ``positive`` fit
    is not imposed on new trials' codes.

    sliceTCA seeds torch's global generator and moves NumPy data to CUDA whenever it is
    available; this adapter passes it a tensor on ``device`` and runs it with torch's
    generator seeded from ``random_state`` and restored afterwards. Needs
    ``pip install -e ".[slicetca]"``.

    Parameters
    ----------
    trial_length : int
        Bins per trial.
    n_components : tuple of 3 int, default=(2, 2, 2)
        Ranks of the trial-, neuron- and time-slicing components.
    positive : bool, default=True
        Non-negative components (spike counts).
    learning_rate : float, default=5e-3
    max_iter : int, default=2000
    batch_prop : float, default=0.2
        Fraction of tensor entries per gradient step.
    ridge : float, default=1e-6
        Ridge weight of the least-squares coding of new trials.
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    components_ : list of list of ndarray
        sliceTCA's components: per slicing type, ``[loadings, slices]``.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "trial_length": [Interval(Integral, 1, None, closed="left")],
        "n_components": ["array-like"],
        "positive": ["boolean"],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_prop": [Interval(Real, 0, 1, closed="right")],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
    }

    def __init__(self, trial_length=20, n_components=(2, 2, 2), positive=True,
                 learning_rate=5e-3, max_iter=2000, batch_prop=0.2, ridge=1e-6, device="cpu",
                 random_state=None):
        self.trial_length = trial_length
        self.n_components = n_components
        self.positive = positive
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_prop = batch_prop
        self.ridge = ridge
        self.device = device
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Decompose the full trials of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_trials * trial_length, n_units)
            Consecutive trials of binned counts.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        slicetca = require("slicetca", "slicetca", "SliceTCA")
        X = validate_data(self, X, dtype=np.float64)
        ranks = [int(r) for r in self.n_components]
        if len(ranks) != 3 or min(ranks) < 0 or sum(ranks) == 0:
            raise ValueError(f"n_components must be 3 non-negative ranks (trial, neuron, time), "
                             f"not all zero; got {self.n_components!r}.")
        trials, _ = to_trials(X, self.trial_length)
        if trials.shape[0] < 2:
            raise ValueError(f"X has {X.shape[0]} sample(s): fewer than 2 trials of "
                             f"trial_length={self.trial_length} bins.")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        data = torch.tensor(trials, dtype=torch.float32, device=resolve_device(self.device))
        with isolated_torch_rng(seed):
            components, _ = slicetca.decompose(
                data, ranks, positive=self.positive, learning_rate=self.learning_rate,
                max_iter=self.max_iter, batch_prop=self.batch_prop, progress_bar=False,
                seed=seed)
        self.components_ = components
        self._ranks = ranks
        return self

    # ------------------------------------------------------------------ coding
    def _design(self, n_time):
        """Least-squares design of one trial with ``n_time`` bins (units x time entries)."""
        (r1, r2, r3), n_units = self._ranks, self.n_features_in_
        cols = []
        if r1:
            slices = self.components_[0][1][:, :, :n_time]  # rank x units x time
            cols.append(slices.reshape(r1, -1).T)
        if r2:
            units = self.components_[1][0]  # rank x units; unknown: rank x time
            eye_t = np.eye(n_time)
            cols.append(np.einsum("ru,ts->utrs", units, eye_t).reshape(n_units * n_time, -1))
        if r3:
            times = self.components_[2][0][:, :n_time]  # rank x time; unknown: rank x units
            eye_u = np.eye(n_units)
            cols.append(np.einsum("rt,uv->utrv", times, eye_u).reshape(n_units * n_time, -1))
        return np.hstack(cols)

    def _code_trial(self, trial):
        """Trial-specific unknowns of one trial (units x time) by ridge least squares."""
        A = self._design(trial.shape[1])
        gram = A.T @ A + self.ridge * np.eye(A.shape[1])
        return np.linalg.solve(gram, A.T @ trial.reshape(-1)), A

    def _codes_to_vector(self, theta, n_time):
        """Pad a partial trial's time-dependent unknowns to ``trial_length``."""
        (r1, r2, _), T = self._ranks, self.trial_length
        a, rest = theta[:r1], theta[r1:]
        c, e = rest[: r2 * n_time].reshape(r2, n_time), rest[r2 * n_time:]
        c_full = np.zeros((r2, T))
        c_full[:, :n_time] = c
        return np.concatenate([a, c_full.ravel(), e])

    def _trials(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        full, rest = to_trials(X, self.trial_length)
        return [*full, *([rest] if rest is not None else [])]

    def transform(self, X):
        """Trial-specific codes of every (possibly partial final) trial of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)

        Returns
        -------
        codes : ndarray of shape (n_trials, r1 + r2 * trial_length + r3 * n_units)
            Per trial: trial weights, neuron-slicing time courses, time-slicing unit
            weights (a partial trial's missing bins are zero).
        """
        out = []
        for trial in self._trials(X):
            theta, _ = self._code_trial(trial)
            out.append(self._codes_to_vector(theta, trial.shape[1]))
        return np.asarray(out)

    def inverse_transform(self, X):
        """Full trials reconstructed from codes (``n_trials * trial_length`` rows).

        Parameters
        ----------
        X : array-like of shape (n_trials, n_codes)

        Returns
        -------
        X_hat : ndarray of shape (n_trials * trial_length, n_units)
        """
        check_is_fitted(self)
        codes = np.asarray(X, dtype=np.float64)
        A = self._design(self.trial_length)
        trials = codes @ A.T  # n_trials x (units * time)
        T = self.trial_length
        n = self.n_features_in_
        return trials.reshape(-1, n, T).transpose(0, 2, 1).reshape(-1, n)

    def reconstruct(self, X):
        """Reconstruction of ``X`` row for row (a partial final trial included).

        Parameters
        ----------
        X : array-like of shape (n_bins, n_units)

        Returns
        -------
        X_hat : ndarray of shape (n_bins, n_units)
        """
        rows = []
        for trial in self._trials(X):
            theta, A = self._code_trial(trial)
            rows.append((A @ theta).reshape(trial.shape).T)
        return np.vstack(rows)
