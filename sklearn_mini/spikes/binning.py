"""SpikeBinner: spike times -> binned, quality-controlled, normalised counts."""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_array, check_is_fitted

from ._binner_persistence import _BinnerSaveLoadMixin
from .container import TIME_UNITS, SpikeTrains
from .convert import as_spike_trains
from .grid import bin_edges, bin_spikes, column_stats, count_bins, dense_counts, grid_span
from .quality import count_isi_violations, isi_violation_ratio, qc_summary


def _gigabytes(n_bytes):
    return f"{n_bytes / 1e9:.3g} GB"


class SpikeBinner(_BinnerSaveLoadMixin, TransformerMixin, BaseEstimator):
    """Bin spike times into a (time bins x units) matrix, with unit QC and normalisation.

    ``fit`` chooses the units to keep (firing rate, refractory violations, labels) and
    learns a per-unit scale on the training spikes only; ``transform`` bins any spikes of
    the same recording (or a later block of it) with those units and that scale, so a
    Pipeline ``SpikeBinner -> SpikeSAE`` can be cross-validated on raw spikes.

    Parameters
    ----------
    bin_size : float, default=0.05
        Bin width in seconds. Bins are left-closed, ``[t0 + i w, t0 + (i + 1) w)`` on a
        grid anchored at ``t0 = t_start`` (0 when ``t_start`` is None), with ``t0``, ``w``
        and the spike times compared as the decimals they print as: a spike at 0.15 s with
        ``w = 0.05`` falls in bin 3 (in floating point ``0.15 / 0.05`` is 2.9999...).
        The rows returned are the grid bins overlapping the input's valid time; a bin cut
        by the start or end of the data counts only the spikes inside it.
    t_start, t_stop : float, default=None
        Crop the spikes to ``[t_start, t_stop)`` (seconds) in ``fit`` and ``transform``.
        ``None`` uses the span of the input (a :class:`~sklearn_mini.SpikeTrains`' own
        span, or the first and last spike of an array or table).
    min_rate : float, default=0.5
        Drop units firing below this rate (Hz) in the training spikes.
    max_isi_violations : float, default=None
        Drop units whose Hill et al. (2011) refractory violation ratio exceeds this
        (e.g. 0.1 or 0.5). ``None`` keeps all.
    isi_threshold : float, default=0.002
        Refractory period (s) for the violation count.
    min_isi : float, default=0.0
        Censored period (s): intervals shorter than this are not counted.
    unit_labels : tuple of str, default=None
        Keep only units whose ``label_column`` metadata is one of these (e.g.
        ``('good',)`` for Kilosort/Phy curation). ``None`` keeps all labels.
    label_column : str, default='label'
        Metadata column read by ``unit_labels``.
    normalize : {'max', 'global_max', 'zscore'} or None, default='max'
        Learned on the training bins: ``'max'`` divides each unit by its maximum count;
        ``'global_max'`` divides everything by the largest count of any unit;
        ``'zscore'`` subtracts each unit's mean and divides by its standard deviation
        (negative values: use ``loss='mse'`` downstream); ``None`` leaves counts.
    dtype : {'float32', 'float64'}, default='float32'
        Output dtype.
    sparse_output : bool, default=False
        Return a ``scipy.sparse.csr_matrix`` (not with ``normalize='zscore'``).
    time_unit : {'s', 'ms', 'us', 'samples'}, default='s'
        Unit of the times of array, table, dict or list input (containers, pynapple and
        neo objects carry their own).
    sampling_rate : float, default=None
        Samples per second, for ``time_unit='samples'``.
    max_bytes : float or None, default=8e9
        Refuse, before allocating anything, to bin into an output that would need more
        memory than this (the dense matrix plus the bins' edges; for sparse output the
        edges and row pointers only), with a message giving the size; a typo such as
        ``bin_size=1e-7`` would otherwise try to build a matrix of tens of GB. ``None``
        removes the limit.
    verbose : int, default=0
        ``1``: ``fit`` prints one line on unit quality control, how many units it kept
        and why the others were dropped (:func:`qc_summary`); ``0``: silent.

    Attributes
    ----------
    unit_ids_ : ndarray of shape (n_units_kept,)
        Units kept, in output column order.
    firing_rates_ : ndarray of shape (n_units_kept,)
        Their firing rates (Hz) in the training spikes.
    isi_violations_ : ndarray of shape (n_units_kept,)
        Their refractory violation ratios.
    scale_ : ndarray of shape (n_units_kept,)
        Divisor of every unit's counts (ones for ``normalize=None``).
    mean_ : ndarray of shape (n_units_kept,)
        Subtracted mean (zeros unless ``normalize='zscore'``).
    qc_ : dict of str to ndarray
        For every unit of the training spikes: ``unit_id``, ``firing_rate``,
        ``isi_violations``, ``kept`` and ``reason`` (why a unit was dropped).
    t_start_ : float
        Start of the first bin of the training spikes (used by ``inverse_transform``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mini import SpikeBinner
    >>> spikes = np.array([[0.01, 1], [0.15, 1], [0.16, 2], [0.30, 2], [0.31, 1]])
    >>> SpikeBinner(bin_size=0.1, min_rate=0, normalize=None).fit_transform(spikes)
    array([[1., 0.],
           [1., 1.],
           [0., 0.],
           [1., 1.]], dtype=float32)
    """

    _parameter_constraints: dict = {
        "bin_size": [Interval(Real, 0, None, closed="neither")],
        "t_start": [Interval(Real, 0, None, closed="left"), None],
        "t_stop": [Interval(Real, 0, None, closed="neither"), None],
        "min_rate": [Interval(Real, 0, None, closed="left")],
        "max_isi_violations": [Interval(Real, 0, None, closed="left"), None],
        "isi_threshold": [Interval(Real, 0, None, closed="neither")],
        "min_isi": [Interval(Real, 0, None, closed="left")],
        "unit_labels": [tuple, list, None],
        "label_column": [str],
        "normalize": [StrOptions({"max", "global_max", "zscore"}), None],
        "dtype": [StrOptions({"float32", "float64"})],
        "sparse_output": ["boolean"],
        "time_unit": [StrOptions(set(TIME_UNITS) | {"samples"})],
        "sampling_rate": [Interval(Real, 0, None, closed="neither"), None],
        "max_bytes": [Interval(Real, 0, None, closed="neither"), None],
        "verbose": ["verbose"],
    }

    def __init__(self, bin_size=0.05, *, t_start=None, t_stop=None, min_rate=0.5,
                 max_isi_violations=None, isi_threshold=0.002, min_isi=0.0, unit_labels=None,
                 label_column="label", normalize="max", dtype="float32", sparse_output=False,
                 time_unit="s", sampling_rate=None, max_bytes=8e9, verbose=0):
        self.bin_size = bin_size
        self.t_start = t_start
        self.t_stop = t_stop
        self.min_rate = min_rate
        self.max_isi_violations = max_isi_violations
        self.isi_threshold = isi_threshold
        self.min_isi = min_isi
        self.unit_labels = unit_labels
        self.label_column = label_column
        self.normalize = normalize
        self.dtype = dtype
        self.sparse_output = sparse_output
        self.time_unit = time_unit
        self.sampling_rate = sampling_rate
        self.max_bytes = max_bytes
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _spikes(self, X):
        spikes = as_spike_trains(X, time_unit=self.time_unit, sampling_rate=self.sampling_rate)
        if self.t_start is not None or self.t_stop is not None:
            start = spikes.t_start if self.t_start is None else self.t_start
            stop = spikes.t_stop if self.t_stop is None else self.t_stop
            if not stop > start:
                raise ValueError(f"t_stop ({stop}) must be greater than t_start ({start}).")
            spikes = spikes.restrict(start, stop)
        if spikes.n_spikes == 0:
            raise ValueError("No spikes in the input (after cropping to [t_start, t_stop)).")
        return spikes

    # ------------------------------------------------------------------ fit
    def _quality_control(self, spikes):
        n_per_unit = np.bincount(spikes.codes, minlength=spikes.n_units)
        duration = spikes.duration
        rates = n_per_unit / duration
        violations = isi_violation_ratio(
            count_isi_violations(spikes.times, spikes.codes, spikes.n_units,
                                 self.isi_threshold, self.min_isi),
            n_per_unit, duration, self.isi_threshold, self.min_isi)
        reason = np.full(spikes.n_units, "", dtype=object)
        reason[rates < self.min_rate] = f"firing rate < {self.min_rate} Hz"
        if self.max_isi_violations is not None:
            bad = (violations > self.max_isi_violations) & (reason == "")
            reason[bad] = f"ISI violations > {self.max_isi_violations}"
        if self.unit_labels is not None:
            if self.label_column not in spikes.unit_info:
                raise ValueError(
                    f"unit_labels={tuple(self.unit_labels)} needs a {self.label_column!r} column "
                    f"in the units' metadata; available: {sorted(spikes.unit_info)}."
                )
            labels = spikes.unit_info[self.label_column].astype(str)
            bad = ~np.isin(labels, [str(v) for v in self.unit_labels]) & (reason == "")
            reason[bad] = f"{self.label_column} not in {tuple(self.unit_labels)}"
        kept = reason == ""
        return rates, violations, kept, reason

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Choose units by quality control and learn the per-unit normalisation.

        Parameters
        ----------
        X : SpikeTrains, array of shape (n_spikes, 2), DataFrame, dict, list, TsGroup
            Training spikes (see :func:`sklearn_mini.spikes.as_spike_trains`).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted binner.
        """
        self._fit_spikes(self._spikes(X))
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit to ``X`` and bin it: ``fit(X).transform(X)``, converting and binning once.

        Parameters
        ----------
        X : SpikeTrains, array of shape (n_spikes, 2), DataFrame, dict, list, TsGroup
            Training spikes.
        y : None
            Ignored.

        Returns
        -------
        Xt : ndarray or csr_matrix of shape (n_bins, n_units_kept)
            Normalised counts of the kept units, as :meth:`transform` returns them.
        """
        spikes = self._spikes(X)
        if self.normalize == "zscore" or self.sparse_output:
            rows, cols, starts = self._fit_spikes(spikes)
            return self._indexed(self._counts(rows, cols, starts), starts)
        # Count once: the raw counts give the maxima, then are divided in place (the
        # same float64 division, cast once, as transform's).
        rows, cols, starts = self._fit_units(spikes)
        counts = dense_counts(rows, cols, starts.size, len(self.unit_ids_), np.dtype(self.dtype))
        self._learn_scale(counts.max(axis=0).astype(np.float64), None, None)
        if self.normalize is not None:
            np.divide(counts, self.scale_, out=counts, casting="unsafe")
        return self._indexed(counts, starts)

    def _fit_spikes(self, spikes):
        """Quality control and normalisation from ``spikes``; returns their binning."""
        rows, cols, starts = self._fit_units(spikes)
        self._learn_scale(*column_stats(rows, cols, starts.size, len(self.unit_ids_)))
        return rows, cols, starts

    def _fit_units(self, spikes):
        """Quality control of the units of ``spikes``; returns their binning."""
        if self.normalize == "zscore" and self.sparse_output:
            raise ValueError("normalize='zscore' makes zeros non-zero; it cannot be combined "
                             "with sparse_output=True.")
        rates, violations, kept, reason = self._quality_control(spikes)
        self.qc_ = {"unit_id": spikes.unit_ids, "firing_rate": rates,
                    "isi_violations": violations, "kept": kept, "reason": reason}
        if self.verbose:
            print(qc_summary(self.qc_))
        if not kept.any():
            raise ValueError(
                f"Quality control kept no unit out of {spikes.n_units} (min_rate={self.min_rate}, "
                f"max_isi_violations={self.max_isi_violations}, unit_labels={self.unit_labels}). "
                "See the reasons in SpikeBinner(...).fit(X).qc_ with looser settings."
            )
        self.unit_ids_ = spikes.unit_ids[kept]
        self.firing_rates_ = rates[kept]
        self.isi_violations_ = violations[kept]
        self.t_start_ = float(bin_edges(self._anchor(), self.bin_size,
                                        grid_span(self._anchor(), self.bin_size,
                                                  spikes.t_start, spikes.t_stop)[0], 1)[0])
        return self._bin(spikes)

    def _bin(self, spikes):
        """:func:`bin_spikes` with the kept units, once the output is known to fit."""
        columns = self._columns(spikes)
        if self.max_bytes is not None:
            self._check_output_size(spikes, int(np.count_nonzero(columns >= 0)))
        return bin_spikes(spikes, self.bin_size, columns, anchor=self._anchor())

    def _check_output_size(self, spikes, n_units):
        n_bins = count_bins(spikes, self.bin_size, self._anchor())
        # Per bin: its start, its edge and a row pointer (8 bytes each), plus the dense row.
        row_bytes = 24 + (0 if self.sparse_output else n_units * np.dtype(self.dtype).itemsize)
        need = n_bins * row_bytes
        if need > self.max_bytes:
            valid = float(np.sum(np.diff(spikes.intervals, axis=1)))
            shape = (f"{n_bins:,} bins" if self.sparse_output
                     else f"a {n_bins:,} x {n_units} {self.dtype} matrix")
            raise ValueError(
                f"Binning {valid:.6g} s of valid time at bin_size={self.bin_size} s would make "
                f"{shape}, about {_gigabytes(need)} (max_bytes={_gigabytes(self.max_bytes)}). "
                "Use a larger bin_size, crop with t_start/t_stop"
                + ("" if self.sparse_output else ", sparse_output=True")
                + ", or raise max_bytes (None: no limit).")

    def _learn_scale(self, peak, mean, std):
        """``scale_`` and ``mean_`` from the per-unit maxima, means and deviations."""
        self.mean_ = np.zeros(len(self.unit_ids_))
        self.scale_ = np.ones(len(self.unit_ids_))
        if self.normalize == "max":
            self.scale_ = peak
        elif self.normalize == "global_max":
            self.scale_[:] = peak.max()
        elif self.normalize == "zscore":
            self.mean_, self.scale_ = mean, std
        self.scale_[self.scale_ == 0] = 1.0  # silent in training: leave counts unscaled

    # ------------------------------------------------------------------ transform
    def _anchor(self):
        return 0.0 if self.t_start is None else self.t_start

    def _columns(self, spikes):
        """Output column of every unit code of ``spikes`` (-1 for units not kept)."""
        position = {u: i for i, u in enumerate(self.unit_ids_.tolist())}
        return np.array([position.get(u, -1) for u in spikes.unit_ids.tolist()], dtype=np.int64)

    def _binned(self, X):
        return self._bin(self._spikes(X))

    def transform(self, X):
        """Bin spikes into normalised counts of the kept units.

        Parameters
        ----------
        X : SpikeTrains, array of shape (n_spikes, 2), DataFrame, dict, list, TsGroup
            Spikes to bin. Units not kept in ``fit`` are dropped; kept units absent from
            ``X`` give zero columns.

        Returns
        -------
        Xt : ndarray or csr_matrix of shape (n_bins, n_units_kept)
            One row per time bin of every valid interval, in time order.
        """
        check_is_fitted(self)
        rows, cols, starts = self._binned(X)
        return self._indexed(self._counts(rows, cols, starts), starts)

    def _indexed(self, counts, starts):
        """With ``set_output(transform="pandas")``: a DataFrame indexed by bin start (s).

        scikit-learn's wrapper keeps the index of a DataFrame it is handed (and names
        its columns), so the rows say when they were, and a downstream SpikeSAE's
        pandas output inherits the same index through its input.
        """
        if sp.issparse(counts) or _get_output_config("transform", self)["dense"] != "pandas":
            return counts
        import pandas as pd

        return pd.DataFrame(counts, index=pd.Index(starts, name="bin_start"), copy=False)

    def _counts(self, rows, cols, starts):
        """The normalised (n_bins, n_units_kept) matrix of binned spike coordinates."""
        shape, dtype = (starts.size, len(self.unit_ids_)), np.dtype(self.dtype)
        if self.sparse_output:
            counts = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=shape)
            return sp.csr_matrix(counts @ sp.diags(1.0 / self.scale_), dtype=dtype)
        mean = self.mean_ if self.normalize == "zscore" else None
        scale = None if self.normalize is None else self.scale_
        return dense_counts(rows, cols, shape[0], shape[1], dtype, mean=mean, scale=scale)

    def bin_times(self, X):
        """Left edge (s) of every row that :meth:`transform` returns for ``X``.

        Parameters
        ----------
        X : spike input
            The same input as given to :meth:`transform`.

        Returns
        -------
        starts : ndarray of shape (n_bins,)
            Bin start times in seconds.
        """
        check_is_fitted(self)
        return self._binned(X)[2]

    def inverse_transform(self, X):
        """Turn (normalised) binned counts back into spikes.

        Counts are un-normalised, rounded and clipped at 0; each bin's spikes are placed
        at the bin centre, with bin ``i`` starting at ``t_start_ + i * bin_size``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_bins, n_units_kept)
            Binned values, e.g. the reconstruction of an autoencoder.

        Returns
        -------
        spikes : SpikeTrains
            Spikes of the kept units.
        """
        check_is_fitted(self)
        values = check_array(X, accept_sparse=["csr", "csc", "coo"], dtype=np.float64)
        if sp.issparse(values):
            values = values.toarray()
        if values.shape[1] != len(self.unit_ids_):
            raise ValueError(f"X has {values.shape[1]} columns; this binner keeps "
                             f"{len(self.unit_ids_)} units.")
        counts = np.clip(np.rint(values * self.scale_ + self.mean_), 0, None).astype(np.int64)
        rows, cols = np.nonzero(counts)
        reps = counts[rows, cols]
        centres = self.t_start_ + (rows + 0.5) * self.bin_size
        t_stop = self.t_start_ + len(values) * self.bin_size
        return SpikeTrains(np.repeat(centres, reps), np.repeat(self.unit_ids_[cols], reps),
                           t_start=self.t_start_, t_stop=t_stop, unit_ids=self.unit_ids_)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: the kept units (``unit_<id>`` for integer ids).

        Parameters
        ----------
        input_features : None
            Ignored (the input is spikes, not named columns).

        Returns
        -------
        names : ndarray of str
            One name per kept unit.
        """
        check_is_fitted(self)
        return np.asarray([u if isinstance(u, str) else f"unit_{u}"
                           for u in self.unit_ids_.tolist()], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The input is a spike table, not a (samples x features) matrix: scikit-learn's
        # generic estimator checks feed random matrices and do not apply (as for text
        # vectorizers). tests/spikes/test_binning.py checks the conventions directly.
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = []
        return tags


