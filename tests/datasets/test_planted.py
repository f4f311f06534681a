"""The recovery suite's planted generators: each plants what its docstring says."""

import numpy as np
import pytest

from sklearn_mini.datasets import (
    RECOVERY_GENERATORS,
    make_broad_narrow,
    make_dictionary_spikes,
    make_parent_child,
    make_shared_assemblies,
)


@pytest.mark.parametrize("name", sorted(RECOVERY_GENERATORS))
def test_every_generator_returns_counts_and_unit_norm_non_negative_atoms(name):
    make = RECOVERY_GENERATORS[name]
    X, truth = make(n_samples=3000, random_state=0)
    assert X.dtype == np.float64 and np.all(X >= 0) and np.all(X == np.round(X))
    D = truth.dictionary
    assert np.all(D >= 0)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)
    assert truth.codes.shape == (3000, len(D)) and truth.rates.shape == X.shape
    assert truth.is_broad.shape == (len(D),) and 0 < truth.is_broad.sum() < len(D)
    assert truth.name == name
    # Seeded: the same draw twice.
    X2, _ = make(n_samples=3000, random_state=0)
    np.testing.assert_array_equal(X, X2)


def test_broad_narrow_plants_overlapping_broad_and_rare_narrow_patterns():
    X, truth = make_broad_narrow(random_state=1)
    D, broad = truth.dictionary, truth.is_broad
    cos = (D[broad] @ D[broad].T)[np.triu_indices(broad.sum(), 1)]
    assert np.all((cos >= 0.5) & (cos <= 0.65))
    on = truth.codes > 0
    assert np.all(np.abs(on[:, broad].mean(0) - 0.5) < 0.02)
    assert np.all(np.abs(on[:, ~broad].mean(0) - 0.04) < 0.01)
    assert np.all((D[~broad] > 0).sum(1) <= 6) and np.all((D[~broad] > 0).sum(1) >= 3)
    rates, _ = make_broad_narrow(random_state=1, noise=None)
    np.testing.assert_allclose(rates, truth.rates)
    with pytest.raises(ValueError, match="noise"):
        make_broad_narrow(noise="gaussian")


def test_broad_narrow_refuses_an_impossible_cosine_range():
    with pytest.raises(ValueError, match="pairwise cosines"):
        make_broad_narrow(n_samples=10, broad_cosine=(0.0, 0.01))


def test_dictionary_spikes_fire_at_5_to_20_hz_and_are_mostly_zeros():
    X, truth = make_dictionary_spikes(random_state=0)
    hz = X.mean(0) / 0.05
    assert hz.min() > 4 and hz.max() < 21
    np.testing.assert_allclose(truth.mean_rate, hz, rtol=0.15)
    assert (X == 0).mean() > 0.6


def test_assemblies_share_units():
    X, truth = make_shared_assemblies(random_state=0)
    members = truth.dictionary > 0
    assert members.sum(0).max() >= 3  # some unit belongs to three or more assemblies
    overlap = (members[:, None, :] & members[None]).sum(-1)[np.triu_indices(len(members), 1)]
    assert np.mean(overlap > 0) > 0.5


def test_children_ride_on_their_parents():
    X, truth = make_parent_child(random_state=0)
    parents = np.flatnonzero(truth.parent < 0)
    for j in np.flatnonzero(truth.parent >= 0):
        p = truth.parent[j]
        # Active only with the parent, and within the parent's units.
        assert np.all(truth.codes[truth.codes[:, j] > 0, p] > 0)
        assert np.all(truth.dictionary[p][truth.dictionary[j] > 0] > 0)
    assert np.array_equal(np.flatnonzero(truth.is_broad), parents)


def test_probe_bumps_are_smooth_local_and_persist_in_time():
    from sklearn_mini.datasets import make_probe_bumps

    X, truth = make_probe_bumps(n_samples=5000, random_state=0)
    D = truth.dictionary
    # Each bump's units are contiguous around its centre, and no two bumps coincide.
    for atom, centre in zip(D, truth.centre):
        units = np.flatnonzero(atom)
        assert np.all(np.diff(units) == 1) and units[0] <= centre <= units[-1]
    cos = D @ D.T - np.eye(len(D))
    assert cos.max() < 0.95
    # Episodes last several bins: a pattern on now is likely on in the next bin.
    on = truth.codes > 0
    stay = (on[1:] & on[:-1]).sum() / on[:-1].sum()
    assert stay > 0.5 > on.mean()
