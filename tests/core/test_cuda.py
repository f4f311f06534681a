"""CUDA behaviour: same semantics as the CPU; models move to CPU-only machines.

These tests need a GPU and are skipped where torch sees none (CI has none; they are run
on a lent GPU machine, see benchmarks/gpu_check.sh).
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from sklearn_mini import MatryoshkaSAE, SpikeSAE
from sklearn_mini.datasets import make_sparse_counts

from ..conftest import cuda_only

pytestmark = [cuda_only, pytest.mark.cuda]


@pytest.fixture(scope="module")
def data():
    X, _ = make_sparse_counts(n_samples=4000, n_features=48, n_atoms=24, n_active=3,
                              random_state=0)
    return X / X.max()


@pytest.fixture(scope="module")
def cuda_fit(data):
    return SpikeSAE(d_sae=128, topk=4, n_epochs=20, device="cuda", random_state=0).fit(data)


def test_auto_picks_cuda(data):
    sae = SpikeSAE(d_sae=32, topk=2, n_epochs=1, random_state=0).fit(data)
    assert sae._module.W_dec.device.type == "cuda"


def test_cuda_fit_has_cpu_semantics(data, cuda_fit):
    cpu_fit = SpikeSAE(d_sae=128, topk=4, n_epochs=20, device="cpu", random_state=0).fit(data)
    l0 = np.count_nonzero(cuda_fit.transform(data), axis=1).mean()
    assert abs(l0 - 4) <= 0.05 * 4
    assert abs(cuda_fit.score(data) - cpu_fit.score(data)) < 0.02
    assert cuda_fit.n_steps_ == cpu_fit.n_steps_
    # Identical initialisation and batch order: the first epoch's loss agrees closely.
    assert cuda_fit.loss_curve_[0] == pytest.approx(cpu_fit.loss_curve_[0], rel=1e-3)


def test_cuda_transform_is_row_wise(data, cuda_fit):
    Z = cuda_fit.transform(data)
    for rows in (slice(0, 7), slice(3000, 3001), slice(100, 2100)):
        part = cuda_fit.transform(data[rows])
        assert ((part > 0) == (Z[rows] > 0)).all(), "active latents depend on other rows"
        np.testing.assert_allclose(part, Z[rows], rtol=1e-5, atol=1e-6)


def test_pickled_cuda_model_holds_cpu_tensors_and_runs_on_cpu(data, cuda_fit):
    state = cuda_fit.__getstate__()
    assert state["_module"].W_dec.device.type == "cpu"
    again = pickle.loads(pickle.dumps(cuda_fit)).set_params(device="cpu")
    # CPU and GPU float32 products agree to round-off.
    np.testing.assert_allclose(again.transform(data), cuda_fit.transform(data),
                               rtol=1e-4, atol=1e-5)


def test_cuda_model_loads_in_a_process_without_gpu(data, cuda_fit, tmp_path):
    pickle_path = tmp_path / "m.pkl"
    pickle_path.write_bytes(pickle.dumps(cuda_fit))
    save_dir = cuda_fit.save(tmp_path / "saved")
    np.save(tmp_path / "x.npy", data[:50])
    np.save(tmp_path / "z.npy", cuda_fit.transform(data[:50]))
    code = (
        "import pickle, numpy as np, torch, sys\n"
        "from sklearn_mini import load\n"
        "assert not torch.cuda.is_available()\n"
        f"x = np.load(r'{tmp_path / 'x.npy'}'); z = np.load(r'{tmp_path / 'z.npy'}')\n"
        f"m = pickle.loads(open(r'{pickle_path}', 'rb').read()).set_params(device='cpu')\n"
        "np.testing.assert_allclose(m.transform(x), z, rtol=1e-4, atol=1e-5)\n"
        f"m2 = load(r'{save_dir}', device='cpu')\n"
        "np.testing.assert_allclose(m2.transform(x), z, rtol=1e-4, atol=1e-5)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_matryoshka_cuda_matches_cpu_per_level(data):
    params = dict(levels=((16, 2), (64, 4)), n_epochs=10, random_state=0)
    gpu = MatryoshkaSAE(device="cuda", **params).fit(data)
    cpu = MatryoshkaSAE(device="cpu", **params).fit(data)
    np.testing.assert_allclose(gpu.score_levels(data), cpu.score_levels(data), atol=0.02)
    for level, k in enumerate((2, 4)):
        l0 = np.count_nonzero(gpu.transform_level(data, level), axis=1).mean()
        assert abs(l0 - k) <= 0.05 * k


@pytest.mark.parametrize("params", [
    dict(sparsity="jumprelu", loss="poisson"), dict(sparsity="gated", loss="msle_asym", tau=2.0),
    dict(sparsity="relu", l1_penalty="tanh", decoder_layers=(16,)), dict(seq_len=3, topk=3),
])
def test_design_space_options_on_cuda_match_cpu(data, params):
    common = dict(d_sae=48, n_epochs=10, random_state=0, **params)
    gpu = SpikeSAE(device="cuda", **common).fit(data)
    cpu = SpikeSAE(device="cpu", **common).fit(data)
    assert gpu.loss_curve_[0] == pytest.approx(cpu.loss_curve_[0], rel=1e-3)
    assert abs(gpu.score(data) - cpu.score(data)) < 0.03
