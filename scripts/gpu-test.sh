#!/usr/bin/env bash
# On a GPU machine: builds Primus with the CUDA backend and runs the CUDA tests (label cuda):
# the op-by-op parity table against the CPU backend and the backend's contract tests, then the
# models' CUDA tests (tiny GPT-2 and Llama: 20 fp32 training steps against the CPU, KV-cache decoding).
# Usage: scripts/gpu-test.sh [--bench]   (--bench also times the kernels, bench/kernels/)
# Build dir: $PRIMUS_BUILD_DIR (default build-cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${PRIMUS_BUILD_DIR:-build-cuda}
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-test: no NVIDIA GPU visible here; the CUDA tests would only skip" >&2
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  PRIMUS_BUILD_DIR=$build scripts/build.sh -DPRIMUS_CUDA=ON
else
  cmake -S . -B "$build" -DPRIMUS_CUDA=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" --target test_cuda bench_cuda_kernels test_models
fi
ctest --test-dir "$build" --output-on-failure -L cuda
ctest --test-dir "$build" --output-on-failure -R ModelCuda
if [ "${1:-}" = "--bench" ]; then
  "$build/tests/cuda/bench_cuda_kernels"
  if python3 -c "import torch" 2>/dev/null; then python3 bench/kernels/cuda_torch_baseline.py; fi
fi
echo "gpu-test: all CUDA tests passed"
