"""Data-driven defaults (d_sae / topk / lr 'auto') and the d_sae descent (DSAESearch)."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.model_selection import DSAESearch
from sklearn_mini.sae import auto_d_sae, auto_lr, auto_topk


def test_auto_rules_by_hand():
    assert [auto_topk(f) for f in (1, 20, 100, 800, 10_000)] == [1, 2, 5, 14, 32]
    # At most half the units active in a non-empty bin: round(4.3 / 2) = 2 (of 5).
    assert auto_topk(100, active_units=4.3) == 2
    assert auto_topk(100, active_units=40.0) == 5  # the cap only ever lowers topk
    assert auto_topk(100, active_units=0.4) == 1  # and never below 1
    assert auto_d_sae(300, 20, 2) == 30  # one latent per ten samples
    assert auto_d_sae(200_000, 800, 14) == 1600  # twice the units
    assert auto_d_sae(30, 20, 4) == 8  # never fewer than 2 * topk
    # 5e-3 up to 128 units, then 5e-3 * sqrt(128 / n): half the rate at 4 x 128 units.
    assert auto_lr(20) == auto_lr(128) == 5e-3
    assert auto_lr(512) == pytest.approx(2.5e-3, rel=1e-12)
    assert auto_lr(2048) == pytest.approx(1.25e-3, rel=1e-12)


def test_active_units_per_bin_by_hand():
    from sklearn_mini.sae import active_units_per_bin

    X = np.array([[0, 0, 0], [1, 0, 2], [0, 3, 0], [0, 0, 0], [1, 1, 1]])
    # Non-empty bins hold 2, 1 and 3 active units: mean 2; blocks give the same.
    assert active_units_per_bin(X) == active_units_per_bin(X, block=2) == 2.0
    assert active_units_per_bin(sp.csr_matrix(X), block=2) == 2.0
    assert active_units_per_bin(np.zeros((4, 3))) == 0.0


@pytest.mark.parametrize("shape", [(500, 20), (5000, 200)])
def test_auto_defaults_fit_and_record_their_choice(shape):
    X, _ = make_sparse_counts(n_samples=shape[0], n_features=shape[1], random_state=0)
    sae = SpikeSAE(n_epochs=2, random_state=0).fit(X)
    from sklearn_mini.sae import active_units_per_bin

    assert sae.topk_ == auto_topk(shape[1], active_units_per_bin(X))
    assert sae.d_sae_ == auto_d_sae(shape[0], shape[1], sae.topk_)
    assert sae.lr_ == auto_lr(shape[1])
    assert sae.components_.shape == (sae.d_sae_, shape[1])
    assert np.isfinite(sae.score(X))


@pytest.mark.slow
def test_dsae_search_finds_the_planted_size_on_a_monotone_path():
    n_atoms = 16
    X, _ = make_sparse_counts(n_samples=5000, n_features=64, n_atoms=n_atoms, n_active=3,
                              random_state=0)
    base = SpikeSAE(topk=3, n_epochs=20, batch_size=256, device="cpu", random_state=0)
    search = DSAESearch(base).fit(X)
    path = search.path_
    sizes = np.asarray(path["d_sae"])
    assert sizes[0] == int(0.8 * 5000) // 10  # starts at the n_train / 10 limit
    assert np.all(np.diff(sizes) < 0)  # strictly shrinking
    assert np.all(sizes[1:] >= np.floor(sizes[:-1] * 0.85) - 1)  # 15% steps
    assert np.asarray(path["selected"]).sum() == 1
    assert n_atoms / 2 <= search.best_d_sae_ <= 2 * n_atoms
    # The rule: every step up to the chosen size kept both scores within 5%; the next fell.
    chosen = int(np.flatnonzero(path["selected"])[0])
    for key in ("r2_unit", "r2_example"):
        scores = np.asarray(path[key])
        assert np.all(scores[1:chosen + 1] >= scores[:chosen] - 0.05 * np.abs(scores[:chosen]))
    if chosen + 1 < len(sizes):
        previous, after = chosen, chosen + 1
        assert any(path[k][after] < path[k][previous] - 0.05 * abs(path[k][previous])
                   for k in ("r2_unit", "r2_example"))
    assert search.best_estimator_.d_sae_ == search.best_d_sae_
    assert search.transform(X[:5]).shape == (5, search.best_d_sae_)


def test_dsae_search_validates_its_input():
    with pytest.raises(ValueError, match="at least 2 training rows"):
        DSAESearch(SpikeSAE(n_epochs=1)).fit(np.ones((3, 3)))
    with pytest.raises(ValueError, match="step"):
        DSAESearch(step=0.5).fit(np.ones((100, 3)))


def test_auto_lr_is_the_rate_the_fit_runs_at():
    X, _ = make_sparse_counts(n_samples=300, n_features=512, random_state=0)
    common = dict(d_sae=16, topk=2, n_epochs=2, random_state=0)
    auto = SpikeSAE(**common).fit(X)
    assert auto.lr_ == pytest.approx(2.5e-3)
    # The same fit as with the number written out, and another than with 5e-3.
    fixed = SpikeSAE(lr=2.5e-3, **common).fit(X)
    np.testing.assert_array_equal(auto.components_, fixed.components_)
    fixed = SpikeSAE(lr=5e-3, **common).fit(X)
    assert fixed.lr_ == 5e-3  # a number is used as given, at any width
    assert not np.allclose(fixed.components_, auto.components_)
