"""The measured choices inside a training step and inference, each route side by side.

Run by hand::

    python benchmarks/bench_kernels.py                   # all three sections, CPU
    python benchmarks/bench_kernels.py --only aux        # aux, gradient, top1 or inference
    python benchmarks/bench_kernels.py --smoke           # seconds-long run (CI)

Each section times the routes a constant chooses between, interleaved in one run
(median of ``--repeats``), on the threads a fit would use, and prints which route the
package picks:

``aux``
    The sparse path's dead-latent aux loss (``training.AUX_SPARSE_ENTRY_COST``). It
    decodes every sample's ``k_aux`` (``n_units / 2``) largest pre-activations among the
    dead latents, by gather-sum over the selected entries or by dense products over the
    dead latents' columns. One training step (loss and backward) is timed with the aux
    loss off and by either route; the aux loss's cost is the difference.
    ``n_dead / k_aux`` decides.
``gradient``
    The encoder gradient of the sparse path, ``x.T @ S`` with ``S`` the batch x d_sae
    gradient at the selected entries (``sparse_ops.SCATTER_MAX_CELLS_PER_ENTRY``): a sparse
    CSR product, or ``S`` scattered into a dense matrix and one dense product.
    ``d_sae / entries per row`` decides.
``top1``
    A row's largest entry (TopK with ``k = 1``, the main job's setting): torch's top-k
    against a row maximum (``sparsity.row_topk``), for a batch of 1024 rows.
``inference``
    Rows per inference block (``_sae_inference.INFERENCE_ELEMENTS`` codes per block): transform
    plus the post-fit firing statistics of a fitted SpikeSAE over 30,000 rows.

A ratio below 1 in the ``dense/sparse`` columns means the dense route is faster.
"""

import argparse
import json
import math
import statistics
import time
import warnings

import numpy as np
import torch

from sklearn_mini import SpikeSAE
from sklearn_mini._core import sparse_ops, training
from sklearn_mini._core.data import as_rows
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.solver import level_statistics
from sklearn_mini._core.sparsity import make_sparsifier
from sklearn_mini._core.threads import cpu_threads
from sklearn_mini._core.training import Level, TrainConfig, Trainer
from sklearn_mini.sae import _inference as _sae_inference

# (n_units, d_sae, topk): the MEA stand-in (bench_stopping), the retinal waves' seed
# levels (retinal_waves_bar), bench_sae's first size.
AUX_SHAPES = [(739, 1260, 14), (71, 1024, 24), (128, 2048, 8)]
DEAD_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.5, 0.9)
# (n_units, d_sae) and selected entries per row for the encoder gradient.
GRADIENT_SHAPES = [(71, 1024), (739, 1260), (128, 2048), (384, 6144), (128, 8192)]
ENTRIES_PER_ROW = (4, 8, 16, 32, 64, 128)
TOP1_WIDTHS = (8, 40, 256, 1024)
INFERENCE_SHAPES = [(71, 1024, 24), (739, 1260, 14), (128, 8192, 32)]
INFERENCE_ELEMENTS = (2**24, 2**22, 2**21, 2**20, 2**19)


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def interleaved_ms(fns, repeats):
    """Median milliseconds of each function, run in turn (noise hits all alike)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


# ----------------------------------------------------------------------------- aux
def aux_trainer(n_units, d_sae, topk, n_dead, batch_size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    module = SAEModule(n_units, d_sae, subtract_decoder_bias=True, output_relu=False,
                       generator=gen, positive_dict=True)
    cfg = TrainConfig(levels=(Level(d_sae, topk),), sparsifier=make_sparsifier("topk"),
                      loss="msle", sparse_decoder=True, k_aux=max(1, n_units // 2),
                      dead_window=1)
    trainer = Trainer(module, cfg, gen, torch.device("cpu"))
    trainer.steps_since_fired[torch.randperm(d_sae, generator=gen)[:n_dead]] = 5
    x = torch.poisson(torch.full((batch_size, n_units), 0.3), generator=gen)
    return trainer, x / x.max()


def aux_step(trainer, x, route):
    """One loss and backward with the aux loss off, by gather-sum or dense."""
    trainer._has_dead = route != "off"
    saved = training.AUX_SPARSE_ENTRY_COST
    training.AUX_SPARSE_ENTRY_COST = math.inf if route == "dense" else 0
    try:
        loss, _ = trainer._loss(x)
        trainer.module.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        training.AUX_SPARSE_ENTRY_COST = saved


def aux_rows(shapes, fractions, batch_size, repeats):
    print(f"aux: AUX_SPARSE_ENTRY_COST = {training.AUX_SPARSE_ENTRY_COST}, batch {batch_size}")
    print(f"{'units':>5} {'d_sae':>6} {'dead':>5} {'k_aux':>5} {'dead/k':>6} {'step ms':>8} "
          f"{'aux sparse':>10} {'aux dense':>9} {'dense/sparse':>12} {'picked':>7}")
    rows = []
    for n_units, d_sae, topk in shapes:
        for fraction in fractions:
            n_dead = max(1, round(fraction * d_sae))
            trainer, x = aux_trainer(n_units, d_sae, topk, n_dead, batch_size)
            with cpu_threads(batch_size * n_units * d_sae, torch.device("cpu")):
                ms = interleaved_ms({r: (lambda r=r: aux_step(trainer, x, r))
                                     for r in ("off", "sparse", "dense")}, repeats)
            k_aux = trainer.cfg.k_aux
            sparse, dense = ms["sparse"] - ms["off"], ms["dense"] - ms["off"]
            picked = "dense" if n_dead <= training.AUX_SPARSE_ENTRY_COST * k_aux else "sparse"
            row = {"section": "aux", "n_units": n_units, "d_sae": d_sae, "n_dead": n_dead,
                   "k_aux": k_aux, "step_ms_no_aux": ms["off"], "aux_ms_sparse": sparse,
                   "aux_ms_dense": dense, "dense/sparse": dense / max(sparse, 1e-6),
                   "picked": picked}
            rows.append(row)
            print(f"{n_units:5d} {d_sae:6d} {n_dead:5d} {k_aux:5d} {n_dead / k_aux:6.1f} "
                  f"{ms['off']:8.1f} {sparse:10.1f} {dense:9.1f} {row['dense/sparse']:12.2f} "
                  f"{picked:>7}", flush=True)
    return rows


# ------------------------------------------------------------------------ gradient
def gradient_rows(shapes, per_row, batch_size, repeats):
    limit = sparse_ops.SCATTER_MAX_CELLS_PER_ENTRY
    print(f"\ngradient: SCATTER_MAX_CELLS_PER_ENTRY = {limit}, batch {batch_size}")
    print(f"{'units':>5} {'d_sae':>6} {'per row':>7} {'d/per':>6} {'sparse ms':>9} "
          f"{'scatter ms':>10} {'dense/sparse':>12} {'picked':>7}")
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n_units, d_sae in shapes:
        a = torch.rand(batch_size, n_units, generator=gen).T  # (x - offset).T, as in use
        for per in (p for p in per_row if p <= d_sae):
            r = torch.arange(batch_size).repeat_interleave(per)
            c = torch.randint(0, d_sae, (batch_size * per,), generator=gen)
            v = torch.randn(batch_size * per, generator=gen)

            def route(cells):
                def run():
                    sparse_ops.SCATTER_MAX_CELLS_PER_ENTRY = cells
                    try:
                        sparse_ops._dense_times_sparse(a, r, c, v, d_sae)
                    finally:
                        sparse_ops.SCATTER_MAX_CELLS_PER_ENTRY = limit
                return run

            with cpu_threads(batch_size * n_units * d_sae, torch.device("cpu")), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ms = interleaved_ms({"sparse": route(0), "scatter": route(math.inf)}, repeats)
            picked = "scatter" if d_sae <= limit * per else "sparse"
            row = {"section": "gradient", "n_units": n_units, "d_sae": d_sae, "per_row": per,
                   "sparse_ms": ms["sparse"], "scatter_ms": ms["scatter"],
                   "dense/sparse": ms["scatter"] / ms["sparse"], "picked": picked}
            rows.append(row)
            print(f"{n_units:5d} {d_sae:6d} {per:7d} {d_sae / per:6.0f} {ms['sparse']:9.1f} "
                  f"{ms['scatter']:10.1f} {row['dense/sparse']:12.2f} {picked:>7}", flush=True)
    return rows


# ---------------------------------------------------------------------------- top1
def top1_rows(widths, batch_size, repeats):
    print(f"\ntop1: batch {batch_size}, microseconds")
    print(f"{'width':>6} {'topk':>8} {'max':>8} {'max/topk':>9}")
    gen = torch.Generator().manual_seed(0)
    rows = []
    for width in widths:
        pre = torch.randn(batch_size, width, generator=gen)
        with cpu_threads(0, torch.device("cpu")):
            ms = interleaved_ms({"topk": lambda: pre.topk(1, dim=-1, sorted=False),
                                 "max": lambda: pre.max(dim=-1, keepdim=True)}, repeats)
        rows.append({"section": "top1", "width": width, "topk_us": 1e3 * ms["topk"],
                     "max_us": 1e3 * ms["max"]})
        print(f"{width:6d} {1e3 * ms['topk']:8.0f} {1e3 * ms['max']:8.0f} "
              f"{ms['max'] / ms['topk']:9.2f}", flush=True)
    return rows


# ----------------------------------------------------------------------- inference
def inference_section(shapes, elements, n_rows, repeats):
    log_elements = int(math.log2(_sae_inference.INFERENCE_ELEMENTS))
    print(f"\ninference: INFERENCE_ELEMENTS = 2^{log_elements}; "
          f"transform + post-fit statistics of {n_rows} rows, ms")
    rng = np.random.default_rng(0)
    rows, saved = [], _sae_inference.INFERENCE_ELEMENTS
    for n_units, d_sae, topk in shapes:
        X = (rng.poisson(0.3, (n_rows, n_units)) / 5).astype(np.float32)
        sae = SpikeSAE(d_sae=d_sae, topk=topk, n_epochs=1, n_iter_no_change=None,
                       random_state=0).fit(X[:2048])
        data = as_rows(torch.as_tensor(X))

        def run():
            sae.transform(X)
            level_statistics(sae._module, sae._levels, sae._sparsifier, data,
                             inference_block=_sae_inference.inference_rows(d_sae, "cpu"))

        line = []
        for value in elements:
            _sae_inference.INFERENCE_ELEMENTS = value
            try:
                ms = median_ms(run, repeats)
                block = _sae_inference.inference_rows(d_sae, "cpu")
            finally:
                _sae_inference.INFERENCE_ELEMENTS = saved
            rows.append({"section": "inference", "n_units": n_units, "d_sae": d_sae,
                         "elements": value, "block_rows": block, "ms": ms})
            line.append(f"2^{int(math.log2(value))} ({block} rows) {ms:7.0f}")
        print(f"{n_units:4d} x {d_sae:5d}: " + " | ".join(line), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["aux", "gradient", "top1", "inference"])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write every row to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, for CI")
    args = parser.parse_args()
    aux, grad, infer = AUX_SHAPES, GRADIENT_SHAPES, INFERENCE_SHAPES
    fractions, per_row = DEAD_FRACTIONS, ENTRIES_PER_ROW
    elements, n_rows = INFERENCE_ELEMENTS, 30_000
    if args.smoke:
        aux, grad, infer = [(40, 160, 4)], [(40, 160)], [(40, 160, 4)]
        fractions, per_row, elements, n_rows = (0.1, 0.9), (4, 32), (2**16, 2**12), 2000
        args.repeats, args.batch_size = 2, 128
    rows = []
    if args.only in (None, "aux"):
        rows += aux_rows(aux, fractions, args.batch_size, args.repeats)
    if args.only in (None, "gradient"):
        rows += gradient_rows(grad, per_row, args.batch_size, args.repeats)
    if args.only in (None, "top1"):
        rows += top1_rows(TOP1_WIDTHS if not args.smoke else (40,), args.batch_size,
                          10 * args.repeats)
    if args.only in (None, "inference"):
        rows += inference_section(infer, elements, n_rows, max(2, args.repeats // 3))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
