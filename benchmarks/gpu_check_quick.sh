#!/usr/bin/env bash
# A shorter GPU check for a small device budget: the CUDA tests, the Matryoshka and
# design-space tests with the GPU present (device='auto' runs them on CUDA), and one
# CUDA throughput size. Run from the repository root: bash benchmarks/gpu_check_quick.sh OUT
set -uo pipefail
OUT="${1:-${OUT:-/tmp/gpu_check}}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
if ! python3 -c "import sklearn, sys; sys.exit(tuple(map(int, sklearn.__version__.split('.')[:2])) < (1, 6))"; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
echo "== CUDA tests"
python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider -rA 2>&1 | tee "$OUT/cuda_tests.log" | grep -E "PASSED|FAILED|ERROR|passed|failed" | tail -20
echo "== Matryoshka and design-space tests with the GPU present"
python3 -m pytest tests/test_matryoshka.py tests/test_design_space.py -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu_suite.log" | tail -6
echo "== CUDA benchmark"
python3 benchmarks/bench_sae.py --device cuda --n-samples 100000 --epochs 3 --size 384,6144,16 2>&1 | tee "$OUT/bench_cuda.txt"
