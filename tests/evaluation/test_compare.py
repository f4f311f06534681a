"""Metrics, scorers, baselines, adapters and the comparison harness."""

import importlib.util
import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mini import SpikeBinner, SpikeSAE, as_spike_trains, compare, plot_comparison
from sklearn_mini.adapters import GPFA_INSTALL, CEBRAEmbedding, SliceTCA, gpfa_available
from sklearn_mini.baselines import PCA, default_baselines
from sklearn_mini.datasets import make_sparse_counts
from sklearn_mini.dynamics import LFADS
from sklearn_mini.metrics import (
    cosine_per_example,
    cosine_per_unit,
    explained_variance,
    get_scorer,
    l0,
    r2_per_example,
    r2_per_unit,
)

from ..conftest import SHARED_DATA, simulated_spikes

HAVE_CEBRA = importlib.util.find_spec("cebra") is not None
HAVE_SLICETCA = importlib.util.find_spec("slicetca") is not None
needs_cebra = pytest.mark.skipif(not HAVE_CEBRA, reason="needs the cebra extra")
needs_slicetca = pytest.mark.skipif(not HAVE_SLICETCA, reason="needs the slicetca extra")

FAST_CEBRA = dict(output_dimension=3, max_iterations=30, batch_size=128, random_state=0)
FAST_SLICETCA = dict(trial_length=10, n_components=(1, 1, 1), max_iter=200, random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        yield


@pytest.fixture(scope="module")
def counts():
    X, _ = make_sparse_counts(n_samples=3000, n_features=24, n_atoms=12, n_active=3,
                              random_state=0)
    return X / X.max()


# ----------------------------------------------------------------------- metrics
def test_r2_per_unit_and_example_hand_values_with_constant_columns_and_rows():
    X = np.array([[1.0, 2.0, 5.0], [3.0, 2.0, 5.0], [5.0, 2.0, 5.0]])
    X_hat = np.array([[1.0, 2.0, 5.0], [2.0, 2.0, 4.0], [5.0, 2.0, 5.0]])
    # unit 0: residual 1, variance (4 + 0 + 4) = 8 -> 0.875; unit 1 constant and exact
    # -> 1.0; unit 2 constant, not exact -> 0.0
    np.testing.assert_allclose(r2_per_unit(X, X_hat), [0.875, 1.0, 0.0])
    # row 0: exact -> 1; row 1: residual 2, mean 10/3, deviations (1/3,4/3,5/3)^2 sum 14/3
    np.testing.assert_allclose(r2_per_example(X, X_hat), [1.0, 1 - 2 / (14 / 3), 1.0])
    silent = np.zeros((2, 3))
    np.testing.assert_array_equal(r2_per_example(silent, silent), [1.0, 1.0])
    np.testing.assert_array_equal(r2_per_example(silent, silent + 0.1), [0.0, 0.0])
    assert explained_variance(silent, silent) == 1.0


def test_cosines_and_l0_hand_values():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    X_hat = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    np.testing.assert_allclose(cosine_per_example(X, X_hat), [1 / np.sqrt(2), 1.0, 1.0])
    # unit 0: (1,0,1).(1,0,2) = 3 / (sqrt2 sqrt5); unit 1: (0,0,1).(1,0,2) = 2 / sqrt5
    np.testing.assert_allclose(cosine_per_unit(X, X_hat), [3 / np.sqrt(10), 2 / np.sqrt(5)])
    np.testing.assert_array_equal(cosine_per_unit(np.zeros((2, 1)), np.ones((2, 1))), [0.0])
    np.testing.assert_array_equal(l0(np.array([[0, 1.5, 0], [2, 3, -1]])), [1, 3])


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        r2_per_unit(np.ones((3, 2)), np.ones((3, 3)))


def test_scorers_rank_the_better_model_first(counts):
    for name in ("r2_per_unit", "r2_per_example", "explained_variance", "cosine_per_example"):
        grid = GridSearchCV(PCA(random_state=0), {"n_components": [1, 12]},
                            scoring=get_scorer(name), cv=KFold(3)).fit(counts)
        assert grid.best_params_ == {"n_components": 12}, name
    grid = GridSearchCV(SpikeSAE(d_sae=32, n_epochs=10, random_state=0), {"topk": [1, 4]},
                        scoring=get_scorer("r2_per_unit_median"), cv=KFold(2)).fit(counts)
    assert grid.best_params_ == {"topk": 4}
    assert grid.cv_results_["rank_test_score"].tolist() == [2, 1]


# ----------------------------------------------------------------------- baselines
@pytest.fixture(scope="module")
def spikes():
    return simulated_spikes(n_units=20, duration=120.0)


@pytest.mark.parametrize("name", list(default_baselines()))
def test_baselines_in_a_binner_pipeline(name, spikes):
    model = default_baselines(n_components=6, topk=2)[name]
    pipe = make_pipeline(SpikeBinner(bin_size=0.1), model).fit(spikes)
    Z = pipe.transform(spikes)
    assert Z.shape[0] == 1200 and Z.shape[1] == 6
    back = pipe.inverse_transform(Z)  # through the binner: spikes again
    assert back.n_units == pipe[0].unit_ids_.size
    score = pipe.score(spikes)
    assert np.isfinite(score) and 0.0 < score <= 1.0


def test_spikesae_omp_transform_uses_topk_atoms(counts):
    sae = SpikeSAE(d_sae=32, topk=3, transform_algorithm="omp", n_epochs=10, random_state=0)
    sae.fit(counts)
    Z = sae.transform(counts[:500])
    assert np.all(l0(Z) <= 3) and np.mean(l0(Z)) > 2.5
    enc = sae.set_params(transform_algorithm="encoder")
    assert abs(enc.score(counts) - sae.set_params(transform_algorithm="omp").score(counts)) < 0.2
    with pytest.raises(ValueError, match="linear decoder"):
        SpikeSAE(transform_algorithm="omp", loss="poisson", n_epochs=1).fit(counts)


# ----------------------------------------------------------------------- CEBRA
def _cebra_expected_failures(estimator):
    return {"check_fit_idempotent": "cebra's samplers draw their seed from the operating "
            "system (torch.Generator.seed()), so two fits of the same data differ."}


@pytest.mark.slow
@needs_cebra
@parametrize_with_checks([CEBRAEmbedding(**FAST_CEBRA)],
                         expected_failed_checks=_cebra_expected_failures)
def test_cebra_sklearn_compatible(estimator, check):
    check(estimator)


@needs_cebra
def test_cebra_unsupervised_in_pipeline_ignores_y_and_keeps_global_rng(spikes):
    before = torch.get_rng_state()
    pipe = make_pipeline(SpikeBinner(bin_size=0.1), CEBRAEmbedding(**FAST_CEBRA))
    y = np.arange(1200) % 7  # a downstream label that must not reach CEBRA
    pipe.fit(spikes, y)
    assert torch.equal(torch.get_rng_state(), before)
    E = pipe.transform(spikes)
    assert E.shape == (1200, 3) and E.dtype == pipe[0].transform(spikes).dtype  # preserved
    assert list(pipe[-1].get_feature_names_out()) == [f"cebraembedding{i}" for i in range(3)]
    assert pipe.inverse_transform(E).n_units == pipe[0].unit_ids_.size
    assert np.isfinite(pipe.score(spikes))
    with pytest.raises(ValueError, match="use_labels=True needs labels"):
        CEBRAEmbedding(use_labels=True, **FAST_CEBRA).fit(np.random.rand(50, 4))
    with pytest.raises(ValueError, match="features"):
        pipe[-1].transform(np.random.rand(10, 3))


@needs_cebra
def test_cebra_uses_labels_only_when_asked(counts):
    labels = np.arange(counts.shape[0]) % 2
    sup = CEBRAEmbedding(use_labels=True, **FAST_CEBRA).fit(counts[:600], labels[:600])
    assert sup.transform(counts[:10]).shape == (10, 3)


# ----------------------------------------------------------------------- sliceTCA
@needs_slicetca
def test_slicetca_in_pipeline_codes_new_trials_with_frozen_factors(spikes):
    before = torch.get_rng_state()
    pipe = make_pipeline(SpikeBinner(bin_size=0.1), SliceTCA(**FAST_SLICETCA))
    trains = as_spike_trains(spikes)
    train, test = trains.restrict(0.0, 90.0), trains.restrict(90.0, 120.0)
    pipe.fit(train)
    assert torch.equal(torch.get_rng_state(), before)  # slicetca's global seed is undone
    model = pipe[-1]
    frozen = [np.copy(c) for c in model.components_[0]]
    codes = pipe.transform(test)
    assert codes.shape == (30, 1 + 10 + model.n_features_in_)
    for a, b in zip(frozen, model.components_[0]):
        np.testing.assert_array_equal(a, b)
    assert pipe.inverse_transform(codes).n_units == pipe[0].unit_ids_.size
    score = pipe.score(test)
    assert np.isfinite(score) and score > 0


@needs_slicetca
def test_slicetca_least_squares_codes_fit_training_trials_at_least_as_well(counts):
    import slicetca

    model = SliceTCA(**FAST_SLICETCA).fit(counts[:1000])
    trials = counts[:1000].reshape(100, 10, -1).transpose(0, 2, 1)
    # Rebuild sliceTCA's own reconstruction of the training tensor from its factors.
    (a, s1), (b, c), (d, e) = model.components_
    own = (np.einsum("rk,rut->kut", a, s1) + np.einsum("ru,rkt->kut", b, c)
           + np.einsum("rt,rku->kut", d, e))
    ours = model.reconstruct(counts[:1000]).reshape(100, 10, -1).transpose(0, 2, 1)
    assert np.sum((ours - trials) ** 2) <= np.sum((own - trials) ** 2) * (1 + 1e-6)
    assert slicetca is not None
    partial = model.reconstruct(counts[:1005])
    assert partial.shape == (1005, counts.shape[1])


def test_gpfa_availability_matches_the_import_system():
    assert gpfa_available() is (importlib.util.find_spec("elephant") is not None)
    assert "pip install elephant" in GPFA_INSTALL


def test_native_lfads_in_a_pipeline_fits_transforms_and_reconstructs(spikes):
    pipe = make_pipeline(SpikeBinner(bin_size=0.05, normalize=None),
                         LFADS(window=20, fac_dim=4, gen_dim=16, n_epochs=3, random_state=0))
    pipe.fit(spikes)
    factors = pipe.transform(spikes)
    assert factors.shape[1] == 4 and np.isfinite(factors).all()
    rates = pipe[-1].inverse_transform(factors)
    assert (rates > 0).all() and np.isfinite(pipe.score(spikes))


# ----------------------------------------------------------------------- compare
@pytest.mark.slow
def test_compare_on_simulated_counts_has_a_row_per_method_and_no_nan(counts):
    methods = dict(default_baselines(n_components=8, topk=3))
    methods["SpikeSAE"] = SpikeSAE(d_sae=32, topk=3, n_epochs=10, random_state=0)
    if HAVE_CEBRA:
        methods["CEBRA"] = CEBRAEmbedding(**FAST_CEBRA)
    table = compare(methods, counts, cv=3)
    assert table["method"].tolist() == list(methods)
    assert not table.isna().any().any()
    row = table.set_index("method")
    assert row.loc["PCA", "mean_l0"] == 8
    assert row.loc["SpikeSAE", "mean_l0"] == pytest.approx(3, abs=0.3)
    assert row.loc["SpikeSAE", "explained_variance"] > 0.3
    axes = plot_comparison(table)
    assert len(axes) == 3


def test_compare_on_raw_spikes_through_a_binner(spikes):
    table = compare({"PCA": make_pipeline(SpikeBinner(bin_size=0.1), PCA(n_components=4)),
                     "SAE": make_pipeline(SpikeBinner(bin_size=0.1),
                                          SpikeSAE(d_sae=16, topk=2, n_epochs=5, random_state=0))},
                    spikes, cv=3)
    assert len(table) == 2 and not table.isna().any().any()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "retina_onken2016").exists(), reason="needs ../shared/data")
def test_compare_on_the_salamander_retina():
    from sklearn_mini.io import load_retina

    rec = load_retina(SHARED_DATA / "retina_onken2016" / "NaturalImages1.mat")
    X = SpikeBinner(bin_size=0.05, min_rate=0.5).fit_transform(rec.spikes)
    methods = {"SpikeSAE": SpikeSAE(d_sae=128, topk=4, n_epochs=20, random_state=0),
               "PCA": PCA(n_components=8), **{k: v for k, v in default_baselines(8).items()
                                              if k == "NMF"}}
    if HAVE_CEBRA:
        methods["CEBRA"] = CEBRAEmbedding(output_dimension=8, max_iterations=200, random_state=0)
    table = compare(methods, X, cv=3)
    assert len(table) == len(methods) and not table.isna().any().any()


def test_compare_reports_the_spread_over_folds_and_the_figure_says_which_way_is_better(counts):
    # Issue 22 friction: compare() returned fold means only.
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'test' extra")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.model_selection import KFold

    from sklearn_mini.compare import evaluate

    table = compare({"PCA": PCA(n_components=4)}, counts, cv=3).set_index("method")
    by_hand = [evaluate(PCA(n_components=4), counts[train], counts[test])["explained_variance"]
               for train, test in KFold(3).split(counts)]
    assert table.loc["PCA", "explained_variance"] == pytest.approx(np.mean(by_hand))
    assert table.loc["PCA", "explained_variance_std"] == pytest.approx(np.std(by_hand))
    assert table.loc["PCA", "explained_variance_std"] > 0
    axes = plot_comparison(table.reset_index())
    assert axes[0].get_title() == "explained_variance\n(higher is better)"
    assert axes[2].get_title() == "mean_l0\n(lower is sparser)"
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["PCA"]
    bars = next(c for c in axes[0].containers if hasattr(c, "errorbar"))
    (error_bar,) = bars.errorbar.lines[2][0].get_segments()  # the fold spread, drawn
    assert np.ptp(error_bar[:, 0]) == pytest.approx(2 * table.loc["PCA", "explained_variance_std"])


def test_frontier_scores_every_model_at_every_k_on_the_same_blocks(counts):
    # Issue 19 item 1: the SAE judged against models that use as many active dimensions.
    from sklearn_mini.compare import frontier, matched_models

    def models(k):
        chosen = matched_models(k, d_sae=12, n_epochs=2)
        return {name: chosen[name] for name in ("SpikeSAE", "PCA")}

    table = frontier(counts, ks=(1, 3), models=models, cv=2)
    assert table[["method", "k"]].values.tolist() == [["SpikeSAE", 1], ["PCA", 1],
                                                      ["SpikeSAE", 3], ["PCA", 3]]
    pca = table[table["method"] == "PCA"].set_index("k")
    assert pca.loc[1, "mean_l0"] == 1 and pca.loc[3, "mean_l0"] == 3
    assert pca.loc[3, "explained_variance"] > pca.loc[1, "explained_variance"]
    by_hand = compare({"PCA": PCA(n_components=3)}, counts, cv=2)  # the same folds
    assert pca.loc[3, "explained_variance"] == pytest.approx(by_hand["explained_variance"][0])
    sae = table[table["method"] == "SpikeSAE"].set_index("k")
    assert sae.loc[3, "mean_l0"] == pytest.approx(3, abs=0.01)
    full = matched_models(2, d_sae=12)
    assert list(full) == ["SpikeSAE", "PCA", "NMF", "dictionary (OMP)"]
    assert full["SpikeSAE"].topk == 2 and full["NMF"].n_components == 2
    assert full["dictionary (OMP)"].transform_n_nonzero_coefs == 2


def test_frontier_verdict_compares_at_the_dimensions_each_model_used():
    from sklearn_mini.compare import frontier_verdict

    def row(method, k, l0, ev):
        return {"method": method, "k": k, "mean_l0": l0, "explained_variance": ev}

    rows = [row("SpikeSAE", 1, 1.0, 0.5), row("PCA", 1, 1.0, 0.3),
            row("NMF", 1, 1.02, 0.5),  # within 5% of the SAE's L0, and a tie: not above
            row("OMP", 1, 0.4, 0.45),  # below the SAE's smallest L0: not compared
            row("SpikeSAE", 4, 4.0, 0.7), row("PCA", 4, 4.0, 0.8),
            row("NMF", 4, 2.0, 0.55)]  # the SAE at L0 2, halfway in log2: 0.6
    assert frontier_verdict(rows) == [
        "k=1: SpikeSAE 0.500 (L0 1.00) is above PCA 0.300; not above NMF 0.500; not "
        "compared with OMP (L0 0.40): outside the SpikeSAE's L0 range 1.00-4.00.",
        "k=4: SpikeSAE 0.700 (L0 4.00) is above NMF 0.550 (L0 2.00; SpikeSAE at that L0: "
        "0.600); not above PCA 0.800."]
    dead = [row("SpikeSAE", 1, 0.0, 0.0), row("PCA", 1, 1.0, 0.1)]  # an SAE that never fired
    assert frontier_verdict(dead) == [
        "k=1: SpikeSAE 0.000 (L0 0.00) is not compared with PCA (L0 1.00): outside the "
        "SpikeSAE's L0 range (no point above 0)."]


def test_plot_frontier_draws_one_curve_per_method():
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'test' extra")
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from sklearn_mini.compare import plot_frontier

    table = pd.DataFrame({"method": ["A", "B", "A", "B"], "k": [1, 1, 2, 2],
                          "mean_l0": [1.0, 1.0, 2.0, 1.5],
                          "explained_variance": [0.4, 0.3, 0.6, 0.35]})
    ax = plot_frontier(table)
    curves = {text.get_text() for text in ax.get_legend().get_texts()}
    assert curves == {"A", "B"} and ax.get_xscale() == "log"
    (a_line, *_), (b_line, *_) = ax.containers[0], ax.containers[1]
    np.testing.assert_array_equal(a_line.get_xdata(), [1.0, 2.0])
    np.testing.assert_array_equal(b_line.get_ydata(), [0.3, 0.35])
