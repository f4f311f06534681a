"""Binning speed: SpikeBinner against elephant and pynapple, counts compared.

Run by hand (elephant and pynapple are optional; missing ones are reported and skipped)::

    python benchmarks/bench_binning.py            # 1e7 spikes, 500 units, 1 h, 50 ms bins
    python benchmarks/bench_binning.py --smoke    # seconds-long run (CI)

Two comparisons, in the same run, best of ``--repeats``; ratios are other / ours:

* **From an (n_spikes, 2) array of [time, unit]**, what a user holds after reading a
  sorter's output: ``SpikeBinner().fit_transform(array)`` with its defaults (unit QC with
  refractory violations, per-unit max normalisation), against building elephant's list of
  neo ``SpikeTrain`` (one argsort by unit, then a split) and binning it with
  ``BinnedSpikeTrain(...).to_array()``, and building pynapple's ``TsGroup`` the same way and
  calling ``count``.
* **From each library's own structure**, built before the clock starts: a SpikeTrains for
  ``SpikeBinner.transform``, the neo list for elephant, the TsGroup for pynapple.

Counts are compared with ``SpikeBinner(min_rate=0, normalize=None)``, and the defaults'
output times its ``scale_`` must give the same counts.
"""

import argparse
import time

import numpy as np

from sklearn_mini import SpikeBinner, SpikeTrains


def best_of(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spikes", type=int, default=10_000_000)
    parser.add_argument("--n-units", type=int, default=500)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--bin-size", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.n_spikes, args.n_units, args.duration, args.repeats = 100_000, 50, 60.0, 1
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, args.duration, args.n_spikes))
    units = rng.integers(0, args.n_units, args.n_spikes)
    print(f"{args.n_spikes:,} spikes, {args.n_units} units, {args.duration:g} s, "
          f"{args.bin_size * 1000:g} ms bins, best of {args.repeats}")

    array = np.column_stack([times, units.astype(np.float64)])
    ours = SpikeBinner(bin_size=args.bin_size, min_rate=0, normalize=None, dtype="float64")
    counts = ours.fit_transform(array)
    default_s, scaled = best_of(lambda: SpikeBinner(bin_size=args.bin_size).fit_transform(array),
                                args.repeats)
    default = SpikeBinner(bin_size=args.bin_size).fit(array)
    rebuilt = np.rint(scaled * default.scale_).astype(np.int64)
    print(f"From an (n, 2) array: SpikeBinner().fit_transform {default_s:.3f} s "
          f"(x scale_ gives the counts: {np.array_equal(rebuilt, counts)})")
    rows = {}
    native = {}
    try:
        import neo
        import quantities as pq
        from elephant.conversion import BinnedSpikeTrain

        def neo_trains(a):
            order = np.argsort(a[:, 1], kind="stable")
            split = np.split(a[order, 0], np.cumsum(np.bincount(a[:, 1].astype(np.int64)))[:-1])
            return [neo.SpikeTrain(t * pq.s, t_start=0 * pq.s, t_stop=args.duration * pq.s)
                    for t in split]

        def elephant_bin(trains):
            return BinnedSpikeTrain(trains, bin_size=args.bin_size * pq.s, t_start=0 * pq.s,
                                    t_stop=args.duration * pq.s).to_array().T

        rows["elephant BinnedSpikeTrain"] = best_of(lambda: elephant_bin(neo_trains(array)),
                                                    args.repeats)
        trains = neo_trains(array)
        native["elephant BinnedSpikeTrain"] = best_of(lambda: elephant_bin(trains), args.repeats)
    except ImportError as exc:
        print(f"  elephant: not installed ({exc.name}); pip install elephant")

    try:
        import pynapple as nap

        def ts_group(a):
            order = np.argsort(a[:, 1], kind="stable")
            split = np.split(a[order, 0], np.cumsum(np.bincount(a[:, 1].astype(np.int64)))[:-1])
            return nap.TsGroup({u: nap.Ts(t=t) for u, t in enumerate(split)},
                               time_support=nap.IntervalSet(0, args.duration))

        ep = nap.IntervalSet(0, args.duration)
        rows["pynapple TsGroup.count"] = best_of(
            lambda: np.asarray(ts_group(array).count(args.bin_size, ep).values), args.repeats)
        group = ts_group(array)
        native["pynapple TsGroup.count"] = best_of(
            lambda: np.asarray(group.count(args.bin_size, ep).values), args.repeats)
    except ImportError as exc:
        print(f"  pynapple: not installed ({exc.name}); pip install pynapple")
    report(rows, default_s, counts, "SpikeBinner().fit_transform")

    spikes = SpikeTrains(times, units, t_start=0.0, t_stop=args.duration,
                         unit_ids=np.arange(args.n_units))
    binner = SpikeBinner(bin_size=args.bin_size, min_rate=0, normalize=None,
                         dtype="float64").fit(spikes)
    ours_s, ours_counts = best_of(lambda: binner.transform(spikes), args.repeats)
    print(f"From each library's own structure: SpikeBinner.transform(SpikeTrains) {ours_s:.3f} s")
    report(native, ours_s, ours_counts, "SpikeBinner.transform")


def report(results, ours_s, ours, name):
    for other, (seconds, counts) in results.items():
        same = counts.shape == ours.shape and np.array_equal(counts, ours)
        print(f"  {other:<34}: {seconds:7.3f} s   {seconds / ours_s:5.1f}x slower than "
              f"{name}   counts identical: {same}"
              + ("" if same else f" (shapes {counts.shape} vs {ours.shape})"))


if __name__ == "__main__":
    main()
