"""CEBRA (Schneider, Lee and Mathis 2023) as a transformer with a reconstruction read-out."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.linear_model import Ridge
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._core.device import resolve_device
from .._core.seeding import isolated_torch_rng
from .._optional import require
from ..evaluation._score import ReconstructionScoreMixin


class CEBRAEmbedding(ReconstructionScoreMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                     BaseEstimator):
    """CEBRA embedding of binned spike counts, usable inside a Pipeline.

    Builds a :class:`cebra.CEBRA` in ``fit``. Unsupervised (CEBRA-Time) unless
    ``use_labels=True``: a ``y`` passed through a Pipeline for a downstream decoder is
    otherwise ignored, so it cannot silently turn the embedding into CEBRA-Behaviour
    (``cebra.CEBRA`` itself uses any ``y`` it is given, and fails on ``y=None`` inside a
    Pipeline). Needs ``pip install -e ".[cebra]"``.

    CEBRA is not an autoencoder. To compare reconstructions with the SAE and PCA,
    ``inverse_transform`` maps an embedding back to counts through an explicitly named
    linear read-out, ``readout_``: a ridge regression from the training embedding to the
    training counts. ``score`` is the explained variance of that read-out's
    reconstruction (:func:`sklearn_mini.metrics.explained_variance`); it measures how
    much of the population activity is linearly recoverable from the embedding.

    Parameters
    ----------
    output_dimension : int, default=8
        Embedding dimension.
    model_architecture : str, default='offset1-model'
        CEBRA model; e.g. ``'offset10-model'`` for a 10-bin receptive field.
    time_offsets : int, default=1
        Positive-pair distance in bins (CEBRA-Time).
    max_iterations : int, default=2000
        Training steps.
    batch_size : int or None, default=512
        Samples per step (``None``: all).
    learning_rate : float, default=3e-4
    temperature : float, default=1.0
    use_labels : bool, default=False
        Use ``y`` (behaviour, stimulus) as auxiliary variables (CEBRA-Behaviour).
    readout_alpha : float, default=1.0
        Ridge penalty of the read-out from embedding to counts.
    device : {'auto', 'cpu', 'cuda'}, default='cpu'
    random_state : int, RandomState instance or None, default=None
        CEBRA has no seed argument: training runs with torch's and numpy's global
        generators seeded from this inside the call and restored afterwards, which seeds
        the network's initial weights and leaves the user's global random state
        untouched. CEBRA's samplers draw their own seed from the operating system
        (``torch.Generator.seed()`` in ``cebra.distributions``), so two fits differ
        anyway: the estimator is tagged non-deterministic.
    verbose : bool, default=False

    Attributes
    ----------
    model_ : cebra.CEBRA
        The fitted CEBRA model.
    readout_ : sklearn.linear_model.Ridge
        Linear read-out from embedding to counts used by ``inverse_transform``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_mini import SpikeBinner
    >>> from sklearn_mini.adapters import CEBRAEmbedding
    >>> pipe = make_pipeline(SpikeBinner(bin_size=0.05), CEBRAEmbedding(output_dimension=3))
    """

    _parameter_constraints: dict = {
        "output_dimension": [Interval(Integral, 1, None, closed="left")],
        "model_architecture": [str],
        "time_offsets": [Interval(Integral, 1, None, closed="left")],
        "max_iterations": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "use_labels": ["boolean"],
        "readout_alpha": [Interval(Real, 0, None, closed="left")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
        "verbose": ["boolean"],
    }

    def __init__(self, output_dimension=8, model_architecture="offset1-model", time_offsets=1,
                 max_iterations=2000, batch_size=512, learning_rate=3e-4, temperature=1.0,
                 use_labels=False, readout_alpha=1.0, device="cpu", random_state=None,
                 verbose=False):
        self.output_dimension = output_dimension
        self.model_architecture = model_architecture
        self.time_offsets = time_offsets
        self.max_iterations = max_iterations
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.use_labels = use_labels
        self.readout_alpha = readout_alpha
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit CEBRA on ``X`` (labels ``y`` only with ``use_labels=True``), then the read-out.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Binned spike counts, rows in time order.
        y : array-like of shape (n_samples,) or (n_samples, n_labels), default=None
            Auxiliary variables, used only when ``use_labels=True`` (then required).

        Returns
        -------
        self : object
        """
        cebra = require("cebra", "cebra", "CEBRAEmbedding")
        X = validate_data(self, X, dtype=[np.float32, np.float64])
        if self.use_labels and y is None:
            raise ValueError("use_labels=True needs labels y (behaviour or stimulus) in fit.")
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        batch = None if self.batch_size is None else min(self.batch_size, X.shape[0])
        self.model_ = cebra.CEBRA(
            model_architecture=self.model_architecture, output_dimension=self.output_dimension,
            time_offsets=self.time_offsets, max_iterations=self.max_iterations,
            batch_size=batch, learning_rate=self.learning_rate,
            temperature=self.temperature, device=str(resolve_device(self.device)),
            verbose=self.verbose,
        )
        data = X.astype(np.float32)
        with isolated_torch_rng(seed):
            if self.use_labels:
                self.model_.fit(data, np.asarray(y))
            else:
                self.model_.fit(data)
            embedding = self.model_.transform(data)
        self.readout_ = Ridge(alpha=self.readout_alpha).fit(embedding, X)
        self._n_features_out = self.output_dimension
        return self

    def transform(self, X):
        """Embed ``X`` (same units as in ``fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        E : ndarray of shape (n_samples, output_dimension)
            Embedding, in the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        return self.model_.transform(X.astype(np.float32)).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Counts predicted from an embedding by the linear read-out ``readout_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, output_dimension)
            Embedding.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        E = np.asarray(X)
        if E.ndim != 2 or E.shape[1] != self.output_dimension:
            raise ValueError(f"inverse_transform expects embeddings with {self.output_dimension} "
                             f"columns; got shape {E.shape}.")
        return self.readout_.predict(E).astype(E.dtype if E.dtype == np.float32 else np.float64)

    def _scored(self, X):
        """``score``: explained variance of the read-out reconstruction of ``X``."""
        X_dense = validate_data(self, X, reset=False, dtype=[np.float64])
        return X_dense, self.inverse_transform(self.transform(X_dense))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # cebra's samplers seed themselves from the OS (see random_state).
        tags.non_deterministic = True
        return tags
