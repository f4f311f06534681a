"""Co-smoothing: held-out units predicted from the latents of the held-in ones."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from sklearn_mini import SpikeSAE
from sklearn_mini.baselines import PCA
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.evaluation.cosmoothing import co_smoothing, held_out_units


class _Noise(TransformerMixin, BaseEstimator):
    """Latents that carry nothing about the data: a readout from them cannot predict."""

    def __init__(self, n_components=8, random_state=0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return np.random.default_rng(self.random_state).normal(size=(len(X), self.n_components))


@pytest.fixture(scope="module")
def split():
    X, _ = make_sparse_counts(n_samples=3000, n_features=40, n_atoms=8, n_active=2,
                              random_state=0)
    return X[:2000], X[2000:], held_out_units(40, 0.25, random_state=0)


def test_shared_structure_predicts_held_out_units_and_noise_does_not(split):
    X_train, X_test, held_out = split
    pca = co_smoothing(PCA(n_components=8), X_train, X_test, held_out)
    noise = co_smoothing(_Noise(), X_train, X_test, held_out)
    assert pca.bits_per_spike > 0.05
    assert noise.bits_per_spike < 0.01 < pca.bits_per_spike
    assert pca.rates.shape == (len(X_test), len(held_out)) and np.all(pca.rates > 0)
    assert pca.model.n_features_in_ == 30  # fitted on the held-in units only
    np.testing.assert_array_equal(np.union1d(pca.held_in, pca.held_out), np.arange(40))


def test_an_sae_is_scored_and_the_given_model_is_not_fitted(split):
    X_train, X_test, held_out = split
    sae = SpikeSAE(d_sae=16, topk=2, n_epochs=5, random_state=0)
    result = co_smoothing(sae, X_train, X_test, held_out)
    assert result.bits_per_spike > 0.05
    assert not hasattr(sae, "components_")


def test_held_out_units_are_reproducible_sorted_and_leave_units_in():
    a = held_out_units(10, 0.3, random_state=1)
    np.testing.assert_array_equal(a, held_out_units(10, 0.3, random_state=1))
    assert len(a) == 3 and np.all(np.diff(a) > 0)
    assert len(held_out_units(2, 0.9, random_state=0)) == 1


@pytest.mark.parametrize("held_out, message", [
    (np.arange(40), "between 1 and 39"),
    ([], "between 1 and 39"),
    ([40], "between 1 and 39"),
    (np.ones(5, bool), "one entry per unit"),
])
def test_bad_held_out_units_are_refused(split, held_out, message):
    X_train, X_test, _ = split
    with pytest.raises(ValueError, match=message):
        co_smoothing(PCA(2), X_train, X_test, held_out)


def test_different_units_in_train_and_test_are_refused(split):
    X_train, X_test, held_out = split
    with pytest.raises(ValueError, match="same units"):
        co_smoothing(PCA(2), X_train, X_test[:, :30], held_out)


class _RareInTraining(TransformerMixin, BaseEstimator):
    """One latent that is 0 in all but one training bin and large throughout the test."""

    def fit(self, X, y=None):
        self.n_train_ = len(X)
        return self

    def transform(self, X):
        Z = np.zeros((len(X), 1))
        if len(X) == self.n_train_:
            Z[0] = 1.0
        else:
            Z[:] = 50.0
        return Z


def test_a_latent_beyond_its_training_range_does_not_explode_the_rates(split):
    # Standardised, the test value would be ~2000 spreads out; clipped to the training
    # range, the readout predicts at most what it predicted in its busiest training bin.
    X_train, X_test, held_out = split
    result = co_smoothing(_RareInTraining(), X_train, X_test, held_out)
    assert result.rates.max() <= X_train[:, held_out].max() + 1
    assert np.isfinite(result.bits_per_spike)
