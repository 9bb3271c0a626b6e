#!/usr/bin/env bash
# The test command: set-up, build (CPU, plus a compile-only CUDA build when nvcc is present), and
# every CPU test (labels unit, dist, e2e). CUDA tests run on a GPU machine via scripts/gpu-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PRIMUS_TEST_PEERS=1 scripts/setup.sh
scripts/build.sh
scripts/check-sizes.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" -LE cuda
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "test: compiling the CUDA backend and its tests (not run: no GPU here)"
  cuda_build=${PRIMUS_CUDA_BUILD_DIR:-build-cuda}
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  [ -f "$cuda_build/CMakeCache.txt" ] || cmake -S . -B "$cuda_build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPRIMUS_CUDA=ON
  cmake --build "$cuda_build" -j "$(nproc)" --target primus_cuda primus_runtime test_cuda
fi
echo "test: all passed"
