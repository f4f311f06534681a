"""The fit's private solver on plain values: no estimator involved (issue 20)."""

import numpy as np
import pytest
import torch

from sklearn_mini._core.data import as_rows
from sklearn_mini._core.model import SAEModule
from sklearn_mini._core.solver import level_statistics, solve
from sklearn_mini._core.sparsity import make_sparsifier
from sklearn_mini._core.threads import cpu_threads
from sklearn_mini._core.train_state import Level, Position, TrainConfig, TrainState


def test_level_statistics_from_given_counts_by_hand():
    # Two rows; level 0 is latents 0-1, level 1 adds latents 2-3.
    levels = (Level(2, 1), Level(4, 1))
    counts = [torch.tensor([2, 0]), torch.tensor([2, 0, 1, 0])]
    module = SAEModule(3, 4, subtract_decoder_bias=False, output_relu=False,
                       generator=torch.Generator().manual_seed(0), n_levels=2)
    data = as_rows(torch.zeros(2, 3))
    stats = level_statistics(module, levels, make_sparsifier("batchtopk"), data, counts)
    assert stats["dead_fraction"] == 0.5  # latents 1 and 3 never fire
    assert stats["level_mean_l0"] == [1.0, 1.5]
    assert stats["level_dead_fraction"] == [0.5, 0.5]  # latent 1 of level 0, 3 of level 1
    np.testing.assert_array_equal(stats["latent_frequency"], [1.0, 0.0, 0.5, 0.0])


def test_solve_trains_a_module_from_tensors_alone():
    gen = torch.Generator().manual_seed(0)
    atoms = torch.rand(6, 20, generator=gen, dtype=torch.float64)
    codes = torch.rand(600, 6, generator=gen, dtype=torch.float64) * (
        torch.rand(600, 6, generator=gen) < 0.3)
    X = codes @ atoms
    module = SAEModule(20, 12, subtract_decoder_bias=True, output_relu=True, generator=gen,
                       dtype=torch.float64)
    config = TrainConfig(levels=(Level(12, 2),), sparsifier=make_sparsifier("batchtopk"),
                         loss="mse", lr=1e-2, batch_size=64)
    data = as_rows(X)
    result = solve(module, data, config, gen, torch.device("cpu"), n_epochs=8,
                   state=TrainState(), position=Position(),
                   threads=cpu_threads(1, torch.device("cpu")))
    assert result.stopped_by is None and result.module is module
    assert result.position.epoch == 8 and len(result.position.curve) == 8
    assert result.position.curve[-1] < 0.5 * result.position.curve[0]
    assert result.steps == 8 * 10 and result.state.step == result.steps
    # BatchTopK's calibrated threshold gives mean inference L0 = k over the data.
    assert result.statistics["level_mean_l0"][0] == pytest.approx(2, rel=0.05)
    assert "rng_state" in result.state.extra
