"""The ground-truth simulator, feature recovery, feature hunting and their real-data checks."""

import glob
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from sklearn_mini import MatryoshkaSAE, SpikeBinner, SpikeSAE
from sklearn_mini.baselines import PCA
from sklearn_mini.datasets import make_spiking_features
from sklearn_mini.features import decode, feature_recovery, latent_selectivity, top_latents

from ..conftest import SHARED_DATA


@pytest.fixture(scope="module")
def default_simulation():
    return make_spiking_features(random_state=0)


def test_simulator_has_realistic_rates_and_sparse_bins(default_simulation):
    spikes, truth = default_simulation
    X = SpikeBinner(bin_size=0.05, normalize=None, min_rate=0).fit_transform(spikes)
    assert X.shape == (48000, 100)
    assert X.mean() / 0.05 == pytest.approx(10.0, rel=0.05)  # mean rate, Hz
    assert 0.75 <= np.mean(X == 0) <= 0.85  # about 0.8 of 50 ms unit-bins empty
    n = truth.directions.shape[0]
    assert truth.directions.shape == (32, 100) and truth.activations.shape == (48000, n)
    np.testing.assert_allclose(np.linalg.norm(truth.directions, axis=1), 1.0)
    coarse_rate = (truth.activations[:, truth.is_coarse] > 0).mean()
    fine_rate = (truth.activations[:, ~truth.is_coarse] > 0).mean()
    assert coarse_rate > 2.5 * fine_rate  # coarse often, fine rarely
    # A coarse feature's children together are active no more often than it is.
    on = truth.activations > 0
    for c in np.flatnonzero(truth.is_coarse):
        assert on[:, truth.parent == c].mean(0).sum() <= 1.1 * on[:, c].mean()
    # 'units' hierarchy: a fine feature's units are mostly its parent's
    for j in np.flatnonzero(~truth.is_coarse):
        own = truth.directions[j] > 0
        assert (own & (truth.directions[truth.parent[j]] > 0)).sum() >= own.sum() / 2


def test_activity_hierarchy_and_refractory_spiking():
    spikes, truth = make_spiking_features(n_units=30, duration=120, hierarchy="activity",
                                          spiking="refractory", random_state=1)
    fine = np.flatnonzero(~truth.is_coarse)
    on = truth.activations > 0
    assert not np.any(on[:, fine] & ~on[:, truth.parent[fine]])  # never without parent
    for unit in range(30):
        times = np.sort(spikes.times[spikes.codes == unit])
        assert times.size > 1 and np.diff(times).min() >= 0.002
    with pytest.raises(ValueError, match="hierarchy"):
        make_spiking_features(hierarchy="tree")


def test_feature_recovery_maps_truth_through_the_binner():
    truth = Bunch(directions=np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]),
                  is_coarse=np.array([True, False]))

    class Model:
        components_ = np.array([[3.0 / 2, 4.0 / 4, 0.0], [0.0, 0.0, -2.0]])

    class Binner:
        unit_ids_ = np.array([0, 1, 2])
        scale_ = np.array([2.0, 4.0, 1.0])

    pipe = Bunch(steps=[("b", Binner()), ("m", Model())])
    rec = feature_recovery(pipe, truth)
    np.testing.assert_allclose(rec.best_cosine, [1.0, 1.0])  # scaled, sign-invariant
    assert rec.fraction == 1.0 and rec.fraction_coarse == 1.0
    plain = feature_recovery(Model(), truth)
    assert plain.best_cosine[0] < 0.99  # unscaled atoms do not match the raw directions


@pytest.mark.slow
def test_default_simulation_recovery_sae_matryoshka_and_pca(default_simulation):
    spikes, truth = default_simulation
    train = spikes.restrict(0.0, 0.7 * spikes.t_stop)

    def fit(model):
        return make_pipeline(SpikeBinner(bin_size=0.05), model).fit(train)

    # The main job's configuration: BatchTopK with one latent per bin on average (a TopK
    # with topk=1 would have to blend co-active features into one atom).
    sae = fit(SpikeSAE(d_sae=40, topk=1, sparsity="batchtopk", random_state=0))
    rec_sae = feature_recovery(sae, truth)
    assert rec_sae.fraction >= 0.9, rec_sae.best_cosine
    assert sae[-1].dead_fraction_ < 0.1
    rec_pca = feature_recovery(fit(PCA(n_components=40)), truth)
    assert rec_pca.fraction <= 0.1
    levels = ((8, 1), (40, 1))
    rec_mat = feature_recovery(fit(MatryoshkaSAE(levels=levels, sparsity="batchtopk",
                                                 random_state=0)), truth)
    # Level 0's 8 atoms are the 8 coarse features; fine features wait for later levels.
    assert rec_mat.level_fraction_coarse[0] == 1.0, rec_mat.best_cosine[:8]
    assert rec_mat.level_fraction_fine[0] <= 0.1
    # Renumbering by frequency is what makes this hold across seeds: without it, level 0
    # held all eight coarse features in 2 of seeds 0-9 (seed 0 among them), with it in
    # 10 of 10 (benchmarks/demo_seeds.py), so this one-seed test does not pin it.


def test_latent_selectivity_hand_values_and_top_latents():
    Z = np.array([[1, 0, 0], [1, 0, 2], [0, 3, 0], [0, 3, 0]], dtype=float)
    labels = np.array(["a", "a", "b", "b"])
    sel = latent_selectivity(Z, labels)
    c = list(sel.conditions).index("a")
    np.testing.assert_allclose(sel.f_in[:, c], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(sel.f_out[:, c], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(sel.selectivity[:, c], [1.0, 0.0, 1.0])
    assert top_latents(sel, "a", n=2).tolist() == [0, 2]
    assert top_latents(sel, "a", n=2, min_f_in=0.6).tolist() == [0]
    continuous = latent_selectivity(Z, np.array([0.1, 0.2, 0.3, 0.4]), n_quantiles=2)
    assert continuous.selectivity.shape == (3, 2)
    # Half the values tied at 0: the empty quantile bins are left out, not NaN.
    tied = np.r_[np.zeros(50), np.linspace(0.1, 1, 50)]
    many = latent_selectivity(np.random.default_rng(0).random((100, 3)) > 0.5, tied)
    assert list(many.conditions) == ["q2", "q3", "q4"] and np.isfinite(many.f_in).all()
    with pytest.raises(ValueError, match="Unknown condition"):
        top_latents(sel, "z")


def test_selectivity_with_many_conditions_is_high_only_for_the_preferred_one():
    # Issue 22 bug 2: pooled over 59 other images, a latent's rate outside any one image
    # was small, so a latent firing mostly on image 3 also looked selective for image 7,
    # where it fires on 10% of the bins. Latent 1 fires a little everywhere.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(60), 20)
    Z = np.zeros((labels.size, 2))
    Z[labels == 3, 0] = rng.random(20) < 0.8
    Z[np.flatnonzero(labels == 7)[:2], 0] = 1.0
    Z[:, 1] = rng.random(labels.size) < 0.05
    sel = latent_selectivity(Z, labels)
    f3, f7 = sel.f_in[0, 3], sel.f_in[0, 7]
    np.testing.assert_allclose(sel.selectivity[0, 7], f7 / (f7 + f3))
    np.testing.assert_allclose(sel.selectivity[0, 3], f3 / (f3 + f7))
    assert sel.preferred[0] == 3
    assert 7 not in top_latents(sel, 7, n=2, min_f_in=0.05)
    # A score above 0.5 belongs to the preferred condition only.
    above = np.argwhere(sel.selectivity > 0.5)
    assert all(sel.preferred[i] == c for i, c in above)
    assert sel.selectivity[1].max() < 0.9  # firing everywhere is selective for nothing


def _row_labels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def test_figures_label_rows_by_latent_id_not_position():
    # Issue 22 bug 3: with latents=[2, 7] the rows were labelled 0 and 1, so the
    # report's selectivity map and its raster named different latents.
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'test' extra")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_mini import plotting

    Z = np.zeros((40, 9))
    labels = np.repeat(["a", "b"], 20)
    Z[:20, 7] = 1.0  # latent 7 prefers "a"
    Z[20:, 2] = 1.0  # latent 2 prefers "b"
    sel = latent_selectivity(Z, labels)
    ax = plotting.plot_selectivity(sel, latents=[2, 7], sort=False)
    assert _row_labels(ax) == ["2", "7"]
    np.testing.assert_array_equal(ax.images[0].get_array()[:, 0], sel.selectivity[[2, 7], 0])
    ax = plotting.plot_selectivity(sel, latents=[2, 7])  # sorted: "a" first
    assert _row_labels(ax) == ["7", "2"]
    ax = plotting.plot_latent_raster(Z, latents=[2, 7], bin_size=0.5, t_start=100.0)
    assert _row_labels(ax) == ["2", "7"]
    assert ax.images[0].get_extent()[:2] == [100.0, 120.0]
    ax = plotting.plot_latent_raster(Z)  # default: the active latents, by id
    assert _row_labels(ax) == ["2", "7"]
    many = plotting.plot_latent_raster(np.ones((5, 60)))
    assert all(label.isdigit() for label in _row_labels(many)) and "59" in _row_labels(many)


def test_decode_uses_contiguous_or_group_folds():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    Z = np.eye(4)[y] + 0.1 * rng.random((200, 4))
    assert decode(Z, np.tile(np.arange(4), 50), groups=np.repeat(np.arange(50), 4)).mean() < 0.5
    assert decode(Z, y, groups=np.tile(np.arange(10), 20)).mean() == 1.0
    yc = Z @ np.array([1.0, 2.0, 3.0, 4.0]) + rng.random(200)
    assert decode(Z, yc, kind="regression").shape == (5,)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "retina_onken2016").exists(), reason="needs ../shared/data")
def test_retina_image_identity_from_latents_beats_pca_at_equal_l0():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.preprocessing import StandardScaler

    from sklearn_mini.io import load_retina

    rec = load_retina(SHARED_DATA / "retina_onken2016" / "NaturalImages1.mat")
    X = SpikeBinner(bin_size=0.3, min_rate=0.5).fit_transform(rec.spikes)
    image, trial = rec.presentations["stimulus"], rec.presentations["trial"]

    def accuracy(model):
        pipe = make_pipeline(model, StandardScaler(), LogisticRegression(max_iter=2000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cross_val_score(pipe, X, image, groups=trial, cv=GroupKFold(5)).mean()

    sae = SpikeSAE(d_sae=64, topk=4, n_epochs=100, random_state=0)
    l0 = np.count_nonzero(sae.fit(X).transform(X), axis=1).mean()
    acc_sae, acc_pca = accuracy(sae), accuracy(PCA(n_components=int(round(l0))))
    assert acc_sae >= acc_pca, (acc_sae, acc_pca)


@pytest.mark.skipif(not (SHARED_DATA / "aplysia_bruno2017").exists(), reason="needs ../shared/data")
def test_aplysia_has_a_latent_selective_for_the_post_stimulation_epoch():
    from sklearn_mini.io import load_aplysia

    folder = SHARED_DATA / "aplysia_bruno2017" / "Data" / "Spikes"
    path = sorted(glob.glob(str(folder / "*.mat")))[0]
    rec = load_aplysia(path)
    X = SpikeBinner(bin_size=0.5, min_rate=0.5).fit_transform(rec.spikes)
    t = (np.arange(len(X)) + 0.5) * 0.5
    epoch = np.where(t < rec.stimulus[0], "pre", np.where(t < rec.stimulus[1], "stim", "post"))
    # With its defaults (24 latents, top-6 for these 246 bins), on three seeds: ten seeds
    # all gave 0.92-1.0 when this test was written.
    for seed in range(3):
        Z = SpikeSAE(random_state=seed).fit(X).transform(X)
        sel = latent_selectivity(Z, epoch)
        best = top_latents(sel, "post", n=1, min_f_in=0.2)
        c = list(sel.conditions).index("post")
        assert best.size == 1 and sel.selectivity[best[0], c] >= 0.9, seed
