"""BatchTopK's calibrated inference threshold, computed exactly in one streaming pass."""

import torch


class ThresholdCalibrator:
    """Exact streaming BatchTopK calibration: threshold and per-latent firing counts.

    Blocks of pre-activations (samples x latents) are streamed once. Only entries that
    can still be among the ``n_keep + 1`` largest positive values are kept, with their
    latent index: positive ones at first, then those at or above a floor, the
    ``(n_keep + 1)``-th largest value kept so far (more data can only raise the final
    one). The kept set is pruned back to that size whenever it doubles, so the work is
    a comparison and a gather per value plus amortised linear-time selections, and the
    memory about ``2 (n_keep + 1)`` values and indices.
    """

    def __init__(self, n_keep, n_latents):
        self.n_keep = int(n_keep)
        self.n_latents = int(n_latents)
        self.floor = None  # None: keep positive values; else values >= floor
        self.values, self.latents, self.size = [], [], 0

    def update(self, pre):
        """Add one block (samples x latents, possibly a column-prefix view)."""
        mask = pre > 0 if self.floor is None else pre >= self.floor
        values = pre[mask]
        if values.numel() > 2 * (self.n_keep + 1):
            # One block alone holds more than enough: raise the floor from it first, so
            # the indices below are formed for about n_keep entries, not all of them.
            self.floor = torch.kthvalue(values, values.numel() - self.n_keep).values
            mask = pre >= self.floor
            values = pre[mask]
        self.values.append(values)
        self.latents.append(mask.nonzero()[:, 1].to(torch.int32))
        self.size += values.numel()
        if self.size > 2 * (self.n_keep + 1):
            self._prune()

    def _prune(self):
        values, latents = torch.cat(self.values), torch.cat(self.latents)
        if values.numel() > self.n_keep + 1:
            # (n_keep + 1)-th largest = (N - n_keep)-th smallest; ties at it are all kept.
            cut = torch.kthvalue(values, values.numel() - self.n_keep).values
            keep = values >= cut
            values, latents = values[keep], latents[keep]
            self.floor = cut
        self.values, self.latents, self.size = [values], [latents], values.numel()

    def result(self):
        """``(threshold, counts)``: the midpoint between the ``n_keep``-th and
        ``(n_keep + 1)``-th largest positive values seen (0 when there are at most
        ``n_keep``, and then every positive value counts), and per latent the number of
        values above it, i.e. how often each latent fires at inference."""
        self._prune()
        values, latents = self.values[0], self.latents[0]
        n = values.numel()
        if n <= self.n_keep:
            threshold = 0.0
        else:
            upper = torch.kthvalue(values, n - self.n_keep + 1).values.double()
            lower = torch.kthvalue(values, n - self.n_keep).values.double()
            threshold = float((upper + lower) / 2)
        fires = latents[values > threshold]
        return threshold, torch.bincount(fires.long(), minlength=self.n_latents)


def batchtopk_threshold(pre_batches, k, n_samples):
    """Calibrated BatchTopK inference threshold (see :class:`ThresholdCalibrator`).

    ``pre_batches`` is a callable returning an iterator over pre-activation blocks. The
    threshold is chosen so that exactly ``k * n_samples`` pre-activations exceed it,
    i.e. the mean inference L0 over those samples equals ``k`` (up to ties).
    """
    calibrator = None
    for pre in pre_batches():
        calibrator = calibrator or ThresholdCalibrator(k * n_samples, pre.shape[-1])
        calibrator.update(pre)
    return 0.0 if calibrator is None else calibrator.result()[0]
