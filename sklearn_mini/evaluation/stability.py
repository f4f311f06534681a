"""Reproducibility across seeds: do the same features come back with another ``random_state``?

Two dictionaries are compared by matching their atoms one to one so that the summed
cosine similarity is largest (the Hungarian algorithm,
:func:`scipy.optimize.linear_sum_assignment`), as in the SAE seed-consistency literature
(Paulo & Belrose 2025, "Sparse autoencoders trained on the same data learn different
features"). Dead latents (those that never fire on the training data, when the model
says so through ``latent_frequency_``) carry no feature and are left out of the matching.

* :func:`match_dictionaries`: the optimal one-to-one matching and its cosines.
* :func:`seed_consistency`: the mean matched cosine of every pair of dictionaries.
* :func:`latent_stability`: per latent of one dictionary, how well it is found again.
* :class:`StableFeatures`: fits an estimator with several seeds and keeps the features
  that reappear.
"""

from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, _fit_context, clone
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._meta import WrapsSAE
from ._score import ReconstructionScoreMixin
from .metrics import dense_float64


def _unit_rows(atoms, name):
    atoms = check_array(atoms, dtype=np.float64, input_name=name)
    norms = np.linalg.norm(atoms, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} has an all-zero atom (row {int(np.flatnonzero(norms == 0)[0])}): "
                         "a zero vector has no direction to compare.")
    return atoms / norms


def match_dictionaries(A, B):
    """Optimal one-to-one matching of the atoms of ``A`` and ``B`` by cosine similarity.

    Parameters
    ----------
    A : array-like of shape (n_a, n_features)
        One dictionary (atoms as rows, e.g. ``components_``).
    B : array-like of shape (n_b, n_features)
        Another, over the same features.

    Returns
    -------
    matching : :class:`~sklearn.utils.Bunch`
        ``rows`` and ``cols`` (``min(n_a, n_b)`` matched atom indices of ``A`` and
        ``B``), ``cosine`` (their cosine similarities) and ``mean`` (the mean matched
        cosine). The matching maximises the summed cosine.
    """
    A, B = _unit_rows(A, "A"), _unit_rows(B, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A and B must have the same number of features; got {A.shape[1]} "
                         f"and {B.shape[1]}.")
    similarity = A @ B.T
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    cosine = similarity[rows, cols]
    return Bunch(rows=rows, cols=cols, cosine=cosine, mean=float(cosine.mean()))


def _live_atoms(estimator):
    """The atoms of a fitted estimator that fire on its training data (all when unknown)."""
    atoms = np.asarray(estimator.components_, dtype=np.float64)
    frequency = getattr(estimator, "latent_frequency_", None)
    if frequency is None:
        return atoms, np.arange(len(atoms))
    live = np.flatnonzero(np.asarray(frequency) > 0)
    return atoms[live], live


def _dictionaries(models):
    """Dictionaries (live atoms) from fitted estimators or arrays."""
    return [_live_atoms(m)[0] if hasattr(m, "components_") else np.asarray(m, dtype=np.float64)
            for m in models]


def seed_consistency(models):
    """Pairwise consistency of dictionaries fitted with different seeds.

    Parameters
    ----------
    models : sequence of fitted estimators or arrays
        At least two. An estimator contributes the rows of ``components_`` that fire
        on its training data (``latent_frequency_ > 0``, when it has that attribute); an
        array is used as it is.

    Returns
    -------
    consistency : :class:`~sklearn.utils.Bunch`
        ``matrix`` (n_models, n_models): the mean matched cosine of every pair (1 on
        the diagonal); ``mean``: the mean over all pairs.
    """
    dictionaries = _dictionaries(models)
    n = len(dictionaries)
    if n < 2:
        raise ValueError(f"seed_consistency needs at least 2 dictionaries; got {n}.")
    matrix = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i, j] = matrix[j, i] = match_dictionaries(dictionaries[i],
                                                             dictionaries[j]).mean
    return Bunch(matrix=matrix, mean=float(matrix[np.triu_indices(n, 1)].mean()))


def latent_stability(reference, others, threshold=0.9):
    """How well every atom of ``reference`` is found again in the other dictionaries.

    Parameters
    ----------
    reference : array-like of shape (n_atoms, n_features)
        The dictionary whose atoms are scored.
    others : sequence of array-like of shape (n_other, n_features)
        Dictionaries from other seeds.
    threshold : float, default=0.9
        Cosine at or above which a matched atom counts as the same feature.

    Returns
    -------
    stability : :class:`~sklearn.utils.Bunch`
        ``cosine`` (n_atoms, n_others): the cosine of every reference atom with its
        partner in each other dictionary under the optimal matching (0 when it has no
        partner, the other dictionary being smaller); ``stability`` (n_atoms,): its mean
        over the others; ``reappearance`` (n_atoms,): the fraction of the others in
        which it is matched at ``threshold`` or above.
    """
    reference = np.asarray(reference, dtype=np.float64)
    if len(others) == 0:
        raise ValueError("latent_stability needs at least one other dictionary.")
    cosine = np.zeros((len(reference), len(others)))
    for j, other in enumerate(others):
        match = match_dictionaries(reference, other)
        cosine[match.rows, j] = match.cosine
    return Bunch(cosine=cosine, stability=cosine.mean(axis=1),
                 reappearance=(cosine >= threshold).mean(axis=1))


def _fit_one(estimator, X, seed):
    return clone(estimator).set_params(random_state=seed).fit(X)


class StableFeatures(ReconstructionScoreMixin, WrapsSAE, MetaEstimatorMixin, TransformerMixin,
                     BaseEstimator):
    """Fit a dictionary estimator with several seeds and keep the features that reappear.

    ``n_seeds`` clones of ``estimator`` are fitted with different ``random_state``. The
    reference model is the one whose dictionary agrees best with the others (the
    largest mean matched cosine); each of its live latents is matched to every other
    seed's dictionary (:func:`latent_stability`). A latent is *stable* when its matched
    cosine is at least ``threshold`` in at least ``min_agreement`` of the other seeds.
    ``transform`` returns the reference model's codes of the stable latents only, and
    ``score`` the explained variance of ``X`` reconstructed from them alone.

    Parameters
    ----------
    estimator : estimator with ``components_``, ``transform`` and ``inverse_transform``, \
default=None
        The dictionary learner (e.g. :class:`~sklearn_mini.SpikeSAE`); ``None`` uses
        ``SpikeSAE()``. Its ``random_state`` is replaced for every seed.
    n_seeds : int, default=5
        Number of fits (at least 2).
    threshold : float, default=0.9
        Matched cosine at which an atom counts as found again.
    min_agreement : float, default=0.5
        Fraction of the other seeds in which a latent must be found again to be kept.
    n_jobs : int or None, default=None
        Fits run in parallel with joblib (``None``: one at a time).
    random_state : int, RandomState instance or None, default=None
        Draws the seeds of the fits.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted clones, one per seed.
    seeds_ : ndarray of shape (n_seeds,)
        Their ``random_state``.
    reference_ : int
        Index in ``estimators_`` of the reference model.
    consistency_ : float
        Mean pairwise matched cosine of the seeds' live dictionaries
        (:func:`seed_consistency`).
    consistency_matrix_ : ndarray of shape (n_seeds, n_seeds)
        The pairwise values.
    stability_ : ndarray of shape (n_latents,)
        Mean matched cosine of every latent of the reference model over the other seeds
        (0 for a dead latent).
    reappearance_ : ndarray of shape (n_latents,)
        Fraction of the other seeds in which each latent is found at ``threshold``.
    stable_ : ndarray of bool of shape (n_latents,)
        The latents kept.
    components_ : ndarray of shape (n_stable, n_features)
        The reference model's atoms of the stable latents.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during ``fit`` (only with string column names).

    Examples
    --------
    >>> from sklearn_mini import SpikeSAE
    >>> from sklearn_mini.datasets import make_sparse_counts
    >>> from sklearn_mini.stability import StableFeatures
    >>> X, _ = make_sparse_counts(n_samples=2000, n_features=32, n_atoms=8, random_state=0)
    >>> sae = SpikeSAE(d_sae=16, topk=3, n_epochs=5, positive_dict=True)
    >>> stable = StableFeatures(sae, n_seeds=3, random_state=0).fit(X)
    >>> stable.transform(X).shape[1] == int(stable.stable_.sum())
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "transform", "inverse_transform"]), None],
        "n_seeds": [Interval(Integral, 2, None, closed="left")],
        "threshold": [Interval(Real, -1, 1, closed="both")],
        "min_agreement": [Interval(Real, 0, 1, closed="both")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, n_seeds=5, threshold=0.9, min_agreement=0.5,
                 n_jobs=None, random_state=None):
        self.estimator = estimator
        self.n_seeds = n_seeds
        self.threshold = threshold
        self.min_agreement = min_agreement
        self.n_jobs = n_jobs
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit ``n_seeds`` clones and find the stable latents of the reference model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, passed to every clone's ``fit``.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted ensemble.
        """
        X = self._validate(X, reset=True)
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max,
                                                              size=self.n_seeds)
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_one)(self._base(), X, int(seed)) for seed in seeds)
        self.seeds_ = seeds
        consistency = seed_consistency(self.estimators_)
        self.consistency_, self.consistency_matrix_ = consistency.mean, consistency.matrix
        self.reference_ = int(np.argmax(consistency.matrix.sum(axis=1)))
        self._score_reference()
        return self

    def _validate(self, X, reset):
        """``X`` checked once here (names, shape); the clones see the checked array."""
        return validate_data(self, X, reset=reset, accept_sparse=["csr", "csc", "coo"],
                             dtype=[np.float64, np.float32])

    def _score_reference(self):
        reference = self.estimators_[self.reference_]
        atoms, live = _live_atoms(reference)
        others = [d for i, d in enumerate(_dictionaries(self.estimators_)) if i != self.reference_]
        scores = latent_stability(atoms, others, self.threshold)
        n_latents = len(reference.components_)
        self.stability_ = np.zeros(n_latents)
        self.reappearance_ = np.zeros(n_latents)
        self.stability_[live] = scores.stability
        self.reappearance_[live] = scores.reappearance
        self.stable_ = self.reappearance_ >= max(self.min_agreement, 1e-12)
        self.components_ = np.asarray(reference.components_)[self.stable_]

    def transform(self, X):
        """The reference model's codes of the stable latents.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to code.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_stable)
            Activations of the stable latents.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return np.asarray(self.estimators_[self.reference_].transform(X))[:, self.stable_]

    def inverse_transform(self, X):
        """Reconstruct from codes of the stable latents (the others taken as 0).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_stable)
            Codes of the stable latents, e.g. from :meth:`transform`.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            The reference model's reconstruction.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != int(self.stable_.sum()):
            raise ValueError(f"X has {Z.shape[1]} columns; expected one per stable latent "
                             f"({int(self.stable_.sum())}).")
        full = np.zeros((Z.shape[0], self.stable_.size), dtype=Z.dtype)
        full[:, self.stable_] = Z
        return self.estimators_[self.reference_].inverse_transform(full)

    def _scored(self, X):
        """``score`` is the explained variance of ``X`` reconstructed from the stable
        latents alone."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return dense_float64(X), self.inverse_transform(self.transform(X))

    def get_feature_names_out(self, input_features=None):
        """Names of the stable latents, as the reference model names them.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str of shape (n_stable,)
        """
        check_is_fitted(self)
        names = self.estimators_[self.reference_].get_feature_names_out()
        return np.asarray(names, dtype=object)[self.stable_]
