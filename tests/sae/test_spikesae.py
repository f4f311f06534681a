"""Behaviour of the SpikeSAE estimator."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_mini import SpikeSAE, load
from sklearn_mini.datasets import make_sparse_counts, match_atoms

from ..conftest import fast_sae_params


@pytest.fixture(scope="module")
def counts():
    X, truth = make_sparse_counts(n_samples=600, n_features=20, n_atoms=10, n_active=2,
                                  random_state=0)
    return X, truth


@pytest.fixture(scope="module")
def fitted(counts):
    X, _ = counts
    return SpikeSAE(**fast_sae_params(topk=3, n_epochs=10)).fit(X)


# ----------------------------------------------------------------------- API basics
def test_fitted_attributes(fitted, counts):
    X, _ = counts
    assert fitted.components_.shape == (16, 20)
    assert np.allclose(np.linalg.norm(fitted.components_, axis=1), 1.0, atol=1e-5)
    assert fitted.n_features_in_ == 20
    assert fitted.d_sae_ == 16
    assert len(fitted.loss_curve_) == fitted.n_iter_ == 10
    assert fitted.n_steps_ == 10 * int(np.ceil(600 / 64))
    assert fitted.threshold_ is None  # TopK (the default) needs no calibrated threshold
    assert 0 <= fitted.dead_fraction_ <= 1
    assert len(fitted.dead_fraction_curve_) == fitted.n_iter_
    assert fitted.output_relu_ is False
    assert (fitted.components_ >= 0).all()  # positive_dict=True
    Z = fitted.transform(X)
    assert Z.shape == (600, 16) and (Z >= 0).all()
    assert fitted.inverse_transform(Z).shape == X.shape
    assert np.allclose(fitted.inverse_transform(Z), fitted.reconstruct(X))


def test_loss_curve_decreases(fitted):
    assert fitted.loss_curve_[-1] < fitted.loss_curve_[0]


def test_d_sae_auto_rule():
    X, _ = make_sparse_counts(n_samples=2000, n_features=10, n_atoms=5, random_state=0)
    # max(2 * topk, min(2 * n_features, n_samples // 10)) = max(8, min(20, 200)) = 20
    assert SpikeSAE(topk=4, n_epochs=1, random_state=0).fit(X).d_sae_ == 20
    # capped by n_samples // 10 = 15
    assert SpikeSAE(topk=4, n_epochs=1, random_state=0).fit(X[:150]).d_sae_ == 15
    # never below 2 * topk
    assert SpikeSAE(topk=4, n_epochs=1, random_state=0).fit(X[:30]).d_sae_ == 8


@pytest.mark.slow
def test_n_epochs_auto_guarantees_enough_steps():
    X, _ = make_sparse_counts(n_samples=3000, n_features=8, n_atoms=4, random_state=0)
    # The budget 'auto' plans (the convergence rule switched off to see all of it).
    sae = SpikeSAE(d_sae=8, topk=2, batch_size=100, n_iter_no_change=None,
                   random_state=0).fit(X)
    # 30 steps per epoch: at least 4000 steps -> ceil(4000 / 30) = 134 epochs
    assert sae.n_iter_ == 134 and sae.n_steps_ == 4020
    # ... but at most 1000 epochs: 3 steps per epoch stop at 3000 steps.
    short = SpikeSAE(d_sae=8, topk=2, batch_size=100, n_iter_no_change=None,
                     random_state=0).fit(X[:300])
    assert short.n_iter_ == 1000 and short.n_steps_ == 3000
    # With the rule the same fit may end earlier, never later.
    assert SpikeSAE(d_sae=8, topk=2, batch_size=100, random_state=0).fit(X).n_iter_ <= 134


def test_feature_names_and_pandas_output(fitted, counts):
    pd = pytest.importorskip("pandas", reason="pandas is part of the 'test' extra")
    X, _ = counts
    names = fitted.get_feature_names_out()
    assert list(names[:3]) == ["spikesae0", "spikesae1", "spikesae2"] and len(names) == 16
    est = clone(fitted).set_output(transform="pandas")
    frame = pd.DataFrame(X, columns=[f"unit{i}" for i in range(20)])
    Z = est.fit(frame).transform(frame)
    assert isinstance(Z, pd.DataFrame) and list(Z.columns) == list(names)
    assert list(est.feature_names_in_) == list(frame.columns)


def test_dtype_is_preserved(fitted, counts):
    X, _ = counts
    assert fitted.transform(X.astype(np.float32)).dtype == np.float32
    assert fitted.transform(X).dtype == np.float64
    assert fitted.transform(X.astype(np.int64)).dtype == np.float64


def test_verbose_shows_progress_bar_with_loss(counts, capsys):
    X, _ = counts
    SpikeSAE(**fast_sae_params(verbose=1)).fit(X)
    captured = capsys.readouterr()
    assert "SAE fit" in captured.err and "loss=" in captured.err
    assert "epoch 1/" not in captured.out + captured.err  # the per-epoch lines are level 2


def test_verbose_2_prints_one_line_per_epoch(counts, capsys):
    # Issue 22 friction: verbose=2 printed the same as verbose=1.
    X, _ = counts
    sae = SpikeSAE(**fast_sae_params(verbose=2, n_epochs=3, tol=0.0)).fit(X)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == sae.n_iter_ == 3
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {epoch}/3: loss {sae.loss_curve_[epoch - 1]:.5g}, "
                               f"not fired {sae.dead_fraction_curve_[epoch - 1]:.1%}, lr ")


# ----------------------------------------------------------------------- clone/pickle/CV
def test_clone_gives_unfitted_copy_with_same_params(fitted):
    c = clone(fitted)
    assert c.get_params() == fitted.get_params()
    assert not hasattr(c, "components_")


def test_pickle_round_trip_identical_transform(fitted, counts):
    X, _ = counts
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))
    assert again.score(X) == fitted.score(X)


def test_joblib_round_trip(fitted, counts, tmp_path):
    import joblib

    X, _ = counts
    joblib.dump(fitted, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))


def test_grid_search_without_y(counts):
    X, _ = counts
    search = GridSearchCV(SpikeSAE(**fast_sae_params(n_epochs=30)), {"topk": [2, 4]},
                          cv=KFold(3))
    search.fit(X)
    assert search.best_params_["topk"] in (2, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # With twice the latents per bin the reconstruction is better.
    scores = dict(zip(search.cv_results_["param_topk"], search.cv_results_["mean_test_score"]))
    assert scores[4] > scores[2]


def test_same_random_state_bit_identical_on_cpu(counts):
    X, _ = counts
    a = SpikeSAE(**fast_sae_params(random_state=7)).fit(X)
    b = SpikeSAE(**fast_sae_params(random_state=7)).fit(X)
    c = SpikeSAE(**fast_sae_params(random_state=8)).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.threshold_ == b.threshold_ and a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.components_, c.components_)


def test_no_global_rng_is_touched(counts):
    X, _ = counts
    torch.manual_seed(123)
    np.random.seed(123)
    expected_t, expected_n = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    SpikeSAE(**fast_sae_params(random_state=0)).fit(X)
    np.testing.assert_array_equal(torch.rand(3), expected_t)
    np.testing.assert_array_equal(np.random.rand(3), expected_n)


# ----------------------------------------------------------------------- BatchTopK inference
def test_transform_of_a_row_does_not_depend_on_other_rows(fitted, counts):
    X, _ = counts
    Z = fitted.transform(X)
    for i in (0, 17, 599):
        np.testing.assert_array_equal(fitted.transform(X[i:i + 1]), Z[i:i + 1])
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(fitted.transform(X[order]), Z[order])
    np.testing.assert_array_equal(fitted.transform(np.vstack([X[:5], X[:5] * 3]))[:5], Z[:5])


@pytest.mark.parametrize("topk", [2, 5])
def test_threshold_calibration_mean_l0_equals_topk(topk):
    X, _ = make_sparse_counts(n_samples=3000, n_features=32, n_atoms=16, n_active=3,
                              random_state=1)
    sae = SpikeSAE(d_sae=64, topk=topk, n_epochs=5, random_state=0).fit(X)
    l0 = np.count_nonzero(sae.transform(X), axis=1).mean()
    assert abs(l0 - topk) <= 0.05 * topk
    assert sae.mean_l0_ == pytest.approx(l0)


def test_partial_fit_continues_training(counts):
    X, _ = counts
    sae = SpikeSAE(**fast_sae_params())
    sae.partial_fit(X[:300])
    steps = sae.n_steps_
    sae.partial_fit(X[300:])
    assert sae.n_iter_ == 2 and sae.n_steps_ > steps and len(sae.loss_curve_) == 2
    assert np.isfinite(sae.transform(X)).all()
    with pytest.raises(ValueError, match="features"):
        sae.partial_fit(X[:, :5])


def test_partial_fit_after_pickle(fitted, counts):
    X, _ = counts
    again = pickle.loads(pickle.dumps(fitted))
    again.partial_fit(X)
    assert again.n_iter_ == fitted.n_iter_ + 1


# ----------------------------------------------------------------------- recovery
@pytest.mark.slow
@pytest.mark.parametrize("sparsity", ["batchtopk", "topk"])
def test_recovers_planted_dictionary(sparsity):
    X, truth = make_sparse_counts(n_samples=5000, n_features=64, n_atoms=32, n_active=3,
                                  noise=None, random_state=0)
    sae = SpikeSAE(d_sae=64, topk=3, sparsity=sparsity, random_state=0).fit(X)
    best = match_atoms(sae.components_, truth.dictionary)
    assert np.mean(best >= 0.9) >= 0.9, np.sort(best)
    if sparsity == "topk":
        l0 = np.count_nonzero(sae.transform(X), axis=1)
        assert (l0 == 3).all()


# ----------------------------------------------------------------------- persistence
def test_save_load_round_trip(fitted, counts, tmp_path):
    X, _ = counts
    path = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    for loaded in (SpikeSAE.load(path), load(path)):
        np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
        np.testing.assert_array_equal(loaded.components_, fitted.components_)
        assert loaded.get_params() == fitted.get_params()
        assert loaded.threshold_ == fitted.threshold_
        assert loaded.score(X) == fitted.score(X)
    loaded.partial_fit(X)  # continues from a fresh optimiser
    assert loaded.n_iter_ == fitted.n_iter_ + 1


def test_load_rejects_tampered_files(fitted, tmp_path):
    import json

    path = fitted.save(tmp_path / "model")
    config = json.loads((path / "config.json").read_text())
    config["fitted"]["module"]["d_sae"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="shape"):
        SpikeSAE.load(path)
    config["schema_version"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="schema_version"):
        SpikeSAE.load(path)
    config["schema_version"] = 1
    config["fitted"]["module"]["d_sae"] = fitted.d_sae_
    (path / "config.json").write_text(json.dumps(config))
    whole = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(whole[: len(whole) // 2])  # truncated
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        SpikeSAE.load(path)
    (path / "model.safetensors").write_bytes(pickle.dumps({"evil": 1}))
    with pytest.raises(ValueError, match="safetensors"):
        SpikeSAE.load(path)
    (path / "model.safetensors").write_bytes(whole)
    assert SpikeSAE.load(path).d_sae_ == fitted.d_sae_  # the untouched file still loads


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinity"),
    (np.array([[1.0, -1.0], [0.0, 1.0]]), "Negative values"),
    (np.array([1.0, 2.0, 3.0]), "2D array"),
    (np.zeros((0, 3)), "0 sample"),
    (np.zeros((3, 0)), "0 feature"),
    (np.array([["a", "b"], ["c", "d"]]), "could not convert|numeric"),
])
def test_bad_input_to_fit_raises_clear_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        SpikeSAE(**fast_sae_params()).fit(bad)


def test_n_features_mismatch_at_transform(fitted, counts):
    X, _ = counts
    with pytest.raises(ValueError, match="20 features"):
        fitted.transform(X[:, :5])
    with pytest.raises(ValueError, match="d_sae_=16"):
        fitted.inverse_transform(np.zeros((2, 7)))


def test_topk_larger_than_d_sae():
    X = np.random.default_rng(0).poisson(1.0, size=(50, 4)).astype(float)
    with pytest.raises(ValueError, match="topk=9 is larger"):
        SpikeSAE(d_sae=8, topk=9).fit(X)
    with pytest.raises(ValueError, match="topk=9 is larger"):
        SpikeSAE(d_sae=8, topk=9, sparsity="batchtopk").fit(X)


@pytest.mark.parametrize("sparsity", ["relu", "jumprelu", "gated"])
def test_sparsities_without_topk_ignore_it(sparsity):
    # Issue 20: the guard was `sparsity != "relu"`, so gated and jumprelu, which never
    # read topk, refused a topk above d_sae.
    X = np.random.default_rng(0).poisson(1.0, size=(50, 4)).astype(float)
    sae = SpikeSAE(d_sae=2, topk=8, sparsity=sparsity, n_epochs=1, random_state=0).fit(X)
    assert sae.transform(X).shape == (50, 2)


@pytest.mark.parametrize("param, value", [
    ("sparsity", "jumpy"), ("loss", "l2"), ("optimizer", "sgd"), ("lr_schedule", "step"),
    ("device", "tpu"), ("dtype", "float16"), ("decoder_bias_init", "median"),
    ("lr", -1.0), ("topk", 0), ("d_sae", "big"), ("n_epochs", 0),
])
def test_unknown_options_raise_value_error(param, value):
    X = np.ones((10, 3))
    with pytest.raises(ValueError, match=param):
        SpikeSAE(**{param: value}).fit(X)


def test_cuda_requested_without_gpu_is_clear(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda'"):
        SpikeSAE(device="cuda").fit(np.ones((10, 3)))


def test_inputs_are_never_modified(counts):
    X, _ = counts
    X = X.copy()
    X_before = X.copy()
    sae = SpikeSAE(**fast_sae_params()).fit(X)
    Z = sae.transform(X)
    Z_before = Z.copy()
    sae.inverse_transform(Z)
    sae.score(X)
    sae.partial_fit(X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(Z, Z_before)


def test_negative_data_allowed_with_mse_and_output_relu_off():
    X = np.random.default_rng(0).normal(size=(200, 6))
    sae = SpikeSAE(**fast_sae_params(loss="mse")).fit(X)
    assert sae.output_relu_ is False
    assert (sae.reconstruct(X) < 0).any()


def test_sparse_input_matches_dense(fitted, counts):
    import scipy.sparse as sp

    X, _ = counts
    np.testing.assert_array_equal(fitted.transform(sp.csr_matrix(X)), fitted.transform(X))


def test_load_can_override_device(fitted, tmp_path):
    path = fitted.save(tmp_path / "model")
    assert load(path, device="cpu").device == "cpu"
    assert SpikeSAE.load(path).device == fitted.device


def test_held_out_rows_passed_to_fit_are_watched_without_changing_the_fit(counts):
    # Issue 22 friction: the report's training curve had no held-out curve. fit(X_val=)
    # scores held-out rows after every epoch; without early_stopping it decides nothing.
    X, _ = counts
    cut = 2 * len(X) // 3
    train, held_out = X[:cut], X[cut:]
    plain = SpikeSAE(**fast_sae_params(n_epochs=4)).fit(train)
    watched = SpikeSAE(**fast_sae_params(n_epochs=4)).fit(train, X_val=held_out)
    np.testing.assert_array_equal(watched.components_, plain.components_)
    assert plain.validation_scores_ is None and watched.n_iter_ == plain.n_iter_
    assert len(watched.validation_scores_) == watched.n_iter_
    # TopK codes are the same in training and at inference: the last score is score().
    assert watched.validation_scores_[-1] == pytest.approx(watched.score(held_out), abs=1e-6)
    assert watched.best_validation_score_ == max(watched.validation_scores_)
    with pytest.raises(ValueError, match="features"):
        SpikeSAE(**fast_sae_params()).fit(train, X_val=held_out[:, :3])


def test_training_curve_draws_the_watched_held_out_scores(counts):
    pytest.importorskip("matplotlib", reason="matplotlib is in the 'test' extra")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_mini import plotting

    X, _ = counts
    sae = SpikeSAE(**fast_sae_params(n_epochs=3)).fit(X[:-100], X_val=X[-100:])
    ax = plotting.plot_training_curve(sae, validation_label="held-out EV")
    (twin,) = [other for other in ax.figure.axes if other is not ax and other.get_lines()]
    np.testing.assert_array_equal(twin.get_lines()[0].get_ydata(), sae.validation_scores_)
    assert twin.get_ylabel() == "held-out EV"
