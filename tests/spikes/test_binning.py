"""SpikeBinner: exact binning, quality control, normalisation, Pipeline and CV."""

import math
import pickle
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_mini import SpikeBinner, SpikeSAE, SpikeTrains
from sklearn_mini.spikes.quality import count_isi_violations, isi_violation_ratio

from ..conftest import simulated_spikes


def D(x):
    return Fraction(repr(float(x)))


def reference_counts(times, units, n_units, t_start, t_stop, bin_size):
    """Counts by exact rational arithmetic on the decimals the numbers print as."""
    a, b, w = D(t_start), D(t_stop), D(bin_size)
    n = math.ceil((b - a) / w)
    out = np.zeros((n, n_units), dtype=np.int64)
    for t, u in zip(times, units):
        tr = D(t)
        if a <= tr < b:
            out[math.floor((tr - a) / w), int(u)] += 1
    return out


# ----------------------------------------------------------------------- exact binning
def test_spike_on_a_floating_point_edge_lands_in_the_right_bin():
    spikes = np.array([[0.15, 0], [0.3, 0], [0.0, 1], [0.05, 1], [0.1, 1], [0.35, 1]])
    binner = SpikeBinner(bin_size=0.05, min_rate=0, normalize=None)
    X = binner.fit_transform(spikes)
    assert binner.bin_times(spikes)[0] == 0.0  # rows are bins 0, 1, 2, ... of the grid
    assert 0.15 / 0.05 < 3  # the floating-point trap this test is about
    assert X[3, 0] == 1 and X[2, 0] == 0  # 0.15 s -> bin 3
    assert X[6, 0] == 1 and X[5, 0] == 0  # 0.30 s -> bin 6
    assert X[1, 1] == 1 and X[2, 1] == 1 and X[7, 1] == 1


@settings(max_examples=60, deadline=None)
@given(
    bin_ms=st.integers(1, 250),
    start_ms=st.integers(0, 5000),
    n_bins=st.integers(1, 60),
    edge_hits=st.lists(st.integers(0, 60), max_size=30),
    uniform=st.lists(st.floats(0, 1, allow_nan=False), max_size=60),
    seed=st.integers(0, 2 ** 16),
)
def test_binning_matches_exact_rational_reference(bin_ms, start_ms, n_bins, edge_hits, uniform,
                                                  seed):
    w, t0 = bin_ms / 1000, start_ms / 1000
    t1 = float(D(t0) + n_bins * D(w))
    # Spikes exactly on bin edges (the float nearest the exact edge) and anywhere inside.
    times = [float(D(t0) + i * D(w)) for i in edge_hits if i <= n_bins]
    times += [t0 + u * (t1 - t0) for u in uniform]
    times = np.array(times + [t0], dtype=np.float64)
    units = np.random.default_rng(seed).integers(0, 3, size=times.size)
    spikes = SpikeTrains(times, units, t_start=t0, t_stop=t1, unit_ids=[0, 1, 2])
    binner = SpikeBinner(bin_size=w, t_start=t0, t_stop=t1, min_rate=0, normalize=None,
                         dtype="float64")
    got = binner.fit(spikes).transform(spikes)
    expected = reference_counts(times, units, 3, t0, t1, w)
    np.testing.assert_array_equal(got, expected)
    inside = np.sum([(D(t0) <= D(t) < D(t1)) for t in times])
    assert got.sum() == inside  # total count conserved inside [t_start, t_stop)


def test_count_conserved_with_partial_last_bin():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 10.03, 5000))
    spikes = SpikeTrains(times, rng.integers(0, 4, 5000), t_start=0.0, t_stop=10.03)
    X = SpikeBinner(bin_size=0.05, min_rate=0, normalize=None).fit_transform(spikes)
    assert X.shape == (201, 4) and X.sum() == 5000


def test_bin_times_and_feature_names():
    spikes = np.array([[0.12, 3], [0.31, 7], [0.45, 3]])
    binner = SpikeBinner(bin_size=0.1, min_rate=0).fit(spikes)
    np.testing.assert_allclose(binner.bin_times(spikes), [0.1, 0.2, 0.3, 0.4])
    assert list(binner.get_feature_names_out()) == ["unit_3", "unit_7"]


# ----------------------------------------------------------------------- QC
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.05), st.integers(0, 4)), max_size=60),
       st.integers(5, 7), st.sampled_from([1, 2, 3, 7, 1 << 16]))
def test_isi_violations_count_each_units_consecutive_intervals(spikes, n_units, block):
    # Small blocks put a unit's consecutive spikes in different blocks, often several
    # blocks apart: the carried interval must be the same as within a block.
    times = np.array([t for t, _ in spikes], dtype=np.float64)
    codes = np.array([u for _, u in spikes], dtype=np.int64)
    order = np.argsort(times, kind="stable")
    times, codes = times[order], codes[order]
    expected = [int(np.sum((np.diff(times[codes == u]) < 0.002)
                           & (np.diff(times[codes == u]) >= 0.0005))) for u in range(n_units)]
    got = count_isi_violations(times, codes, n_units, 0.002, 0.0005, block=block)
    assert got.tolist() == expected


@pytest.mark.parametrize("params", [{}, {"normalize": "zscore"}, {"normalize": None},
                                    {"normalize": "global_max"}, {"dtype": "float64"},
                                    {"normalize": "global_max", "sparse_output": True}])
def test_fit_transform_is_fit_then_transform(params):
    spikes = simulated_spikes(n_units=12, duration=30.0)
    binner = SpikeBinner(min_rate=0, **params)
    once = binner.fit_transform(spikes)
    twice = clone(binner).fit(spikes).transform(spikes)
    if params.get("sparse_output"):
        once, twice = once.toarray(), twice.toarray()
    np.testing.assert_array_equal(once, twice)
    assert once.dtype == twice.dtype == np.dtype(params.get("dtype", "float32"))
    np.testing.assert_array_equal(binner.scale_, clone(binner).fit(spikes).scale_)


def test_isi_violation_ratio_hand_value():
    # V=4 violations, N=100 spikes, T=200 s, 2 ms refractory, no censored period:
    # 4 * 200 / (2 * 100**2 * 0.002) = 800 / 40 = 20
    assert isi_violation_ratio(4, 100, 200.0, 0.002) == pytest.approx(20.0)
    # with min_isi = 0.5 ms: window 1.5 ms -> 800 / 30
    assert isi_violation_ratio(4, 100, 200.0, 0.002, 0.0005) == pytest.approx(800 / 30)
    assert isi_violation_ratio(3, 1, 200.0, 0.002) == 0.0


def _qc_recording():
    rng = np.random.default_rng(1)
    T = 200.0
    clean = np.sort(rng.uniform(0, T, 2000))
    clean = clean[np.r_[True, np.diff(clean) > 0.003]]          # refractory, ~10 Hz
    dirty = np.sort(rng.uniform(0, T, 2000))
    dirty = np.sort(np.r_[dirty, dirty[:300] + 0.0005])         # 300 injected 0.5 ms ISIs
    slow = np.sort(rng.uniform(0, T, 40))                       # 0.2 Hz
    times = np.r_[clean, dirty, slow]
    units = np.r_[np.zeros(clean.size), np.ones(dirty.size), np.full(slow.size, 2)]
    info = {"label": np.array(["good", "mua", "good"], dtype=object)}
    return SpikeTrains(times, units, t_start=0.0, t_stop=T, unit_ids=[0, 1, 2], unit_info=info)


def test_refractory_violations_unit_dropped():
    spikes = _qc_recording()
    binner = SpikeBinner(min_rate=0, max_isi_violations=0.1).fit(spikes)
    assert list(binner.unit_ids_) == [0, 2]
    assert binner.qc_["isi_violations"][1] > 0.1 >= binner.qc_["isi_violations"][0]
    assert "ISI" in binner.qc_["reason"][1]


def test_slow_unit_dropped_by_min_rate():
    binner = SpikeBinner(min_rate=0.5).fit(_qc_recording())
    assert 2 not in binner.unit_ids_
    assert binner.qc_["firing_rate"][2] == pytest.approx(0.2)
    np.testing.assert_allclose(binner.firing_rates_, binner.qc_["firing_rate"][:2])


def test_label_filter():
    binner = SpikeBinner(min_rate=0, unit_labels=("good",)).fit(_qc_recording())
    assert list(binner.unit_ids_) == [0, 2]
    with pytest.raises(ValueError, match="'quality' column"):
        SpikeBinner(unit_labels=("good",), label_column="quality").fit(_qc_recording())


def test_no_unit_left_is_a_clear_error():
    with pytest.raises(ValueError, match="kept no unit"):
        SpikeBinner(min_rate=1000).fit(_qc_recording())


# ----------------------------------------------------------------------- normalisation
def test_normalisation_learned_on_train_only():
    train = np.array([[0.01, 0], [0.02, 0], [0.03, 0], [0.01, 1], [0.11, 1]])
    test = np.array([[10.01, 0], [10.02, 0], [10.03, 0], [10.04, 0], [10.05, 0], [10.01, 1]])
    binner = SpikeBinner(bin_size=0.1, min_rate=0).fit(train)
    np.testing.assert_array_equal(binner.scale_, [3.0, 1.0])  # max count per unit in train
    Xt = binner.transform(test)
    assert Xt[0, 0] == pytest.approx(5 / 3)  # test counts use the training scale
    z = SpikeBinner(bin_size=0.1, min_rate=0, normalize="zscore").fit(train)
    np.testing.assert_allclose(z.mean_, [1.5, 1.0])
    g = SpikeBinner(bin_size=0.1, min_rate=0, normalize="global_max").fit(train)
    np.testing.assert_array_equal(g.scale_, [3.0, 3.0])


def test_units_unseen_in_fit_dropped_and_absent_units_zero():
    binner = SpikeBinner(bin_size=0.1, min_rate=0).fit(np.array([[0.0, 1], [0.05, 2]]))
    Xt = binner.transform(np.array([[0.0, 1], [0.01, 9], [0.15, 1]]))
    assert Xt.shape == (2, 2)
    assert Xt[:, 1].sum() == 0 and Xt[:, 0].sum() == 2


def test_sparse_output_and_dtype():
    import scipy.sparse as sp

    spikes = simulated_spikes(duration=10.0)
    dense = SpikeBinner().fit_transform(spikes)
    sparse = SpikeBinner(sparse_output=True).fit_transform(spikes)
    assert sp.issparse(sparse) and dense.dtype == np.float32
    np.testing.assert_allclose(sparse.toarray(), dense)
    with pytest.raises(ValueError, match="zscore"):
        SpikeBinner(sparse_output=True, normalize="zscore").fit(spikes)


def test_inverse_transform_gives_spikes_at_bin_centres():
    spikes = np.array([[0.01, 0], [0.02, 0], [0.13, 1], [0.25, 0]])
    binner = SpikeBinner(bin_size=0.1, min_rate=0).fit(spikes)
    back = binner.inverse_transform(binner.transform(spikes) + 0.1)  # rounding undoes noise
    assert isinstance(back, SpikeTrains)
    np.testing.assert_allclose(back.spike_times(0), [0.05, 0.05, 0.25])
    np.testing.assert_allclose(back.spike_times(1), [0.15])
    neg = binner.inverse_transform(-np.ones((3, 2)))
    assert neg.n_spikes == 0


# ----------------------------------------------------------------------- inputs
def test_all_input_forms_give_the_same_counts():
    pd = pytest.importorskip("pandas", reason="pandas is part of the 'test' extra")
    arr = simulated_spikes(n_units=5, duration=5.0)
    b = SpikeBinner(min_rate=0, normalize=None, t_start=0.0, t_stop=5.0)
    ref = b.fit_transform(arr)
    frame = pd.DataFrame({"time": arr[:, 0], "unit": arr[:, 1].astype(int)})
    per_unit = {u: arr[arr[:, 1] == u, 0] for u in range(5)}
    as_list = [per_unit[u] for u in range(5)]
    ms = arr.copy()
    ms[:, 0] *= 1000
    for data, kwargs in [(frame, {}), (per_unit, {}), (as_list, {}), (ms, {"time_unit": "ms"}),
                         (SpikeTrains(arr[:, 0], arr[:, 1]), {})]:
        got = clone(b).set_params(**kwargs).fit_transform(data)
        np.testing.assert_array_equal(got, ref)
    samples = arr.copy()
    samples[:, 0] = np.round(samples[:, 0] * 30000)
    got = clone(b).set_params(time_unit="samples", sampling_rate=30000).fit_transform(samples)
    assert got.sum() == ref.sum()


def test_unsorted_times_are_accepted():
    arr = simulated_spikes(n_units=5, duration=5.0)
    shuffled = arr[np.random.default_rng(0).permutation(len(arr))]
    b = SpikeBinner(min_rate=0, normalize=None)
    np.testing.assert_array_equal(b.fit_transform(shuffled), b.fit_transform(arr))


@pytest.mark.parametrize("data, match", [
    (np.array([[np.nan, 1.0], [0.5, 1.0]]), "NaN"),
    (np.array([[-0.1, 1.0], [0.5, 1.0]]), "non-negative"),
    (np.array([[0.1, 1.5], [0.5, 1.0]]), "integers or strings"),
    (np.array([[0.1, 1.0, 2.0]]), r"\(n_spikes, 2\)"),
    (np.array([["a", "b"]]), "must be spike times"),
])
def test_bad_spike_input(data, match):
    with pytest.raises(ValueError, match=match):
        SpikeBinner().fit(data)


def test_bad_unit_id_type_in_container():
    with pytest.raises(ValueError, match="integers or strings"):
        SpikeTrains([0.1, 0.2], [True, False])


@pytest.mark.parametrize("params, match", [
    ({"bin_size": 0}, "bin_size"), ({"bin_size": -0.1}, "bin_size"),
    ({"t_start": 2.0, "t_stop": 1.0}, "t_stop"), ({"normalize": "l2"}, "normalize"),
    ({"time_unit": "samples"}, "sampling_rate"),
])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SpikeBinner(**params).fit(simulated_spikes(n_units=3, duration=3.0))


def test_t_stop_before_t_start_in_container():
    with pytest.raises(ValueError, match="t_stop"):
        SpikeTrains([0.1], [0], t_start=1.0, t_stop=0.5)


def test_input_not_modified():
    arr = simulated_spikes(n_units=5, duration=5.0)
    before = arr.copy()
    b = SpikeBinner().fit(arr)
    b.transform(arr)
    np.testing.assert_array_equal(arr, before)


# ----------------------------------------------------------------------- sklearn conventions
def test_sklearn_conventions():
    arr = simulated_spikes(n_units=8, duration=20.0)
    b = SpikeBinner(bin_size=0.02, min_rate=1.0)
    assert clone(b).get_params() == b.get_params()
    assert b.fit(arr) is b
    first = b.transform(arr)
    np.testing.assert_array_equal(b.fit(arr).transform(arr), first)  # idempotent
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(b)).transform(arr), first)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SpikeBinner().transform(arr)
    assert not hasattr(SpikeBinner(), "unit_ids_")


def test_pandas_output():
    pd = pytest.importorskip("pandas", reason="pandas is part of the 'test' extra")
    arr = simulated_spikes(n_units=4, duration=5.0)
    binner = SpikeBinner(min_rate=0).set_output(transform="pandas")
    out = binner.fit_transform(arr)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == [f"unit_{i}" for i in range(4)]
    # Issue 22 friction: rows were indexed 0..n-1; they are indexed by bin start (s).
    assert out.index.name == "bin_start"
    np.testing.assert_array_equal(out.index, binner.bin_times(arr))
    np.testing.assert_array_equal(binner.transform(arr).index, out.index)
    np.testing.assert_array_equal(out.to_numpy(), SpikeBinner(min_rate=0).fit_transform(arr))
    pipe = make_pipeline(SpikeBinner(min_rate=0, bin_size=0.1),
                         SpikeSAE(d_sae=8, topk=2, n_epochs=2, random_state=0))
    Z = pipe.set_output(transform="pandas").fit(arr).transform(arr)
    np.testing.assert_array_equal(Z.index, pipe[0].bin_times(arr))  # through the SAE


# ----------------------------------------------------------------------- CV on raw spikes
def test_container_indexing_leaves_gaps_for_held_out_blocks():
    spikes = SpikeTrains(*simulated_spikes(n_units=6, duration=30.0).T, t_start=0.0, t_stop=30.0)
    train, test = next(iter(KFold(3).split(np.zeros(len(spikes)))))  # test = first block
    tr, te = spikes[train], spikes[test]
    assert te.intervals.shape == (1, 2) and tr.intervals.shape == (1, 2)
    assert te.intervals[0, 0] == 0.0 and te.intervals[0, 1] == tr.intervals[0, 0]
    train, test = list(KFold(3).split(np.zeros(len(spikes))))[1]  # middle block held out
    tr = spikes[train]
    assert tr.intervals.shape == (2, 2)  # two stretches, no fake silence in between
    assert tr.duration + spikes[test].duration == pytest.approx(30.0)
    assert tr.n_spikes + spikes[test].n_spikes == spikes.n_spikes


def test_pipeline_on_raw_spikes():
    spikes = simulated_spikes(n_units=30, duration=120.0)
    train, test = spikes[spikes[:, 0] < 84], spikes[spikes[:, 0] >= 84]
    pipe = make_pipeline(SpikeBinner(bin_size=0.05), SpikeSAE(topk=4, d_sae=32, n_epochs=30,
                                                            random_state=0))
    pipe.fit(train)
    Z = pipe.transform(test)
    assert Z.shape == (pipe[0].transform(test).shape[0], 32)
    back = pipe.inverse_transform(Z)
    assert isinstance(back, SpikeTrains) and back.n_units == len(pipe[0].unit_ids_)
    assert pipe.score(test) > 0.1
    assert list(pipe.get_feature_names_out()[:2]) == ["spikesae0", "spikesae1"]


def test_grid_search_over_bin_size_and_topk_on_contiguous_blocks():
    spikes = SpikeTrains(*simulated_spikes(n_units=30, duration=90.0).T, t_start=0.0, t_stop=90.0)
    pipe = make_pipeline(SpikeBinner(), SpikeSAE(d_sae=32, n_epochs=10, random_state=0))
    grid = {"spikebinner__bin_size": [0.02, 0.05], "spikesae__topk": [4, 8]}
    search = GridSearchCV(pipe, grid, cv=KFold(3)).fit(spikes)
    assert set(search.best_params_) == set(grid)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # The plain (n_spikes, 2) array works too (its folds are blocks of time as well).
    GridSearchCV(pipe, {"spikesae__topk": [4]}, cv=KFold(2)).fit(simulated_spikes(duration=30.0))


def test_unit_codes_never_alias_the_callers_array():
    units = np.array([0, 1, 2, 1, 0])  # ids 0..n-1: the codes equal them
    spikes = SpikeTrains(np.linspace(0.0, 1.0, 5), units)
    assert not np.shares_memory(spikes.codes, units)
    np.testing.assert_array_equal(spikes.codes, units)


@pytest.mark.parametrize("empty", [np.zeros((0, 2)), (np.zeros(0), np.zeros(0, int))])
def test_empty_spike_table_says_there_are_no_spikes(empty):
    # It used to say "t_stop (0.0) must be greater than t_start (0.0)".
    with pytest.raises(ValueError, match="No spikes in the input"):
        SpikeBinner().fit_transform(empty)


def test_no_spikes_within_a_given_span_is_a_valid_empty_recording():
    spikes = SpikeTrains(np.zeros(0), np.zeros(0, int), t_start=0.0, t_stop=10.0)
    assert spikes.n_spikes == 0 and spikes.t_stop == 10.0


def test_an_output_too_big_is_refused_before_anything_is_allocated():
    # Issue 22 bug 6: bin_size=1e-7 over 100 s tried to build 1e9 bins (20 GB) silently.
    spikes = SpikeTrains([0.5, 50.0, 99.0, 99.5], [0, 1, 2, 3], t_start=0.0, t_stop=100.0)
    with pytest.raises(ValueError, match=r"1,000,000,000 x 4 float32 matrix, about 40 GB"):
        SpikeBinner(bin_size=1e-7, min_rate=0).fit(spikes)
    with pytest.raises(ValueError, match=r"1,000,000,000 bins, about 24 GB"):
        SpikeBinner(bin_size=1e-7, min_rate=0, sparse_output=True).fit(spikes)
    # Hand count at the limit: 100 bins x (4 units x 4 bytes + 24 bytes of edges,
    # starts and row pointers) = 4000 bytes.
    at_limit = SpikeBinner(bin_size=1.0, min_rate=0, max_bytes=4000)
    assert at_limit.fit_transform(spikes).shape == (100, 4)
    with pytest.raises(ValueError, match="max_bytes"):
        SpikeBinner(bin_size=1.0, min_rate=0, max_bytes=3999).fit(spikes)
    fitted = SpikeBinner(bin_size=1.0, min_rate=0).fit(spikes)
    with pytest.raises(ValueError, match="larger bin_size"):  # transform checks too
        fitted.set_params(bin_size=1e-7).transform(spikes)
    assert SpikeBinner(bin_size=1.0, min_rate=0, max_bytes=None).fit(spikes).scale_.size == 4


def test_quality_control_says_what_it_dropped_and_why(capsys):
    # Issue 22 friction: min_rate dropped 122 of 193 retinal-wave units without a word.
    from sklearn_mini.binning import qc_summary

    pairs = np.arange(10.0)[:, None] + [0.0, 0.0005]  # 2 Hz, every other ISI 0.5 ms
    times = np.r_[np.linspace(0, 9.9, 100), np.linspace(0, 9.9, 50), [5.0], pairs.ravel()]
    units = np.r_[np.zeros(100), np.ones(50), [2], np.full(20, 3)].astype(int)
    spikes = SpikeTrains(times, units, t_start=0.0, t_stop=10.0)
    binner = SpikeBinner(min_rate=0.5, max_isi_violations=0.5, verbose=1).fit(spikes)
    line = capsys.readouterr().out.strip()
    # Unit 2: 1 spike in 10 s (0.1 Hz); unit 3 fires fast enough but violates.
    assert line == ("Unit QC kept 2 of 4 units; dropped 2 (ISI violations > 0.5: 1, "
                    "firing rate < 0.5 Hz: 1).")
    assert line == qc_summary(binner.qc_)
    SpikeBinner(min_rate=0.0).fit(spikes)
    assert capsys.readouterr().out == ""  # verbose=0 is silent
    assert qc_summary(SpikeBinner(min_rate=0.0).fit(spikes).qc_) == "Unit QC kept 4 of 4 units."
