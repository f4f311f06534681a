"""The sparse (gather-sum) decoder path gives the dense path's loss, gradients and fits."""

import math

import pytest
import torch

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini._core import training
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.sparsity import batch_top_indices, make_sparsifier
from sklearn_mini._core.training import Level, TrainConfig, Trainer
from sklearn_mini.datasets import make_sparse_counts


@pytest.mark.parametrize("sparsity, levels", [
    ("topk", (Level(64, 4),)),
    ("batchtopk", (Level(64, 4),)),
    ("batchtopk", (Level(16, 2, 0.4), Level(64, 5, 0.6))),
    ("topk", (Level(8, 1, 0.5), Level(24, 2, 0.25), Level(64, 3, 0.25))),
])
@pytest.mark.parametrize("loss", ["msle", "mse"])
@pytest.mark.parametrize("positive_dict", [False, True])
# The sparse path decodes the aux loss's dead latents by gather-sum or by dense
# products over their columns (Trainer._dense_aux_columns); both are checked.
@pytest.mark.parametrize("aux_route", ["gather-sum", "dense"])
def test_sparse_and_dense_paths_give_the_same_loss_and_gradients(sparsity, levels, loss,
                                                                   positive_dict, aux_route,
                                                                   monkeypatch):
    monkeypatch.setattr(training, "AUX_SPARSE_ENTRY_COST",
                        0 if aux_route == "gather-sum" else math.inf)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(96, 12, generator=gen, dtype=torch.float64)
    results = []
    for sparse in (False, True):
        module = SAEModule(12, 64, subtract_decoder_bias=True, output_relu=True,
                           generator=torch.Generator().manual_seed(1), dtype=torch.float64,
                           n_levels=len(levels), positive_dict=positive_dict)
        cfg = TrainConfig(levels=levels, sparsifier=make_sparsifier(sparsity), loss=loss,
                          sparse_decoder=sparse, k_aux=6, dead_window=1)
        trainer = Trainer(module, cfg, gen, torch.device("cpu"))
        trainer.steps_since_fired[40:] = 5  # some dead latents: the aux loss runs too
        trainer._has_dead = True
        if sparse:
            assert (trainer._dense_aux_columns() is None) == (aux_route == "gather-sum")
        total, fired = trainer._loss(x)
        total.backward()
        grads = {name: p.grad.clone() for name, p in module.named_parameters()}
        results.append((total.detach(), fired, grads))
    (dense_loss, dense_fired, dense_grads), (sparse_loss, sparse_fired, sparse_grads) = results
    torch.testing.assert_close(sparse_loss, dense_loss, rtol=1e-5, atol=0)
    assert torch.equal(sparse_fired, dense_fired)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, rtol=1e-5, atol=1e-12, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("make", [
    # 250 epochs of 4 batches: the 1000 steps of the wave-1 minimum are enough to compare
    # the two paths, and the test stays short.
    lambda path: SpikeSAE(d_sae=128, topk=4, sparsity="batchtopk", decoder_path=path,
                          n_epochs=250, random_state=0),
    lambda path: SpikeSAE(d_sae=128, topk=4, sparsity="topk", decoder_path=path,
                          n_epochs=250, random_state=0),
    lambda path: MatryoshkaSAE(levels=((32, 2), (128, 4)), decoder_path=path, n_epochs=250,
                               random_state=0),
])
def test_sparse_and_dense_fits_explain_the_same_variance(make):
    X, _ = make_sparse_counts(n_samples=6000, n_features=48, n_atoms=32, n_active=3,
                              random_state=0)
    X = X / X.max()
    train, test = X[:4000], X[4000:]
    dense, sparse = make("dense").fit(train), make("sparse").fit(train)
    assert abs(dense.score(test) - sparse.score(test)) <= 0.01
    assert sparse._train_config(sparse._levels, 4000, 48)[0].sparse_decoder


def _uses_sparse(sae, d):
    """The decision ``fit`` makes for ``sae`` with one level of ``d`` latents."""
    from sklearn_mini._core.training import Level

    k = sae.topk if isinstance(sae.topk, int) else 8
    return sae._use_sparse_decoder(d, (Level(d, k),))


def test_auto_picks_sparse_only_where_it_pays():
    assert _uses_sparse(SpikeSAE(d_sae=2048, topk=8), 2048)
    assert not _uses_sparse(SpikeSAE(d_sae=16, topk=4), 16)
    assert not _uses_sparse(SpikeSAE(d_sae=256, topk=4), 256)  # dense wins there
    assert not _uses_sparse(SpikeSAE(d_sae=1024, topk=64), 1024)
    assert not _uses_sparse(SpikeSAE(d_sae=2048, topk=8, sparsity="relu"), 2048)
    assert not _uses_sparse(SpikeSAE(d_sae=2048, decoder_layers=(32,)), 2048)
    assert _uses_sparse(SpikeSAE(d_sae=16, topk=4, decoder_path="sparse"), 16)


@pytest.mark.parametrize("busy_rows", [0, 1, 5])
def test_batch_top_indices_equal_a_full_selection(busy_rows):
    gen = torch.Generator().manual_seed(busy_rows)
    pre = torch.randn(128, 512, generator=gen, dtype=torch.float64)
    pre[:busy_rows] += 20.0  # rows holding far more than 8 k of the batch's top entries
    n_keep = 4 * 128
    got = batch_top_indices(pre, n_keep)
    want = pre.flatten().topk(n_keep).indices
    assert torch.equal(got.sort().values, want.sort().values)


def test_aux_loss_goes_dense_while_few_latents_are_dead_per_selected_one():
    module = SAEModule(8, 100, subtract_decoder_bias=True, output_relu=False,
                       generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(levels=(Level(100, 2),), sparsifier=make_sparsifier("topk"),
                      loss="mse", sparse_decoder=True, k_aux=2, dead_window=1)
    trainer = Trainer(module, cfg, torch.Generator().manual_seed(0), torch.device("cpu"))
    limit = training.AUX_SPARSE_ENTRY_COST * 2
    trainer.steps_since_fired[:limit] = 5
    assert trainer._dense_aux_columns().tolist() == list(range(limit))
    trainer.steps_since_fired[limit] = 5
    assert trainer._dense_aux_columns() is None


@pytest.mark.parametrize("cells_per_entry", [0, math.inf], ids=["sparse-product", "scatter"])
def test_dense_times_sparse_routes_equal_the_dense_product(cells_per_entry, monkeypatch):
    from sklearn_mini._core import sparse_ops

    monkeypatch.setattr(sparse_ops, "SCATTER_MAX_CELLS_PER_ENTRY", cells_per_entry)
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(30, 5, generator=gen, dtype=torch.float64).T  # a transposed view, as in use
    rows = torch.tensor([0, 0, 3, 29, 3, 7])
    cols = torch.tensor([1, 1, 0, 11, 0, 4])  # repeated entries add up
    values = torch.randn(6, generator=gen, dtype=torch.float64)
    S = torch.zeros(30, 12, dtype=torch.float64).index_put_((rows, cols), values, accumulate=True)
    torch.testing.assert_close(sparse_ops._dense_times_sparse(a, rows, cols, values, 12), a @ S)


def _level_codes(pre, selection):
    """Dense ReLU'd codes of a selection (what the decoder sees)."""
    codes = torch.zeros_like(pre)
    codes[selection.rows, selection.cols] = pre[selection.rows, selection.cols].relu()
    return codes


@pytest.mark.parametrize("shift", [0.0, -1.5, -4.0, 2.0],
                         ids=["half-positive", "few-positive", "almost-none", "all-positive"])
def test_topk_nested_selection_decodes_as_a_top_k_per_level(shift):
    from sklearn_mini._core.sparsity import TopK

    gen = torch.Generator().manual_seed(0)
    pre = torch.randn(256, 64, generator=gen, dtype=torch.float64) + shift
    pre[:8, 32:] += 6.0  # rows whose top-k over all latents lies outside the prefixes
    levels = (Level(8, 2), Level(16, 4), Level(32, 9), Level(64, 6))  # k need not grow
    topk = TopK()
    nested = topk.select_levels(pre, levels)
    for level, selection in zip(levels, nested):
        want = _level_codes(pre[:, : level.d], topk.select(pre[:, : level.d], level.k))
        got = _level_codes(pre[:, : level.d], selection)
        assert torch.equal(got, want), level
        assert len(selection.offsets) == len(pre)
        sizes = torch.diff(selection.offsets, append=torch.tensor([len(selection.cols)]))
        assert torch.equal(selection.rows, torch.arange(len(pre)).repeat_interleave(sizes))


@pytest.mark.parametrize("k", [1, 3, 50])
def test_row_topk_equals_torch_topk(k):
    from sklearn_mini._core.sparsity import row_topk

    pre = torch.randn(64, 40, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    values, index = row_topk(pre, k)
    want = pre.topk(min(k, 40), dim=-1)
    assert values.shape == index.shape == (64, min(k, 40))
    assert torch.equal(values.sort(-1).values, want.values.sort(-1).values)
    assert torch.equal(index.sort(-1).values, want.indices.sort(-1).values)
    assert torch.equal(pre.gather(-1, index), values)
