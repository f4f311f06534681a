"""Recovery, dead latents and EV on data the defaults were not tuned on (small versions of
``benchmarks/bench_recovery.py`` and ``benchmarks/bench_recordings.py``)."""

import glob
import warnings

import numpy as np
import pytest
from sklearn.decomposition import NMF, PCA

from sklearn_mini import MatryoshkaSAE, SpikeBinner, SpikeSAE
from sklearn_mini.datasets import make_parent_child, make_probe_bumps, match_atoms
from sklearn_mini.metrics import explained_variance

from ..conftest import SHARED_DATA

pytestmark = pytest.mark.slow


def _matched(atoms, truth):
    return int(np.sum(match_atoms(atoms, truth.dictionary) >= 0.9))


def _split(X):
    cut = int(0.7 * len(X))
    return X[:cut], X[cut:]


@pytest.mark.parametrize("make", [make_parent_child, make_probe_bumps])
def test_spikesae_matches_at_least_as_many_planted_atoms_as_nmf(make):
    X, truth = make(n_samples=8000, random_state=0)
    train, _ = _split(X)
    d = len(truth.dictionary)
    sae = SpikeSAE(d_sae=d, random_state=0).fit(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NMF's convergence warning
        nmf = NMF(d, init="nndsvda", max_iter=500, random_state=0).fit(train)
    assert _matched(sae.components_, truth) >= _matched(nmf.components_, truth)
    assert sae.dead_fraction_ < 0.05


def test_matryoshka_first_level_holds_every_broad_parent():
    X, truth = make_parent_child(n_samples=8000, random_state=0)
    train, _ = _split(X)
    sae = MatryoshkaSAE(levels=((8, 2), (40, 4)), random_state=0).fit(train)
    level0 = sae.components_[sae.level_slices_[0]]
    best = match_atoms(level0, truth.dictionary[truth.is_broad])
    assert np.all(best >= 0.9), best


def test_wave1_defaults_mix_atoms_where_the_defaults_recover_them():
    # The regression this issue fixed: unconstrained BatchTopK atoms with a ReLU output.
    X, truth = make_parent_child(n_samples=8000, random_state=0)
    train, _ = _split(X)
    d = len(truth.dictionary)
    new = SpikeSAE(d_sae=d, random_state=0).fit(train)
    old = SpikeSAE(d_sae=d, sparsity="batchtopk", positive_dict=False, output_relu=True,
                   decoder_bias_init="mean", random_state=0).fit(train)
    assert _matched(new.components_, truth) > _matched(old.components_, truth)


RETINA = SHARED_DATA / "retina_onken2016" / "NaturalImages1.mat"
APLYSIA = sorted(glob.glob(str(SHARED_DATA / "aplysia_bruno2017" / "Data" / "Spikes" / "*.mat")))


def _binned(spikes):
    cut = spikes.t_start + 0.7 * (spikes.t_stop - spikes.t_start)
    binner = SpikeBinner(bin_size=0.05, min_rate=0.5)
    train = binner.fit_transform(spikes.restrict(spikes.t_start, cut))
    held_out = binner.transform(spikes.restrict(cut, spikes.t_stop))
    return np.asarray(train, float), np.asarray(held_out, float)


def _held_out_ev(model, train, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train)
    return explained_variance(test, model.inverse_transform(model.transform(test)))


@pytest.mark.parametrize("which", ["retina", "aplysia"])
def test_defaults_on_a_real_recording(which):
    from sklearn_mini.io import load_aplysia, load_retina

    if which == "retina":
        if not RETINA.exists():
            pytest.skip("needs ../shared/data (salamander retina)")
        spikes = load_retina(RETINA).spikes
    else:
        if not APLYSIA:
            pytest.skip("needs ../shared/data (Aplysia)")
        spikes = load_aplysia(APLYSIA[0]).spikes
    train, test = _binned(spikes)
    sae = SpikeSAE(random_state=0).fit(train)
    Z = sae.transform(test)
    k = max(1, int(round(np.mean((Z > 0).sum(1)))))
    ev = explained_variance(test, sae.inverse_transform(Z))
    assert sae.dead_fraction_ < 0.05
    assert ev > _held_out_ev(PCA(k), train, test)
    assert ev > _held_out_ev(NMF(k, init="nndsvda", max_iter=500, random_state=0), train, test)
