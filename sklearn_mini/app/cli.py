"""Command line: ``sklearn-mini demo`` and ``sklearn-mini run PATH``.

``python -m sklearn_mini`` (no command, or only the demo's options) runs the demo. A
problem with the input (a missing file, an unreadable format, an empty recording) is one
line on stderr and exit status 2, not a traceback (``--traceback`` shows it).
"""

import argparse
import inspect
import sys
import time
from pathlib import Path

from .._version import __version__
from ..datasets import make_spiking_features
from ..evaluation.compare import frontier_verdict

# Options of the top-level parser itself; any other leading option is the demo's.
TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")
# What reading or checking a recording raises for bad input (not a bug of ours).
INPUT_ERRORS = (OSError, ValueError)


def _run(args, spikes, truth, source):
    from ..io import read_labels
    from .report import run_job

    labels = None if args.behaviour is None else read_labels(args.behaviour)

    start = time.perf_counter()
    rows, fitted, recoveries, matched = run_job(
        spikes, args.out, truth=truth, bin_size=args.bin_size, min_rate=args.min_rate,
        d_sae=args.d_sae, topk=args.topk, level0=args.level0, seed=args.seed,
        verbose=args.verbose, n_epochs=args.epochs, cebra_iterations=args.cebra_iterations,
        source=source, ks=args.frontier, labels=labels, stability_seeds=args.stability_seeds,
        n_jobs=args.n_jobs)
    print()
    print(f"{'method':<15}{'held-out EV':>12}{'R2 unit (median)':>18}{'mean L0':>9}{'fit s':>8}")
    for row in rows:
        print(f"{row['method']:<15}{row['explained_variance']:>12.3f}{row['r2_unit_median']:>18.3f}"
              f"{row['mean_l0']:>9.2f}{row['fit_time']:>8.1f}")
    sae = fitted["SpikeSAE"][-1]
    print("\nheld-out EV at matched active dimensions per bin:")
    for line in frontier_verdict(matched):
        print(f"  {line}")
    print(f"\nSpikeSAE dead latents: {sae.dead_fraction_:.1%}")
    for name, rec in recoveries.items():
        extra = ""
        if hasattr(rec, "level_fraction_coarse"):
            extra = f"; coarse by level 0: {rec.level_fraction_coarse[0]:.0%}"
        print(f"planted features recovered by {name:<13}: {rec.fraction:.0%} "
              f"(coarse {rec.fraction_coarse:.0%}, fine {rec.fraction_fine:.0%}{extra})")
    seconds = time.perf_counter() - start
    print(f"\nreport written to {args.out}/summary.md and features.html ({seconds:.0f} s)")
    return 0


def _demo(args):
    print(f"Simulating {args.n_units} units for {args.duration:.0f} s driven by planted "
          "coarse and fine features ...")
    spikes, truth = make_spiking_features(n_units=args.n_units, duration=args.duration,
                                          random_state=args.seed)
    return _run(args, spikes, truth, f"simulated by make_spiking_features(n_units="
                                     f"{args.n_units}, duration={args.duration:g}, "
                                     f"random_state={args.seed})")


def _run_file(args):
    from ..io import read_recording

    if not Path(args.path).exists():
        raise FileNotFoundError(f"{args.path} does not exist.")
    spikes = read_recording(args.path)
    print(f"Read {spikes.n_spikes} spikes of {spikes.n_units} units from {args.path}")
    return _run(args, spikes, None, str(args.path))


def _size(value):
    return value if value == "auto" else int(value)


def _common(parser, out, sizes):
    """The options of both commands; ``sizes`` are the defaults of d_sae, topk, level0."""
    d_sae, topk, level0 = sizes
    parser.add_argument("--out", default=out, help="report folder")
    parser.add_argument("--bin-size", type=float, default=0.05)
    parser.add_argument("--min-rate", type=float, default=0.5)
    parser.add_argument("--d-sae", type=_size, default=d_sae,
                        help=f"SAE latents; PCA and NMF get as many components, at most "
                             f"half the units and 128 ('auto': from the data; default {d_sae})")
    parser.add_argument("--topk", type=_size, default=topk,
                        help=f"active latents per bin ('auto': from the data; default {topk})")
    parser.add_argument("--level0", type=_size, default=level0,
                        help=f"latents of the MatryoshkaSAE's first level ('auto': a fifth "
                             f"of d_sae; default {level0})")
    parser.add_argument("--behaviour", metavar="FILE", default=None,
                        help="behaviour or stimulus labels to score every latent against: a "
                             ".csv/.npz of trials (start, stop, label columns), events "
                             "(time, event) or a time series (time, variables)")
    parser.add_argument("--epochs", type=lambda v: v if v == "auto" else int(v), default="auto",
                        help="SAE training epochs ('auto': at least 20 and 4000 steps)")
    parser.add_argument("--cebra-iterations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--frontier", type=int, nargs="+", metavar="K", default=None,
                        help="also fit every model at these active dimensions per bin and "
                             "draw the sparsity-fidelity frontier (default: the SAE's topk "
                             "only; e.g. --frontier 1 2 4 8)")
    parser.add_argument("--stability-seeds", type=int, default=0, metavar="N",
                        help="refit the SpikeSAE with N other seeds and report every "
                             "latent's seed stability (each seed is one more fit)")
    parser.add_argument("--n-jobs", type=int, default=-1, metavar="N",
                        help="fits to run at once in worker processes (-1: one per core, "
                             "the default; 1: one after another in this process, with "
                             "each SAE's own progress bar)")
    parser.add_argument("--traceback", action="store_true",
                        help="on an input error, show the full traceback (for bug reports)")


def build_parser():
    parser = argparse.ArgumentParser(prog="sklearn-mini",
                                     description="Sparse autoencoders for spike data.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,run}",
                                help="demo: the job on simulated spikes; run: on a recording "
                                     "(no command: demo)")
    demo = sub.add_parser("demo", help="simulate spikes with planted features and run the job")
    simulator = inspect.signature(make_spiking_features).parameters  # one set of defaults
    demo.add_argument("--n-units", type=int, default=simulator["n_units"].default)
    demo.add_argument("--duration", type=float, default=simulator["duration"].default,
                      help="seconds of simulated recording")
    _common(demo, "sklearn_mini_report", (40, 1, 8))
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run the job on a recording (NWB, Kilosort folder, "
                                     ".npz/.csv spike table)")
    run.add_argument("path")
    _common(run, "sklearn_mini_report", ("auto", "auto", "auto"))
    run.set_defaults(func=_run_file)
    return parser


def main(argv=None):
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in TOP_LEVEL_OPTIONS):
        argv = ["demo", *argv]
    args = parser.parse_args(argv)
    sizes_given = "auto" not in (args.level0, args.d_sae)
    if sizes_given and args.level0 >= args.d_sae:  # else the error would be about levels
        parser.error(f"--level0 ({args.level0}) must be smaller than --d-sae ({args.d_sae}): "
                     "the MatryoshkaSAE's first level is a prefix of its latents.")
    try:
        return args.func(args)
    except INPUT_ERRORS as error:
        if args.traceback:
            raise
        print(f"sklearn-mini {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
