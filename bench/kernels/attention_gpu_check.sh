#!/usr/bin/env bash
# Attention on a GPU machine in one job: CUDA parity (the table-driven CPU parity, all cases),
# the models' CUDA tests, `primus benchmark attention` for the training shapes with the current
# kernels and with PRIMUS_ATTENTION_LEGACY=1, then PyTorch SDPA on the same shapes.
# Usage: bench/kernels/attention_gpu_check.sh BIN_DIR OUT_DIR   (BIN_DIR holds primus, test_cuda,
# test_models: a scripts/bundle.sh folder's bin/ with its env.sh sourced).
set -uo pipefail
bin=$1 out=$2
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
"$bin/primus" --version | tee -a "$out/gpu.txt"
"$bin/test_cuda" > "$out/test_cuda.log" 2>&1; echo "test_cuda rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$out/test_cuda.log" | tr '\n' ' ')"
grep -E '^\[  FAILED|Failure|off$' "$out/test_cuda.log" | head -20
PRIMUS_ATTENTION_LEGACY=1 "$bin/test_cuda" --gtest_filter='*attention*' > "$out/test_cuda_legacy.log" 2>&1
echo "test_cuda legacy attention rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$out/test_cuda_legacy.log" | tr '\n' ' ')"
"$bin/test_models" --gtest_filter='*ModelCuda*' > "$out/test_models.log" 2>&1
echo "test_models ModelCuda rc=$? $(grep -E '^\[  (PASSED|FAILED)' "$out/test_models.log" | tr '\n' ' ')"
shapes=("32 1024 12 12 64" "8 2048 32 8 64" "8 2048 32 8 128")
for legacy in 0 1; do
  for s in "${shapes[@]}"; do
    read -r B T NH NKV HS <<< "$s"
    PRIMUS_ATTENTION_LEGACY=$legacy "$bin/primus" benchmark attention --device cuda --dtype bf16 --batch "$B" \
      --seq-len "$T" --heads "$NH" --kv-heads "$NKV" --head-dim "$HS" --warmup 5 --iters 20 \
      > "$out/bench_${legacy}_${B}_${T}_${NH}_${NKV}_${HS}.log" 2>&1
    echo "legacy=$legacy B=$B T=$T NH=$NH NKV=$NKV HS=$HS: $(tail -1 "$out/bench_${legacy}_${B}_${T}_${NH}_${NKV}_${HS}.log")"
  done
done
python3 bench/kernels/attention_torch_sdpa.py 32,1024,12,12,64 8,2048,32,8,64 8,2048,32,8,128 2>&1 | tee "$out/torch.log"
