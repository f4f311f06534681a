"""Sparse-path kernels of :class:`~.model.SAEModule`: custom autograd functions whose
backward touches only the selected entries of the pre-activations, and the dense-by-sparse
product they are built on. Kept apart, as the one place to tune or replace (the
crossover constants are measured by ``benchmarks/bench_kernels.py``).
"""

import warnings

import torch

# ``a @ S`` (S sparse, ``a.shape[1]`` x ``n_cols``) is formed by scattering S into a dense
# matrix and one dense product, rather than by a sparse product, while S has at least one
# entry per this many of its cells: benchmarks/bench_kernels.py --only gradient puts the
# crossover at 50-180 cells per entry on the 2-core development CPU (at 71-739 units,
# 1024-8192 latents); the scatter is 1.5-6x faster well below it. CPU only.
SCATTER_MAX_CELLS_PER_ENTRY = 64


def _dense_times_sparse(a, rows, cols, values, n_cols):
    """``a @ S`` for the sparse ``S`` with ``values`` at ``(rows, cols)`` (repeats add).

    On the CPU a dense-by-CSR product writes the result in ``a``'s row-major layout
    directly, unless ``S`` is dense enough to scatter (SCATTER_MAX_CELLS_PER_ENTRY); on
    CUDA the long-supported sparse-by-dense product is used and transposed.
    """
    shape = (a.shape[1], n_cols)
    if not a.is_cuda and shape[0] * shape[1] <= SCATTER_MAX_CELLS_PER_ENTRY * len(values):
        return a @ a.new_zeros(shape).index_put_((rows, cols), values, accumulate=True)
    with warnings.catch_warnings():  # torch flags sparse CSR as beta and checks as off
        warnings.simplefilter("ignore", UserWarning)
        if a.is_cuda:
            coo = torch.sparse_coo_tensor(torch.stack([cols, rows]), values,
                                          (n_cols, a.shape[1]), check_invariants=False)
            return torch.sparse.mm(coo, a.T).T.contiguous()
        coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape,
                                      check_invariants=False)
        return a @ coo.coalesce().to_sparse_csr()


class SelectedPreActivations(torch.autograd.Function):
    """``pre[rows, cols]`` of ``pre = (x - offset) @ weight + bias``, from its precomputed
    values, with a backward that touches only the selected entries.

    With ``S`` the sparse batch x d_sae matrix holding the incoming gradient at the
    selected entries (repeated entries add up): ``grad_bias = column sums of S``,
    ``grad_weight = (x - offset).T @ S`` (one sparse product, in the weight's layout) and
    ``grad_offset = -weight @ (column sums of S over the first n_offset entries)``: the
    later entries (the aux loss's) must not move the offset. ``x`` gets no gradient.
    """

    @staticmethod
    def forward(ctx, values, x, offset, weight, bias, rows, cols, n_offset):
        ctx.save_for_backward(x, offset, weight, rows, cols)
        ctx.n_offset = n_offset
        return values.clone()

    @staticmethod
    def backward(ctx, grad):
        x, offset, weight, rows, cols = ctx.saved_tensors
        d = weight.shape[1]
        grad_bias = grad.new_zeros(d).index_add_(0, cols, grad)
        grad_weight = grad_offset = None
        if ctx.needs_input_grad[3]:
            centred = x if offset is None else x - offset
            grad_weight = _dense_times_sparse(centred.T, rows, cols, grad, d)
        if ctx.needs_input_grad[2]:
            n = ctx.n_offset
            grad_offset = -(weight @ grad.new_zeros(d).index_add_(0, cols[:n], grad[:n]))
        return None, None, grad_offset, grad_weight, grad_bias, None, None, None


class ColumnPreActivations(torch.autograd.Function):
    """Columns ``cols`` of ``pre = (x - offset) @ weight + bias``, from their precomputed
    values, with gradients to those columns of ``weight`` and ``bias`` only.

    The dense counterpart of :class:`SelectedPreActivations` for the aux loss, whose
    dead latents are selected in a large share of the samples: ``grad_weight[:, cols] =
    (x - offset).T @ grad`` is one dense product. The offset (``b_dec``) gets no
    gradient, as the aux loss must not move it; ``x`` gets none either.
    """

    @staticmethod
    def forward(ctx, values, x, offset, weight, bias, cols):
        ctx.save_for_backward(x, offset, cols)
        ctx.shape = weight.shape
        return values.clone()

    @staticmethod
    def backward(ctx, grad):
        x, offset, cols = ctx.saved_tensors
        grad_bias = grad_weight = None
        if ctx.needs_input_grad[4]:
            grad_bias = grad.new_zeros(ctx.shape[1]).index_add_(0, cols, grad.sum(0))
        if ctx.needs_input_grad[3]:
            centred = x if offset is None else x - offset
            grad_weight = grad.new_zeros(ctx.shape).index_copy_(1, cols, centred.T @ grad)
        return None, None, None, grad_weight, grad_bias, None


class DeadDecode(torch.autograd.Function):
    """``codes @ weight`` where only the positive part of ``codes`` trains ``weight``.

    The aux loss decodes its dead latents' positive codes through the atoms and their
    non-positive parts through frozen atoms (:meth:`.model.SAEModule.decode_dead`); both are
    one product of the signed codes, and only the weight's gradient tells them apart.
    """

    @staticmethod
    def forward(ctx, codes, weight):
        ctx.save_for_backward(codes, weight)
        return codes @ weight

    @staticmethod
    def backward(ctx, grad):
        codes, weight = ctx.saved_tensors
        grad_codes = grad @ weight.T if ctx.needs_input_grad[0] else None
        grad_weight = codes.relu().T @ grad if ctx.needs_input_grad[1] else None
        return grad_codes, grad_weight
