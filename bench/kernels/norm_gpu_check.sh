#!/usr/bin/env bash
# The norm kernels on a GPU machine in one job: CUDA parity (the table-driven CPU parity, all cases;
# the norm cases again for each variant), the models' CUDA tests, `bench_cuda_kernels norms` per
# variant, PyTorch's norms at the same shapes, then the GPT-2 124M training step (B=32, T=1024)
# per variant and, when given, with an earlier primus binary. Variants: default; vecs2/vecs1
# (PRIMUS_NORM_BACKWARD_VECS: fewer vectors a thread in the backward); generic (PRIMUS_NORM_GENERIC=1:
# the one-warp-per-row kernels, the baseline of the same build).
# Usage: bench/kernels/norm_gpu_check.sh BIN_DIR OUT_DIR [EARLIER_PRIMUS]   (BIN_DIR holds primus,
# test_cuda, test_models, bench_cuda_kernels: a scripts/bundle.sh folder's bin/ with its env.sh sourced).
set -uo pipefail
bin=$1 out=$2 earlier=${3:-}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
"$bin/primus" --version | head -1 | tee -a "$out/gpu.txt"
with() { local v=$1; shift; if [ "$v" = default ]; then "$@"; else env "$v" "$@"; fi; }  # variant, command...
summary() { echo "$1 rc=$2 $(grep -E '^\[  (PASSED|FAILED)' "$3" | tr '\n' ' ')"; grep -E '^\[  FAILED|off$' "$3" | head -8; }
norm_cases='*norm*:*matmul*:*residual*'
"$bin/test_cuda" > "$out/test_cuda.log" 2>&1; summary test_cuda $? "$out/test_cuda.log"
for v in "PRIMUS_NORM_BACKWARD_VECS=2" "PRIMUS_NORM_BACKWARD_VECS=1" "PRIMUS_NORM_GENERIC=1"; do
  env "$v" "$bin/test_cuda" --gtest_filter="$norm_cases" > "$out/test_cuda_$v.log" 2>&1
  summary "test_cuda $v" $? "$out/test_cuda_$v.log"
done
"$bin/test_models" --gtest_filter='*ModelCuda*:ModelRecompute*' > "$out/test_models.log" 2>&1
summary "test_models ModelCuda" $? "$out/test_models.log"
variants=(default PRIMUS_NORM_BACKWARD_VECS=2 PRIMUS_NORM_BACKWARD_VECS=1 PRIMUS_NORM_GENERIC=1)
for v in "${variants[@]}"; do
  echo "== bench_cuda_kernels norms ($v)"
  with "$v" "$bin/bench_cuda_kernels" norms 2>&1 | tee "$out/bench_$v.log" | grep -v '^#'
done
python3 bench/kernels/norm_torch.py 32768,768 16384,2048 2>&1 | tee "$out/torch.log" | grep -v Warning
gpt2=(benchmark e2e -c configs/experiments/gpt2-124m.yaml --set train.micro_batch_size=32
      --set train.global_batch_size=32 --set train.seq_len=1024 --warmup 3 --steps 10)
for v in default PRIMUS_NORM_GENERIC=1 PRIMUS_NORM_BACKWARD_VECS=2; do
  with "$v" "$bin/primus" "${gpt2[@]}" > "$out/e2e_gpt2_$v.log" 2>&1; rc=$?
  echo "== e2e gpt2 ($v) rc=$rc: $(tail -n 3 "$out/e2e_gpt2_$v.log" | tr '\n' ' ')"
done
if [ -n "$earlier" ]; then
  "$earlier" "${gpt2[@]}" > "$out/e2e_gpt2_earlier.log" 2>&1; rc=$?
  echo "== e2e gpt2 (earlier binary: $("$earlier" --version | head -1)) rc=$rc: $(tail -n 3 "$out/e2e_gpt2_earlier.log" | tr '\n' ' ')"
fi
