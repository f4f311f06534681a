"""The spike container every loader returns and every spike-consuming estimator accepts."""

import numbers

import numpy as np

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_TIME_COLUMNS = ("time", "times", "t", "spike_time", "spike_times")
_UNIT_COLUMNS = ("unit", "units", "unit_id", "cluster", "cluster_id", "neuron", "channel")


def to_seconds(values, time_unit="s", sampling_rate=None):
    """Convert spike times in ``time_unit`` (``'s'``, ``'ms'``, ``'us'`` or ``'samples'``)."""
    values = np.asarray(values, dtype=np.float64)
    if time_unit == "samples":
        if sampling_rate is None or not sampling_rate > 0:
            raise ValueError("time_unit='samples' needs a positive sampling_rate (Hz).")
        return values / float(sampling_rate)
    if time_unit not in TIME_UNITS:
        raise ValueError(
            f"time_unit must be one of {sorted(TIME_UNITS) + ['samples']}, got {time_unit!r}."
        )
    return values * TIME_UNITS[time_unit] if time_unit != "s" else values


def _encode_units(units):
    """Unit ids as (codes, unit_ids); ids must be integers or strings."""
    units = np.asarray(units)
    owned = False  # whether ``units`` is an array made here (safe to return as codes)
    if units.dtype.kind == "f":
        # One cast and one comparison: NaN, inf and fractions do not survive the round trip.
        with np.errstate(invalid="ignore"):
            as_int = units.astype(np.int64)
        if np.any(as_int != units):
            raise ValueError(
                "Unit ids must be integers or strings; got non-integer floating-point ids "
                "(is the (n_spikes, 2) array in [time, unit] column order?)."
            )
        units, owned = as_int, True
    elif units.dtype.kind == "b" or units.dtype.kind not in "iuUSO":
        raise ValueError(f"Unit ids must be integers or strings, got dtype {units.dtype}.")
    if units.dtype.kind == "O":
        if not all(isinstance(u, (str, numbers.Integral)) for u in units[:1000]):
            raise ValueError("Unit ids must be integers or strings.")
        units = units.astype(str) if isinstance(units[0], str) else units.astype(np.int64)
    if (units.dtype.kind in "iu" and units.size and units.min() >= 0
            and units.max() < 10 * units.size + 1024):
        # Small non-negative integer ids: a lookup table is much faster than a sort.
        present = np.zeros(int(units.max()) + 1, dtype=bool)
        present[units] = True
        unit_ids = np.flatnonzero(present)
        if unit_ids.size == present.size:  # ids 0..n-1, all present: they are the codes
            # ... but never the caller's own array: the container must not alias input.
            return units if owned else units.astype(np.int64), unit_ids
        lut = np.cumsum(present) - 1
        return lut[units], unit_ids  # cumsum of bools is int64 already
    unit_ids, codes = np.unique(units, return_inverse=True)
    return codes.astype(np.int64), unit_ids


class SpikeTrains:
    """Spike times of a population, with the recording's span and per-unit metadata.

    The container is a *set* of spikes kept sorted by time. It is accepted by
    :class:`~sklearn_mini.SpikeBinner` and returned by every loader in
    :mod:`sklearn_mini.io`. Indexing it with spike indices (``spikes[idx]``), as
    scikit-learn's cross-validation does, gives a container whose valid ``intervals``
    cover only the selected stretches of time, so held-out blocks leave a gap in the
    training data rather than a stretch of fake silence.

    Parameters
    ----------
    times : array-like of shape (n_spikes,)
        Spike times, in ``time_unit``. Unsorted input is sorted.
    units : array-like of shape (n_spikes,)
        Unit id of every spike (integers or strings).
    t_start, t_stop : float, default=None
        Recording span in seconds; default: the first and last spike (``t_stop`` just
        after the last spike, so it is included).
    unit_ids : array-like, default=None
        All units of the recording, including silent ones; default: the units that spike.
    unit_info : dict of str to array-like, default=None
        Per-unit metadata aligned with ``unit_ids`` (e.g. ``'label'`` from Kilosort or a
        quality column, brain region, quality metrics).
    intervals : array-like of shape (n_intervals, 2), default=None
        Valid ``[start, stop)`` epochs in seconds (e.g. without NWB ``invalid_times``);
        default: one interval ``[t_start, t_stop)``.
    time_unit : {'s', 'ms', 'us', 'samples'}, default='s'
        Unit of ``times`` (``t_start``, ``t_stop`` and ``intervals`` are in seconds).
    sampling_rate : float, default=None
        Samples per second, for ``time_unit='samples'``.
    """

    def __init__(self, times, units, t_start=None, t_stop=None, *, unit_ids=None,
                 unit_info=None, intervals=None, time_unit="s", sampling_rate=None):
        times = to_seconds(np.ravel(times), time_unit, sampling_rate)
        units = np.ravel(np.asarray(units))
        if times.shape != units.shape:
            raise ValueError(f"times and units must have the same length, got "
                             f"{times.size} and {units.size}.")
        if not np.all(np.isfinite(times)):
            raise ValueError("Spike times contain NaN or infinite values.")
        if times.size and times.min() < 0:
            raise ValueError(f"Spike times must be non-negative, got minimum {times.min():.6g}.")
        none = np.zeros(0, np.int64)
        codes, spiking_ids = _encode_units(units) if units.size else (none, none)
        if np.any(np.diff(times) < 0):
            order = np.argsort(times, kind="stable")
            times, codes = times[order], codes[order]
        if unit_ids is not None:
            unit_ids = np.asarray(unit_ids)
            if unit_ids.dtype.kind == "f":
                unit_ids = unit_ids.astype(np.int64)
            missing = np.setdiff1d(spiking_ids, unit_ids)
            if missing.size:
                raise ValueError(f"Spikes of units not in unit_ids: {missing[:5].tolist()}...")
            codes = np.searchsorted(unit_ids, spiking_ids)[codes] if _is_sorted(unit_ids) \
                else _position(unit_ids, spiking_ids)[codes]
        else:
            unit_ids = spiking_ids
        self.times = times
        self.codes = codes
        self.unit_ids = unit_ids
        self.unit_info = {k: np.asarray(v) for k, v in (unit_info or {}).items()}
        for key, value in self.unit_info.items():
            if len(value) != len(unit_ids):
                raise ValueError(f"unit_info[{key!r}] has {len(value)} entries for "
                                 f"{len(unit_ids)} units.")
        if not times.size and t_stop is None:
            # The span would come from the spikes; "t_stop (0.0) must be greater than
            # t_start (0.0)" would blame times the user never gave.
            raise ValueError("No spikes in the input (an empty spike table?), and no t_stop "
                             "to give the recording's span.")
        first = float(times[0]) if times.size else 0.0
        self.t_start = float(t_start) if t_start is not None else first
        self.t_stop = (float(t_stop) if t_stop is not None
                       else float(np.nextafter(times[-1], np.inf)))
        if not self.t_stop > self.t_start:
            raise ValueError(f"t_stop ({self.t_stop}) must be greater than t_start "
                             f"({self.t_start}).")
        if intervals is None:
            intervals = [[self.t_start, self.t_stop]]
        self.intervals = _clean_intervals(intervals, self.t_start, self.t_stop)

    # ------------------------------------------------------------------ basics
    @property
    def units(self):
        """Unit id of every spike."""
        return self.unit_ids[self.codes]

    @property
    def n_spikes(self):
        """Number of spikes."""
        return self.times.size

    @property
    def n_units(self):
        """Number of units (including silent ones)."""
        return len(self.unit_ids)

    @property
    def duration(self):
        """Total duration of the valid intervals, in seconds."""
        return float(np.sum(self.intervals[:, 1] - self.intervals[:, 0]))

    @property
    def shape(self):
        """``(n_spikes, 2)``: lets scikit-learn index spikes like the rows of a table."""
        return (self.n_spikes, 2)

    def __len__(self):
        return self.n_spikes

    def __repr__(self):
        return (f"SpikeTrains({self.n_spikes} spikes, {self.n_units} units, "
                f"[{self.t_start:.6g}, {self.t_stop:.6g}) s, {len(self.intervals)} interval(s))")

    def spike_times(self, unit):
        """Spike times (s) of one unit."""
        hit = np.flatnonzero(self.unit_ids == unit)
        if hit.size == 0:
            raise KeyError(f"No unit {unit!r}.")
        return self.times[self.codes == hit[0]]

    def to_array(self):
        """``(n_spikes, 2)`` float array of ``[time, unit]`` (integer unit ids only)."""
        if self.unit_ids.dtype.kind not in "iu":
            raise ValueError("to_array needs integer unit ids; use .times and .units.")
        return np.column_stack([self.times, self.units.astype(np.float64)])

    def unit_table(self):
        """Per-unit metadata as a pandas DataFrame indexed by unit id (needs pandas)."""
        from .._optional import require

        pd = require("pandas", "pandas", "unit_table()")
        return pd.DataFrame(self.unit_info, index=pd.Index(self.unit_ids, name="unit"))

    # ------------------------------------------------------------------ selection
    def _subset(self, keep_spikes, intervals):
        return SpikeTrains._from_parts(self.times[keep_spikes], self.codes[keep_spikes], self,
                                       intervals)

    @classmethod
    def _from_parts(cls, times, codes, parent, intervals):
        new = cls.__new__(cls)
        new.times, new.codes = times, codes
        new.unit_ids, new.unit_info = parent.unit_ids, parent.unit_info
        new.t_start, new.t_stop = float(intervals[0][0]), float(intervals[-1][1])
        new.intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
        return new

    def restrict(self, start, stop):
        """Spikes in ``[start, stop)`` with the valid intervals cut to that window."""
        cut = _intersect(self.intervals, np.array([[start, stop]], dtype=np.float64))
        if cut.size == 0:
            raise ValueError(f"[{start}, {stop}) does not overlap the recording's valid time.")
        keep = (self.times >= start) & (self.times < stop)
        return self._subset(keep, cut)

    def select_units(self, unit_ids):
        """Only the given units (their metadata kept)."""
        wanted = np.isin(self.unit_ids, np.asarray(unit_ids))
        remap = np.cumsum(wanted) - 1
        keep = wanted[self.codes]
        new = self._subset(keep, self.intervals)
        new.codes = remap[new.codes]
        new.unit_ids = self.unit_ids[wanted]
        new.unit_info = {k: v[wanted] for k, v in self.unit_info.items()}
        return new

    def __getitem__(self, key):
        """Spikes selected by index, as scikit-learn's splitters select rows.

        The valid intervals of the result cover the stretches of time spanned by runs of
        consecutive spike indices: a run from spike ``i`` to spike ``j`` covers
        ``[times[i], times[j + 1])`` (the recording's ends for the first and last spike),
        so the runs of complementary index sets partition the recording.
        """
        if isinstance(key, tuple):
            key = key[0]
        index = np.arange(self.n_spikes)[key]
        index = np.unique(np.atleast_1d(index))
        if index.size == 0:
            raise ValueError("No spike selected.")
        breaks = np.flatnonzero(np.diff(index) != 1)
        firsts = index[np.r_[0, breaks + 1]]
        lasts = index[np.r_[breaks, index.size - 1]]
        starts = np.where(firsts == 0, self.t_start, self.times[firsts])
        nxt = np.minimum(lasts + 1, self.n_spikes - 1)
        stops = np.where(lasts == self.n_spikes - 1, self.t_stop, self.times[nxt])
        runs = np.column_stack([starts, stops])
        runs = runs[runs[:, 1] > runs[:, 0]]
        cut = _intersect(self.intervals, runs)
        return self._subset(index, cut)


def _is_sorted(a):
    return a.size < 2 or bool(np.all(a[1:] > a[:-1]))


def _position(haystack, needles):
    lookup = {v: i for i, v in enumerate(haystack.tolist())}
    return np.array([lookup[v] for v in needles.tolist()], dtype=np.int64)


def _clean_intervals(intervals, t_start, t_stop):
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    if np.any(~np.isfinite(intervals)) or np.any(intervals[:, 1] <= intervals[:, 0]):
        raise ValueError("intervals must be finite [start, stop) pairs with stop > start.")
    intervals = intervals[np.argsort(intervals[:, 0])]
    cut = _intersect(intervals, np.array([[t_start, t_stop]]))
    if cut.size == 0:
        raise ValueError("No valid interval overlaps [t_start, t_stop).")
    return cut


def subtract_intervals(intervals, holes):
    """``intervals`` minus the union of ``holes`` (both ``(n, 2)`` arrays of [start, stop))."""
    holes = np.asarray(holes, dtype=np.float64).reshape(-1, 2)
    out = []
    for start, stop in np.asarray(intervals, dtype=np.float64).reshape(-1, 2):
        pieces = [[start, stop]]
        for h0, h1 in holes[np.argsort(holes[:, 0])]:
            nxt = []
            for p0, p1 in pieces:
                if h1 <= p0 or h0 >= p1:
                    nxt.append([p0, p1])
                    continue
                if h0 > p0:
                    nxt.append([p0, h0])
                if h1 < p1:
                    nxt.append([h1, p1])
            pieces = nxt
        out.extend(pieces)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _intersect(a, b):
    """Intersection of two sorted, non-overlapping interval lists (merging touching ones)."""
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i, 0], b[j, 0]), min(a[i, 1], b[j, 1])
        if hi > lo:
            if out and out[-1][1] >= lo:
                out[-1][1] = max(out[-1][1], hi)
            else:
                out.append([lo, hi])
        if a[i, 1] < b[j, 1]:
            i += 1
        else:
            j += 1
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)
