import os

# scikit-learn's array-API estimator check (run on NumPy input for estimators without
# array-API support) only runs when SciPy's array API mode is on; it must be set before
# SciPy is first imported, so it is set here rather than in a fixture.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pathlib

import pytest
import torch

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"

cuda_only = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device; none is present on this machine"
)


def fast_sae_params(**overrides):
    """Small, quick SpikeSAE parameters for tests that only check behaviour."""
    params = dict(d_sae=16, topk=2, n_epochs=3, batch_size=64, device="cpu", random_state=0)
    params.update(overrides)
    return params


def simulated_spikes(n_units=30, duration=120.0, n_atoms=8, n_active=2, rate_scale=2.0, seed=0):
    """``(n_spikes, 2)`` array of ``[time, unit]`` from :func:`make_sparse_spikes`."""
    from sklearn_mini.datasets import make_sparse_spikes

    spikes, _ = make_sparse_spikes(n_units=n_units, duration=duration, n_atoms=n_atoms,
                                   n_active=n_active, rate_scale=rate_scale, random_state=seed)
    return spikes.to_array()
