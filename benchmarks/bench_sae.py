"""SpikeSAE fit throughput and peak memory against a plain dense reference SAE.

Run by hand::

    python benchmarks/bench_sae.py                 # CPU, the issue's three sizes
    python benchmarks/bench_sae.py --device cuda   # on a GPU machine (+ encoder GEMM FLOP/s)
    python benchmarks/bench_sae.py --smoke         # seconds-long run (CI)

For every size, in one run: ``reference`` (``reference_sae.py``: the plain dense
implementation), then SpikeSAE with ``decoder_path`` ``dense`` and ``sparse``, all on
the same Poisson counts (a planted sparse dictionary), the same seed and
hyperparameters; the ``auto`` row names the path ``decoder_path='auto'`` picks (its
numbers are that path's: it runs the same code). Each fit runs in a fresh subprocess
after a short warm-up fit, so its peak memory is its own: ``peak MB`` is the growth of the
process's peak resident memory (CPU) or ``torch.cuda.max_memory_allocated`` (CUDA) during
the fit, and ``budget x`` is that peak over (data + parameters + Adam state). Throughput is
``n_samples * n_epochs / fit seconds`` (including SpikeSAE's post-fit threshold calibration
and dead-latent pass; the fastest of 3 fits for sizes up to 2^18 weights per matrix, where
noise matters); EV is the explained variance of each model's reconstructions of the training
data.
"""

import argparse
import json
import math
import pathlib
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))

DEFAULT_SIZES = [(128, 2048, 8), (384, 6144, 16), (1024, 16384, 32)]
PATHS = ("reference", "dense", "sparse", "auto")


def parse_size(text):
    n_features, d_sae, topk = (int(v) for v in text.split(","))
    return n_features, d_sae, topk


def make_data(n_samples, n_features):
    from sklearn_mini.datasets import make_sparse_counts

    X, _ = make_sparse_counts(n_samples=n_samples, n_features=n_features,
                              n_atoms=max(8, n_features // 2), n_active=4, random_state=0)
    return (X / X.max()).astype(np.float32)


def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def explained_variance(X, X_hat):
    from sklearn_mini.metrics import explained_variance as ev

    return ev(np.asarray(X, dtype=np.float64), np.asarray(X_hat, dtype=np.float64))


def repeats(n_features, d_sae):
    """Fits per timing (the fastest counts): 3 where a fit takes seconds and machine
    noise would blur a 5% comparison, 1 for the large sizes."""
    return 3 if n_features * d_sae <= 2**18 else 1


def fit_one(path, n_samples, n_features, d_sae, topk, n_epochs, device, batch_size):
    """One timed fit (in this process); returns a dict of measurements."""
    from reference_sae import fit_reference, reconstruct_reference

    from sklearn_mini import SpikeSAE

    X = make_data(n_samples, n_features)
    cuda = device == "cuda"
    if path == "reference":
        X_t = torch.as_tensor(X, device=device)
        fit_reference(X_t[: 4 * batch_size], d_sae, topk, 1, batch_size)  # warm-up
        fit = lambda: fit_reference(X_t, d_sae, topk, n_epochs, batch_size)  # noqa: E731
    else:
        # The reference's model (wave 1's defaults), so that only the code differs.
        params = dict(d_sae=d_sae, topk=topk, batch_size=batch_size, device=device,
                      random_state=0, decoder_path=path, sparsity="batchtopk",
                      positive_dict=False, output_relu=True, decoder_bias_init="mean",
                      dead_window=math.ceil(math.ceil(n_samples / batch_size) / 2))
        SpikeSAE(n_epochs=1, **params).fit(X[: 4 * batch_size])  # warm-up
        fit = lambda: SpikeSAE(n_epochs=n_epochs, **params).fit(X)  # noqa: E731
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    base_rss = rss_mb()
    seconds = np.inf
    for _ in range(repeats(n_features, d_sae)):
        start = time.perf_counter()
        model = fit()
        if cuda:
            torch.cuda.synchronize()
        seconds = min(seconds, time.perf_counter() - start)
    peak = ((torch.cuda.max_memory_allocated() - base) / 2**20 if cuda
            else peak_rss_mb() - base_rss)
    if path == "reference":
        X_hat = reconstruct_reference(model, X_t, topk).cpu().numpy()
        path_used = "dense"
    else:
        X_hat = model.inverse_transform(model.transform(X))
        path_used = "sparse" if model._use_sparse_decoder(d_sae, model._levels) else "dense"
    n_params = 2 * n_features * d_sae + d_sae + n_features
    budget_mb = (X.nbytes + 3 * 4 * n_params) / 2**20  # data + parameters + Adam's 2 moments
    return {"seconds": seconds, "rate": n_samples * n_epochs / seconds,
            "ev": explained_variance(X, X_hat), "peak_mb": peak,
            "budget_x": peak / budget_mb, "path_used": path_used}


def encoder_flops(n_features, d_sae, batch_size, device):
    """Achieved FLOP/s of the encoder's (batch x n_features) @ (n_features x d_sae) GEMM."""
    x = torch.rand(batch_size, n_features, device=device)
    w = torch.rand(n_features, d_sae, device=device)
    for _ in range(3):
        x @ w
    torch.cuda.synchronize()
    reps = 50
    start = time.perf_counter()
    for _ in range(reps):
        x @ w
    torch.cuda.synchronize()
    return 2 * batch_size * n_features * d_sae * reps / (time.perf_counter() - start)


def run_child(path, n_features, d_sae, topk, args):
    """One fit in a fresh interpreter (its own peak memory); returns its measurements."""
    cmd = [sys.executable, __file__, "--one", f"{path},{n_features},{d_sae},{topk}",
           "--n-samples", str(args.n_samples), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--device", args.device]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--size", type=parse_size, action="append",
                        help="n_features,d_sae,topk (repeatable)")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help="what to time side by side (comma-separated, from "
                             f"{', '.join(PATHS)})")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: path,nf,d,k in a child
    args = parser.parse_args()
    if args.one:
        path, *size = args.one.split(",")
        print(json.dumps(fit_one(path, args.n_samples, *map(int, size), args.epochs,
                                 args.device, args.batch_size)))
        return
    sizes = args.size or DEFAULT_SIZES
    if args.smoke:
        sizes, args.n_samples, args.epochs = [(32, 128, 4)], 4096, 1
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"SpikeSAE (batchtopk) fit | device={args.device} ({name}) | torch {torch.__version__} "
          f"| threads {torch.get_num_threads()} | n_samples={args.n_samples} "
          f"epochs={args.epochs} batch={args.batch_size}")
    print(f"{'n_features':>10} {'d_sae':>7} {'topk':>5} {'path':>12} {'fit s':>8} "
          f"{'samples/s':>11} {'vs ref':>7} {'vs dense':>8} {'EV':>6} {'peak MB':>8} "
          f"{'budget x':>8}")
    for n_features, d_sae, topk in sizes:
        rates = {}
        results = {}
        for path in args.paths.split(","):
            if path == "auto":
                # 'auto' runs exactly one of the two paths' code: report its choice with
                # that path's measurement instead of a third, noisier timing.
                from sklearn_mini import SpikeSAE
                from sklearn_mini._core.training import Level

                sae = SpikeSAE(d_sae=d_sae, topk=topk, sparsity="batchtopk")
                sparse = sae._use_sparse_decoder(d_sae, (Level(d_sae, topk),))
                chosen = "sparse" if sparse else "dense"
                r = results.get(chosen) or run_child(chosen, n_features, d_sae, topk, args)
                label = f"auto={chosen}"
            else:
                r = results[path] = run_child(path, n_features, d_sae, topk, args)
                label = path
            rates[path] = r["rate"]
            ratio = lambda ref: (f"{r['rate'] / rates[ref]:.2f}x" if ref in rates else "-")  # noqa: E731
            print(f"{n_features:>10} {d_sae:>7} {topk:>5} {label:>12} {r['seconds']:>8.2f} "
                  f"{r['rate']:>11,.0f} {ratio('reference'):>7} {ratio('dense'):>8} "
                  f"{r['ev']:>6.3f} {r['peak_mb']:>8.0f} {r['budget_x']:>8.2f}", flush=True)
        if args.device == "cuda":
            flops = encoder_flops(n_features, d_sae, args.batch_size, args.device)
            print(f"{'':>10} encoder GEMM ({args.batch_size} x {n_features} @ {n_features} x "
                  f"{d_sae}, fp32): {flops / 1e12:.1f} TFLOP/s")


if __name__ == "__main__":
    main()
