"""Training rows held on the device, or streamed batch by batch from a host array.

A fit keeps its training data as one tensor on the device when it fits under the
estimator's ``data_memory_limit``; a larger array (a numpy memmap included) stays where
it is and every batch is gathered from it and copied over. Both give the trainer the
same rows in the same order, so the two paths train the same model.
"""

import numpy as np
import torch

# Rows per block when a statistic is computed over all the data.
BLOCK_ROWS = 8192


class DeviceRows:
    """Training rows as one tensor on the device."""

    streamed = False

    def __init__(self, X, dtype, device):
        self.X = torch.tensor(np.asarray(X), dtype=dtype, device=device)
        self.dtype, self.device = dtype, self.X.device
        self.n_rows, self.n_features = self.X.shape

    @classmethod
    def of_tensor(cls, X):
        """Wrap a tensor that is already on its device."""
        rows = cls.__new__(cls)
        rows.X, rows.dtype, rows.device = X, X.dtype, X.device
        rows.n_rows, rows.n_features = X.shape
        return rows

    def take(self, index):
        """The rows at ``index`` (a CPU or device long tensor), on the device."""
        return self.X.index_select(0, index.to(self.device))

    def blocks(self, size=BLOCK_ROWS):
        """Consecutive row blocks, in order."""
        for start in range(0, self.n_rows, size):
            yield self.X[start:start + size]


class HostRows(DeviceRows):
    """Training rows left in a host array; batches are copied to the device on demand."""

    streamed = True

    def __init__(self, X, dtype, device):
        self.X = X
        self.dtype, self.device = dtype, torch.device(device)
        self.n_rows, self.n_features = X.shape

    def _to_device(self, rows):
        # A copy: memmap rows may be read-only, which torch will not wrap.
        return torch.tensor(np.asarray(rows)).to(self.device, self.dtype)

    def take(self, index):
        return self._to_device(self.X[index.cpu().numpy()])

    def blocks(self, size=BLOCK_ROWS):
        for start in range(0, self.n_rows, size):
            yield self._to_device(self.X[start:start + size])


def as_rows(X):
    """``X`` itself when it is a rows object, else a device tensor wrapped as one."""
    return X if isinstance(X, DeviceRows) else DeviceRows.of_tensor(X)


def training_rows(X, dtype, device, limit_bytes):
    """:class:`DeviceRows` when ``X`` (as ``dtype``) fits in ``limit_bytes``, else
    :class:`HostRows`."""
    size = X.shape[0] * X.shape[1] * torch.empty((), dtype=dtype).element_size()
    cls = DeviceRows if size <= limit_bytes else HostRows
    return cls(X, dtype, device)


def column_mean(rows):
    """Per-column mean (float64) accumulated block by block, the same for both kinds."""
    total = torch.zeros(rows.n_features, dtype=torch.float64, device=rows.device)
    for block in rows.blocks():
        total += block.sum(0, dtype=torch.float64)
    return (total / max(1, rows.n_rows)).cpu()


def minimum(rows):
    """Smallest value of the data."""
    return min(float(block.min()) for block in rows.blocks())


def fingerprint(X):
    """A hash of an array's shape, dtype and bytes (read block by block: memmaps stay lazy)."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((X.shape, str(X.dtype))).encode())
    for start in range(0, X.shape[0], BLOCK_ROWS):
        digest.update(np.ascontiguousarray(X[start:start + BLOCK_ROWS]).tobytes())
    return digest.hexdigest()


def default_limit_bytes(device):
    """``data_memory_limit='auto'``: half the free CUDA memory, or a quarter of the RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows)
        return 4 * 2**30


def active_units_per_bin(X, block=65536):
    """Mean number of units with a non-zero count in the bins that have any.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Binned counts (read block by block, so a memmap is not loaded whole).
    block : int, default=65536
        Rows read at a time.

    Returns
    -------
    active : float
        0.0 when no bin has a spike.
    """
    active = bins = 0
    for start in range(0, X.shape[0], block):
        # ``!= 0`` then a row sum counts non-zeros of a dense block and a sparse one alike.
        counts = np.asarray((X[start:start + block] != 0).sum(axis=1)).ravel()
        active += int(counts.sum())
        bins += int(np.count_nonzero(counts))
    return active / bins if bins else 0.0
