#!/usr/bin/env bash
# One prepared script for a lent GPU machine: CUDA tests, the whole suite with a GPU
# present, and the CUDA throughput benchmark. Run from the repository root:
#     bash benchmarks/gpu_check.sh [OUT_DIR]
# It uses the machine's python3 (with torch) and the checkout on PYTHONPATH (no install,
# the machine has no network). A scikit-learn wheel may be given in .whl/ when the
# machine's is older than the package needs.
set -uo pipefail
OUT="${1:-${OUT:-/tmp/gpu_check}}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
if ! python3 -c "import sklearn, sys; sys.exit(tuple(map(int, sklearn.__version__.split('.')[:2])) < (1, 6))"; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
python3 -c "import torch, sklearn, numpy, safetensors; print('torch', torch.__version__, 'sklearn', sklearn.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"
echo "== CUDA tests"
python3 -m pytest tests/test_cuda.py -v -p no:cacheprovider 2>&1 | tee "$OUT/cuda_tests.log" | tail -15
echo "== whole suite with the GPU present (device='auto' tests run on CUDA)"
python3 -m pytest tests -q -p no:cacheprovider 2>&1 | tee "$OUT/all_tests.log" | tail -6
echo "== CUDA benchmark"
python3 benchmarks/bench_sae.py --device cuda --n-samples 100000 --epochs 3 \
  --size 128,2048,8 --size 384,6144,16 --size 1024,16384,32 2>&1 | tee "$OUT/bench_cuda.txt"
python3 benchmarks/bench_sae.py --device cuda --n-samples 200000 --epochs 2 \
  --size 800,8192,32 2>&1 | tee -a "$OUT/bench_cuda.txt"
echo "== is CUDA inference bit-identical row by row? (informational)"
python3 - <<'PY' 2>&1 | tee "$OUT/cuda_rowwise.txt"
import numpy as np
from sklearn_mini import SpikeSAE
from sklearn_mini.datasets import make_sparse_counts
X, _ = make_sparse_counts(n_samples=20000, n_features=96, n_atoms=48, random_state=0)
X = X / X.max()
sae = SpikeSAE(d_sae=512, topk=8, n_epochs=3, device="cuda", random_state=0).fit(X)
Z = sae.transform(X)
parts = [sae.transform(X[i:i + 1]) for i in range(0, 20000, 997)]
same = all(np.array_equal(p, Z[i:i + 1]) for p, i in zip(parts, range(0, 20000, 997)))
print("single rows bit-identical to the full call:", same,
      "| max abs diff", max(float(np.abs(p - Z[i:i + 1]).max()) for p, i in zip(parts, range(0, 20000, 997))))
PY
