"""Binning speed: SpikeBinner against elephant and pynapple, counts compared.

Run by hand (elephant and pynapple are optional; missing ones are reported and skipped)::

    python benchmarks/bench_binning.py            # 1e7 spikes, 500 units, 1 h, 50 ms bins
    python benchmarks/bench_binning.py --smoke    # seconds-long run (CI)

Each library bins the same spikes from the structure it natively takes (built before
the clock starts): a SpikeTrains for SpikeBinner, a list of neo SpikeTrains for
elephant's BinnedSpikeTrain, a TsGroup for pynapple's ``count``. Times are best of
``--repeats`` runs; ratios are other / ours, measured in the same run.
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

    start = time.perf_counter()
    spikes = SpikeTrains(times, units, t_start=0.0, t_stop=args.duration,
                         unit_ids=np.arange(args.n_units))
    build = time.perf_counter() - start
    binner = SpikeBinner(bin_size=args.bin_size, min_rate=0, normalize=None, dtype="float64")
    fit_s, _ = best_of(lambda: binner.fit(spikes), 1)
    ours_s, ours = best_of(lambda: binner.transform(spikes), args.repeats)
    print(f"  sklearn_mini SpikeBinner.transform : {ours_s:7.3f} s   "
          f"(container from arrays {build:.2f} s; fit with QC {fit_s:.2f} s)")
    results = {}

    try:
        import neo
        import quantities as pq
        from elephant.conversion import BinnedSpikeTrain

        trains = [neo.SpikeTrain(times[units == u] * pq.s, t_start=0 * pq.s,
                                 t_stop=args.duration * pq.s) for u in range(args.n_units)]
        el_s, el = best_of(lambda: BinnedSpikeTrain(
            trains, bin_size=args.bin_size * pq.s, t_start=0 * pq.s,
            t_stop=args.duration * pq.s).to_array().T, args.repeats)
        results["elephant BinnedSpikeTrain"] = (el_s, el)
    except ImportError as exc:
        print(f"  elephant: not installed ({exc.name}); pip install elephant")

    try:
        import pynapple as nap

        group = nap.TsGroup({u: nap.Ts(t=times[units == u]) for u in range(args.n_units)},
                            time_support=nap.IntervalSet(0, args.duration))
        ep = nap.IntervalSet(0, args.duration)
        pn_s, pn = best_of(lambda: np.asarray(group.count(args.bin_size, ep).values),
                           args.repeats)
        results["pynapple TsGroup.count"] = (pn_s, pn)
    except ImportError as exc:
        print(f"  pynapple: not installed ({exc.name}); pip install pynapple")

    for name, (seconds, counts) in results.items():
        same = counts.shape == ours.shape and np.array_equal(counts, ours)
        print(f"  {name:<34}: {seconds:7.3f} s   {seconds / ours_s:5.1f}x slower than "
              f"SpikeBinner   counts identical: {same}"
              + ("" if same else f" (shapes {counts.shape} vs {ours.shape}, "
                 f"{int(np.abs(counts - ours).sum()) if counts.shape == ours.shape else '-'} differing)"))


if __name__ == "__main__":
    main()
