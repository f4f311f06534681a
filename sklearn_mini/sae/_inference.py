"""Inference of a fitted SAE: codes (encoder or OMP), decoding, reconstruction, R² per lag.

A mixin of :class:`~sklearn_mini._base._BaseSAE`. Inference is row-wise and runs in
blocks (:func:`inference_rows`), so memory stays bounded and a row's code never depends
on the other rows of the call.
"""


import numpy as np
import scipy.sparse as sp
import torch
from sklearn.decomposition import sparse_encode
from sklearn.utils.validation import check_array, check_is_fitted

from .._core.device import resolve_device
from .._core.inference import CUDA_ROW_ALIGN, ROW_ALIGN, encode, iter_batches
from ..evaluation.metrics import dense_float64, explained_variance
from ._sequence import lag_block, windows

# Rows per block for inference, at most; blocks also hold at most INFERENCE_ELEMENTS
# codes (4 MB in float32), which bounds the memory of transform/score and of the
# post-fit calibration for large dictionaries. Small blocks are also faster on the CPU:
# their buffers are reused instead of fresh pages faulted in for every block
# (benchmarks/bench_kernels.py --only inference: 2^20 was 1.35-1.45x faster than 2^24).
INFERENCE_BATCH = 8192
INFERENCE_ELEMENTS = 2**20


def inference_rows(d_sae, device):
    """Rows per inference block for a dictionary of ``d_sae`` latents on ``device``.

    A multiple of ``ROW_ALIGN`` (row-wise bit-identical codes); on CUDA every block is
    padded to ``CUDA_ROW_ALIGN`` rows anyway, so blocks keep that size there.
    """
    if torch.device(device).type == "cuda":
        return CUDA_ROW_ALIGN
    rows = INFERENCE_ELEMENTS // max(1, d_sae) // ROW_ALIGN * ROW_ALIGN
    return int(min(INFERENCE_BATCH, max(ROW_ALIGN, rows)))


class _InferenceMixin:
    """transform / inverse_transform / reconstruct / score_lags of a fitted SAE."""

    def _module_on(self, device):
        """The fitted module, moved (in place) to ``device`` when it is elsewhere."""
        if self._module.W_dec.device != device:
            self._module.to(device)
        return self._module

    def _inference_setup(self, X):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        device = resolve_device(self.device)
        return X, device, self._module_on(device)

    def _encode_blocks(self, X, level_index=-1, groups=None):
        """Yield ``(x_block, codes_block)`` tensor pairs for the rows of ``X``.

        With ``seq_len > 1`` the blocks hold windows (zero-padded before each segment's
        start), one per row of ``X``.
        """
        X, device, module = self._inference_setup(X)
        X = windows(X, self.seq_len, groups)
        index = level_index % len(self._levels)
        level = self._levels[index]
        with torch.inference_mode(), self._threads(module, device):
            for block in iter_batches(X, inference_rows(module.d_sae, device)):
                x = self._to_tensor(block, device)
                if self.transform_algorithm == "omp":
                    yield x, self._omp_codes(module, x, level)
                else:
                    yield x, encode(module, x, level, index, self._sparsifier)

    def _omp_codes(self, module, x, level):
        """Codes by orthogonal matching pursuit over the level's atoms (k non-zeros).

        Solves ``min ||x - b - z W||`` with at most ``k`` non-zero ``z`` (signs free)
        using :func:`sklearn.decomposition.sparse_encode`; row-wise by construction.
        """
        atoms = module.W_dec[: level.d].double().cpu().numpy()
        centred = (x.double() - module.b_dec.double()).cpu().numpy()
        codes = sparse_encode(centred, atoms, algorithm="omp",
                              n_nonzero_coefs=min(level.k, level.d))
        return torch.as_tensor(codes, dtype=x.dtype, device=x.device)

    def _out_dtype(self, X):
        dtype = getattr(X, "dtype", None)
        return dtype if dtype in (np.float32, np.float64) else np.float64

    def transform(self, X, groups=None):
        """Sparse latent activations of ``X``.

        Inference is row-wise: BatchTopK uses its calibrated threshold, so the code of a
        row never depends on the other rows of the call. With ``seq_len > 1`` row ``t``
        is coded from the window of bins ``t - seq_len + 1 .. t``; bins before the start
        of ``X`` (or of the row's segment in ``groups``) are taken as zero.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts with the units seen in ``fit``.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels (``seq_len > 1`` only), as in :meth:`fit`.

        Returns
        -------
        Z : ndarray of shape (n_samples, d_sae)
            Non-negative latent activations (mostly zeros).
        """
        out_dtype = self._out_dtype(X)
        blocks = [z.cpu().numpy() for _, z in self._encode_blocks(X, groups=groups)]
        return np.concatenate(blocks).astype(out_dtype, copy=False)

    def _check_codes(self, X):
        """Latent activations as a dense float array (clear errors for bad input)."""
        Z = check_array(X, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc", "coo"])
        return Z.toarray() if sp.issparse(Z) else Z

    def _decode(self, Z, like):
        """Decode the dense codes ``Z`` with the first ``Z.shape[1]`` atoms."""
        device = resolve_device(self.device)
        module = self._module_on(device)
        with torch.inference_mode():
            out = [module.decode(self._to_tensor(b, device)).cpu().numpy()
                   for b in iter_batches(Z, inference_rows(module.d_sae, device))]
        out = lag_block(np.concatenate(out), self.seq_len, 0)
        return out.astype(self._out_dtype(like), copy=False)

    def inverse_transform(self, X):
        """Reconstruct spike counts from latent activations.

        Parameters
        ----------
        X : array-like of shape (n_samples, d_sae)
            Latent activations, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            ``X @ components_ + decoder bias`` through the output link (ReLU when
            ``output_relu_``, softplus for ``loss='poisson'``), or the nonlinear
            decoder's output. With ``seq_len > 1``, the reconstruction of each window's
            own (last) bin.
        """
        check_is_fitted(self)
        Z = self._check_codes(X)
        if Z.shape[1] != self.d_sae_:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but {type(self).__name__} has d_sae_={self.d_sae_} "
                "latents: inverse_transform expects latent activations."
            )
        return self._decode(Z, X)

    def _reconstruct(self, X, level_index=-1, groups=None, window=False):
        """Reconstruction through a level's code: of each row's own bin, or its window."""
        out_dtype = self._out_dtype(X)
        module = self._module
        blocks = [module.decode(z).cpu().numpy()
                  for _, z in self._encode_blocks(X, level_index, groups)]
        out = np.concatenate(blocks)
        out = out if window else lag_block(out, self.seq_len, 0)
        return out.astype(out_dtype, copy=False)

    def reconstruct(self, X, groups=None):
        """Reconstruction of ``X`` through the sparse code (``inverse_transform(transform(X))``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts.
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels (``seq_len > 1`` only), as in :meth:`fit`.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Reconstructed counts (of each row's own bin when ``seq_len > 1``).
        """
        return self._reconstruct(X, groups=groups)

    def score_lags(self, X, groups=None):
        """Explained variance of the reconstruction at every lag of the window.

        Only rows whose whole window lies inside ``X`` (and its segment) are scored, so
        zero padding never enters a score.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Binned spike counts (held-out time, to judge a model).
        groups : array-like of shape (n_samples,) or None, default=None
            Segment labels, as in :meth:`fit`.

        Returns
        -------
        scores : ndarray of shape (seq_len,)
            ``scores[lag]``: pooled explained variance of bin ``t - lag`` reconstructed
            from the window ending at ``t`` (``lag=0`` is the window's own bin).
        """
        check_is_fitted(self)
        X_dense = self._validate_X(X, reset=False)
        X_hat = self._reconstruct(X_dense, groups=groups, window=True)
        observed, rows = windows(X_dense, self.seq_len, groups, full_only=True)
        if rows.size == 0:
            raise ValueError(f"X has no full window of seq_len={self.seq_len} bins to score.")
        return np.array([
            explained_variance(lag_block(observed, self.seq_len, lag).astype(np.float64),
                               lag_block(X_hat[rows], self.seq_len, lag))
            for lag in range(self.seq_len)
        ])

    def _scored(self, X):
        """``(X dense in float64, its reconstruction)`` for ``score``."""
        return dense_float64(X), self._reconstruct(X)
