"""Inference on a trained :class:`~.model.SAEModule`: row blocks, the padded products
that make a row's code independent of its neighbours, threshold calibration (BatchTopK)
and firing counts."""

import torch

from .data import as_rows
from .sparsity import ThresholdCalibrator

# Inference pads every block of rows. BLAS libraries pick their kernel by the matrix
# shape, and a 1-row product (gemv) rounds differently from a many-row one (gemm). On the
# CPU padding to a multiple of ROW_ALIGN rows makes a row's code bit-identical whatever
# else is in the call; cuBLAS also varies its kernel (and split-K reduction) with the
# row count, so on CUDA every block is padded to the full inference block size.
ROW_ALIGN = 64
CUDA_ROW_ALIGN = 8192


def iter_batches(X, batch_size):
    """Consecutive row blocks of ``X``."""
    for start in range(0, X.shape[0], batch_size):
        yield X[start:start + batch_size]


def padded_pre_activations(module, x, d=None):
    """Pre-activations of ``x`` computed on a row block padded to ``ROW_ALIGN`` rows."""
    n_rows = x.shape[0]
    pad = -n_rows % (CUDA_ROW_ALIGN if x.is_cuda else ROW_ALIGN)
    if pad:
        x = torch.cat([x, x.new_zeros(pad, x.shape[1])])
    return module.pre_activations(x, d)[:n_rows]


@torch.no_grad()
def calibrate_thresholds(module, X, levels, sparsifier, batch_size=8192):
    """Set ``module.thresholds`` for every level from the training data ``X``.

    For BatchTopK each level's threshold makes the mean inference L0 over ``X`` equal
    its ``k``; one pass over ``X`` serves every level, and the per-latent inference
    firing counts of each level come with it (returned, a list with one tensor per
    level). Other sparsifiers keep a threshold of 0 and return ``None``.
    """
    if not sparsifier.uses_threshold:
        module.thresholds.zero_()
        return None
    X = as_rows(X)
    calibrators = [ThresholdCalibrator(level.k * X.n_rows, level.d) for level in levels]
    for xb in X.blocks(batch_size):
        pre = padded_pre_activations(module, xb, levels[-1].d)
        for level, calibrator in zip(levels, calibrators):
            calibrator.update(pre[:, : level.d])
    counts = []
    for i, calibrator in enumerate(calibrators):
        threshold, level_counts = calibrator.result()
        module.thresholds[i] = threshold
        counts.append(level_counts)
    return counts


@torch.no_grad()
def encode(module, x, level, level_index, sparsifier):
    """Inference codes of one level for a batch ``x`` (row-wise, no batch coupling)."""
    pre = padded_pre_activations(module, x, level.d)
    return sparsifier.infer_codes(pre, level.k, float(module.thresholds[level_index]), module)


@torch.no_grad()
def firing_counts(module, X, level, level_index, sparsifier, batch_size=8192):
    """Per-latent number of samples of ``X`` on which each latent fires at inference."""
    X = as_rows(X)
    counts = torch.zeros(level.d, dtype=torch.long, device=X.device)
    for xb in X.blocks(batch_size):
        counts += (encode(module, xb, level, level_index, sparsifier) > 0).sum(0)
    return counts, float(counts.sum()) / max(1, X.n_rows)
