"""Seed consistency, per-latent stability and the StableFeatures ensemble."""

import numpy as np
import pytest

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.stability import (
    StableFeatures,
    latent_stability,
    match_dictionaries,
    seed_consistency,
)


def test_match_dictionaries_hand_value():
    # A's atoms are B's in another order, the second one tilted by 45 degrees.
    A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    B = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    match = match_dictionaries(A, B)
    # Optimal one-to-one: A0 -> B1 (cos 1), A1 -> B0 or B2 (cos 1/sqrt 2).
    assert list(match.rows) == [0, 1]
    assert match.cols[0] == 1 and match.cols[1] in (0, 2)
    np.testing.assert_allclose(match.cosine, [1.0, 2 ** -0.5])
    assert match.mean == pytest.approx((1 + 2 ** -0.5) / 2)


def test_matching_is_one_to_one_not_best_match():
    # Both atoms of A are closest to B0; a best-match score would count B0 twice.
    A = np.array([[1.0, 0.1], [1.0, 0.2]])
    B = np.array([[1.0, 0.15], [0.0, 1.0]])
    match = match_dictionaries(A, B)
    assert sorted(match.cols) == [0, 1]
    assert match.mean < 0.75


def test_zero_atom_and_feature_mismatch_are_clear_errors():
    with pytest.raises(ValueError, match="all-zero atom"):
        match_dictionaries(np.zeros((1, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="same number of features"):
        match_dictionaries(np.ones((1, 3)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        seed_consistency([np.ones((2, 3))])


def test_seed_consistency_and_latent_stability_on_permuted_copies():
    rng = np.random.default_rng(0)
    D = rng.random((6, 10))
    noisy = D[::-1] + 0.01 * rng.random((6, 10))
    other = rng.random((6, 10))
    result = seed_consistency([D, D[rng.permutation(6)], noisy])
    assert result.matrix[0, 1] == pytest.approx(1.0)
    assert result.matrix[0, 2] > 0.99
    stab = latent_stability(D, [noisy, other], threshold=0.99)
    np.testing.assert_array_equal(stab.reappearance, 0.5)  # in the copy, not the random one
    assert stab.cosine.shape == (6, 2)


def test_dead_latents_are_left_out():
    X, truth = make_sparse_counts(n_samples=1500, n_features=20, n_atoms=6, n_active=2,
                                  random_state=0)
    sae = SpikeSAE(d_sae=12, topk=2, n_epochs=3, random_state=0, positive_dict=True).fit(X)
    sae.latent_frequency_ = sae.latent_frequency_.copy()
    sae.latent_frequency_[:6] = 0.0  # pretend half the latents are dead
    result = seed_consistency([sae, sae.components_[6:]])
    assert result.mean == pytest.approx(1.0)


@pytest.mark.slow
def test_stable_features_keep_planted_atoms_across_seeds():
    X, truth = make_sparse_counts(n_samples=6000, n_features=30, n_atoms=8, n_active=2,
                                  random_state=0)
    sae = SpikeSAE(d_sae=8, topk=2, sparsity="topk", positive_dict=True, n_epochs=600,
                   device="cpu")
    stable = StableFeatures(sae, n_seeds=3, random_state=0).fit(X)
    assert stable.consistency_ >= 0.9
    assert stable.consistency_matrix_.shape == (3, 3)
    assert stable.stable_.sum() >= 6
    # The kept atoms are planted ones.
    best = (stable.components_ / np.linalg.norm(stable.components_, axis=1, keepdims=True)
            ) @ truth.dictionary.T
    assert np.all(best.max(axis=1) >= 0.9)
    Z = stable.transform(X)
    assert Z.shape == (X.shape[0], stable.stable_.sum())
    assert stable.inverse_transform(Z).shape == X.shape
    assert 0 < stable.score(X) <= 1
    assert len(stable.get_feature_names_out()) == stable.stable_.sum()
