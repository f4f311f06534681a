"""Fit throughput of SpikeSAE (samples per second) for a few problem sizes.

Run by hand::

    python benchmarks/bench_sae.py                 # CPU, default sizes
    python benchmarks/bench_sae.py --device cuda   # on a GPU machine
    python benchmarks/bench_sae.py --smoke         # seconds-long run (CI)

Each size fits on Poisson counts from a planted sparse dictionary, after one short
warm-up fit; throughput is ``n_samples * n_epochs / fit seconds`` and includes the
post-fit threshold calibration and dead-latent pass.
"""

import argparse
import platform
import time

import torch

from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts

DEFAULT_SIZES = [(64, 512, 8), (128, 2048, 8), (384, 6144, 16)]


def parse_size(text):
    n_features, d_sae, topk = (int(v) for v in text.split(","))
    return n_features, d_sae, topk


def run(n_samples, n_features, d_sae, topk, n_epochs, device, sparsity, batch_size,
        decoder_path="auto"):
    X, _ = make_sparse_counts(n_samples=n_samples, n_features=n_features,
                              n_atoms=max(8, n_features // 2), n_active=4, random_state=0)
    X = (X / X.max()).astype("float32")
    params = dict(d_sae=d_sae, topk=topk, sparsity=sparsity, batch_size=batch_size,
                  device=device, random_state=0, decoder_path=decoder_path)
    SpikeSAE(n_epochs=1, **params).fit(X[: 4 * batch_size])  # warm-up (allocator, threads)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    sae = SpikeSAE(n_epochs=n_epochs, **params).fit(X)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, n_samples * n_epochs / seconds, sae.score(X), sae.dead_fraction_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--sparsity", default="batchtopk", choices=["batchtopk", "topk", "relu"])
    parser.add_argument("--size", type=parse_size, action="append",
                        help="n_features,d_sae,topk (repeatable)")
    parser.add_argument("--paths", default="dense,sparse,auto",
                        help="decoder paths to time side by side (comma-separated)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    sizes = args.size or DEFAULT_SIZES
    if args.smoke:
        sizes, args.n_samples, args.epochs = [(32, 128, 4)], 4096, 1
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"SpikeSAE fit throughput | device={args.device} ({name}) | torch {torch.__version__} "
          f"| threads {torch.get_num_threads()} | n_samples={args.n_samples} "
          f"epochs={args.epochs} batch={args.batch_size} sparsity={args.sparsity}")
    print(f"{'n_features':>10} {'d_sae':>7} {'topk':>5} {'path':>7} {'fit s':>8} "
          f"{'samples/s':>11} {'vs dense':>8} {'EV(train)':>9} {'dead':>6}")
    paths = args.paths.split(",")
    for n_features, d_sae, topk in sizes:
        base = None
        for path in paths:
            seconds, rate, ev, dead = run(args.n_samples, n_features, d_sae, topk, args.epochs,
                                          args.device, args.sparsity, args.batch_size, path)
            base = rate if path == "dense" else base
            ratio = f"{rate / base:>7.2f}x" if base else f"{'-':>8}"
            print(f"{n_features:>10} {d_sae:>7} {topk:>5} {path:>7} {seconds:>8.2f} "
                  f"{rate:>11,.0f} {ratio} {ev:>9.3f} {dead:>6.1%}", flush=True)


if __name__ == "__main__":
    main()
