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
