"""The sparse (gather-sum) decoder path gives the dense path's loss, gradients and fits."""

import numpy as np
import pytest
import torch

from sklearn_mini import MatryoshkaSAE, SpikeSAE
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
def test_sparse_and_dense_paths_give_the_same_loss_and_gradients(sparsity, levels, loss,
                                                                   positive_dict):
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
        total, fired = trainer._loss(x)
        total.backward()
        grads = {name: p.grad.clone() for name, p in module.named_parameters()}
        results.append((total.detach(), fired, grads))
    (dense_loss, dense_fired, dense_grads), (sparse_loss, sparse_fired, sparse_grads) = results
    torch.testing.assert_close(sparse_loss, dense_loss, rtol=1e-5, atol=0)
    assert torch.equal(sparse_fired, dense_fired)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, rtol=1e-5, atol=1e-12, msg=name)


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
