"""Behaviour scoring (sklearn_mini.behaviour) and label files (sklearn_mini.io.read_labels):
every formula against hand-computed values."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sklearn_mini import SpikeSAE
from sklearn_mini.behaviour import (
    ablation_importance,
    align_labels,
    auroc,
    condition_matrix,
    decode_conditions,
    score_latents,
    spectral_fidelity,
)
from sklearn_mini.io import LabelTable, read_labels


def test_auroc_hand_values_with_ties():
    member = np.array([[1], [1], [0], [0]], dtype=bool)
    # (2 > 1), (2 > 0), (1 = 1: one half), (1 > 0): 3.5 of 4 pairs.
    assert auroc(np.array([[2.0], [1.0], [1.0], [0.0]]), member)[0, 0] == 0.875
    # Ties everywhere: 1 vs 1, 1 vs 0, 0 vs 1, 0 vs 0 -> (0.5 + 1 + 0 + 0.5) / 4.
    assert auroc(np.array([[1.0], [0.0], [1.0], [0.0]]), member)[0, 0] == 0.5
    # A condition covering every bin separates nothing.
    assert auroc(np.ones((4, 1)), np.ones((4, 1), bool))[0, 0] == 0.5


def test_auroc_agrees_with_scikit_learn_on_sparse_codes():
    rng = np.random.default_rng(0)
    Z = rng.exponential(size=(300, 4)) * (rng.random((300, 4)) < 0.3)
    member = rng.random((300, 2)) < 0.4
    ours = auroc(Z, member)
    for i in range(4):
        for c in range(2):
            assert ours[i, c] == pytest.approx(roc_auc_score(member[:, c], Z[:, i]), abs=1e-12)


def test_coverage_specificity_selectivity_by_hand():
    # Latent 0 is active on bins 0-3, latent 1 on bin 5, latent 2 never.
    Z = np.zeros((6, 3))
    Z[:4, 0] = 1.0
    Z[5, 1] = 2.0
    labels = np.array(["a", "a", "a", "b", "b", "c"])
    s = score_latents(Z, labels)
    assert list(s.conditions) == ["a", "b", "c"]
    assert s.n_bins.tolist() == [3, 2, 1]
    np.testing.assert_allclose(s.coverage[0], [1.0, 0.5, 0.0])  # 3/3, 1/2, 0/1
    np.testing.assert_allclose(s.specificity[0], [0.75, 0.25, 0.0])  # of its 4 active bins
    np.testing.assert_allclose(s.coverage[1], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(s.specificity[1], [0.0, 0.0, 1.0])
    # f_in / (f_in + best other): 1 / 1.5 for 'a'; 0.5 / 1.5 for 'b'.
    np.testing.assert_allclose(s.selectivity[0], [2 / 3, 1 / 3, 0.0])
    assert np.all(s.coverage[2] == 0) and np.all(s.specificity[2] == 0)
    assert np.all(s.auroc[2] == 0.5)


def test_an_event_label_is_one_condition_against_the_rest():
    z = np.array([[1.0], [2.0], [1.0], [0.0], [0.0], [0.0]])
    event = np.array([1, 1, 0, 1, 1, 0], dtype=bool)
    s = score_latents(z, event)
    assert s.conditions.tolist() == [True]
    assert s.coverage[0, 0] == 0.5 and s.specificity[0, 0] == pytest.approx(2 / 3)
    # Active on 2/4 event bins and 1/2 other bins: 0.5 / (0.5 + 0.5).
    assert s.selectivity[0, 0] == pytest.approx(0.5)
    never = score_latents(z, np.zeros(6, dtype=bool))
    assert never.coverage[0, 0] == 0 and never.selectivity[0, 0] == 0


def test_condition_matrix_splits_a_continuous_label_into_quantiles():
    member, names = condition_matrix(np.linspace(0, 1, 100), n_quantiles=4)
    assert names.tolist() == ["q0", "q1", "q2", "q3"]
    assert member.sum(0).tolist() == [25, 25, 25, 25]
    with pytest.raises(ValueError, match="one value per bin"):
        condition_matrix(np.zeros((3, 2)))


def test_scores_refuse_labels_of_another_length():
    with pytest.raises(ValueError, match="labels has 5 entries; Z has 6 rows"):
        score_latents(np.zeros((6, 2)), np.zeros(5, dtype=bool))


def test_decoders_report_balanced_accuracy_on_contiguous_folds():
    rng = np.random.default_rng(0)
    n = 600
    y = np.repeat(np.arange(3), n // 3)
    rng.shuffle(y)
    Z = np.zeros((n, 3))
    Z[:, 0] = (y == 1) * 1.0  # says class 1 or not
    Z[:, 1] = y.astype(float)  # says the class outright
    result = decode_conditions(Z, y)
    assert result.all == pytest.approx(1.0)
    assert result.single[1] == pytest.approx(1.0)
    # One binary latent tells one class from the other two: balanced accuracy 2/3.
    assert result.single[0] == pytest.approx(2 / 3, abs=0.02)
    assert result.single[2] == result.chance == pytest.approx(1 / 3)  # never active


def test_balanced_accuracy_sees_through_a_majority_class():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.1).astype(int)  # 90% class 0
    Z = rng.normal(size=(2000, 2))  # no information
    result = decode_conditions(Z, y, single=False)
    assert result.single is None
    # Always guessing 0 is 90% accurate; its balanced accuracy is chance.
    assert abs(result.all - 0.5) < 0.05


class _Identity:
    """A 'model' whose codes are the data: latent i is unit i."""

    def transform(self, X):
        return np.asarray(X, dtype=float)

    def inverse_transform(self, Z):
        return np.asarray(Z, dtype=float)


def test_ablation_importance_by_hand():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 2.0]])
    # SST = (1/9 + 4/9 + 1/9) + (4/9 + 4/9 + 16/9) = 10/3; the full model is exact, so a
    # latent's importance is the SSE without it over SST: 2 / (10/3) and 8 / (10/3).
    np.testing.assert_allclose(ablation_importance(_Identity(), X), [0.6, 2.4])


def test_ablation_importance_of_a_fitted_sae():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(400, 12)).astype(np.float32)
    sae = SpikeSAE(d_sae=24, topk=2, n_epochs=3, random_state=0).fit(X)
    importance = ablation_importance(sae, X)
    Z = sae.transform(X)
    assert importance.shape == (24,)
    assert np.all(importance[~(Z != 0).any(0)] == 0)
    # Each latent against a direct recomputation through inverse_transform.
    i = int(np.argmax(importance))
    without = Z.copy()
    without[:, i] = 0
    sst = np.sum((X - X.mean(0)) ** 2)
    direct = (np.sum((X - sae.inverse_transform(without)) ** 2)
              - np.sum((X - sae.inverse_transform(Z)) ** 2)) / sst
    assert importance[i] == pytest.approx(direct, rel=1e-4)


def test_spectral_fidelity_by_hand():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1024, 3))
    X[:, 2] = 1.0  # flat: no power in data or reconstruction
    assert np.allclose(spectral_fidelity(X, X, fs=20).fidelity, 1.0)
    # Half the amplitude: a quarter of the power at every frequency, 1 - 0.75 / 1.25.
    half = spectral_fidelity(X, 0.5 * X, fs=20)
    np.testing.assert_allclose(half.fidelity, [0.4, 0.4, 1.0])
    assert half.freqs[-1] == pytest.approx(10.0)  # Nyquist of 20 bins per second
    with pytest.raises(ValueError, match="same shape"):
        spectral_fidelity(X, X[:, :2], fs=20)
    with pytest.raises(ValueError, match="positive number"):
        spectral_fidelity(X, X, fs=0)


def test_align_trials_events_and_series_by_hand():
    starts = np.arange(6) * 0.5  # bins of 0.5 s: centres 0.25, 0.75, ..., 2.75
    trials = LabelTable("trials", [[0.5, 1.5], [2.0, 3.0]], {"image": np.array([7, 9])})
    image = align_labels(trials, starts, 0.5)["image"]
    assert image.valid.tolist() == [False, True, True, False, True, True]
    assert image.values[image.valid].tolist() == [7, 7, 9, 9]
    events = LabelTable("events", [0.1, 0.4, 1.6, 2.99],
                        {"event": np.array(["lick", "lick", "tone", "lick"])})
    aligned = align_labels(events, starts, 0.5)
    assert aligned["event lick"].values.tolist() == [True, False, False, False, False, True]
    assert aligned["event tone"].values.tolist() == [False, False, False, True, False, False]
    series = LabelTable("series", [0.0, 1.0, 2.0],
                        {"speed": np.array([0.0, 2.0, 4.0]), "state": np.array(["a", "b", "c"])})
    aligned = align_labels(series, starts, 0.5)
    np.testing.assert_allclose(aligned["speed"].values[:4], [0.5, 1.5, 2.5, 3.5])
    assert aligned["state"].values[:4].tolist() == ["a", "a", "b", "b"]
    assert aligned["speed"].valid.tolist() == [True] * 4 + [False] * 2  # past the last sample


def test_read_labels_tells_the_layout_from_the_columns(tmp_path):
    trials = tmp_path / "trials.csv"
    trials.write_text("Start,Stop,image\n0.0,0.3,a\n0.5,0.8,b\n")
    table = read_labels(trials)
    assert table.kind == "trials" and table.columns["image"].tolist() == ["a", "b"]
    events = tmp_path / "events.npz"
    np.savez(events, time=[0.1, 0.2], event=np.array(["lick", "tone"]))
    assert read_labels(events).kind == "events"
    series = tmp_path / "speed.csv"
    series.write_text("time,speed\n0,1.5\n1,2.5\n")
    assert read_labels(series).kind == "series"
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n0,1\n")
    with pytest.raises(ValueError, match="expected a 'time' column"):
        read_labels(bad)
    text = tmp_path / "text_time.csv"
    text.write_text("time,speed\nnoon,1\n")
    with pytest.raises(ValueError, match="not numeric"):
        read_labels(text)
    with pytest.raises(ValueError, match="stop is not after its start"):
        LabelTable("trials", [[1.0, 0.5]], {"image": np.array([1])})
    with pytest.raises(FileNotFoundError):
        read_labels(tmp_path / "missing.csv")
