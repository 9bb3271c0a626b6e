#!/usr/bin/env bash
# The norm kernels on a GPU machine in one job: CUDA parity (the table-driven CPU parity, all cases;
# the norm cases again for each variant), the models' CUDA tests, `bench_cuda_kernels norms` per
# variant, PyTorch's norms at the same shapes, then the GPT-2 124M training step (B=32, T=1024)
# and the Llama 1.5B step (B=8, T=2048, selective recompute) per variant and, when given, with an
# earlier primus binary. Variants: default; PRIMUS_NORM_BACKWARD_VECS=2/3 (more 16-byte vectors a
# thread in the backward, fewer threads a row); PRIMUS_NORM_GENERIC=1 (the one-warp-per-row kernels,
# the baseline of the same build).
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
for v in "PRIMUS_NORM_BACKWARD_VECS=2" "PRIMUS_NORM_BACKWARD_VECS=3" "PRIMUS_NORM_GENERIC=1"; do
  env "$v" "$bin/test_cuda" --gtest_filter="$norm_cases" > "$out/test_cuda_${v//=/-}.log" 2>&1
  summary "test_cuda $v" $? "$out/test_cuda_${v//=/-}.log"
done
"$bin/test_models" --gtest_filter='*ModelCuda*:ModelRecompute*' > "$out/test_models.log" 2>&1
summary "test_models ModelCuda" $? "$out/test_models.log"
variants=(default PRIMUS_NORM_BACKWARD_VECS=2 PRIMUS_NORM_BACKWARD_VECS=3 PRIMUS_NORM_GENERIC=1)
for v in "${variants[@]}"; do
  echo "== bench_cuda_kernels norms ($v)"
  with "$v" "$bin/bench_cuda_kernels" norms 2>&1 | tee "$out/bench_${v//=/-}.log" | grep -v '^#'
done
python3 bench/kernels/norm_torch.py 32768,768 16384,2048 2>&1 | tee "$out/torch.log" | grep -v Warning
gpt2=(benchmark e2e -c configs/experiments/gpt2-124m.yaml --set train.micro_batch_size=32
      --set train.global_batch_size=32 --set train.seq_len=1024 --warmup 3 --steps 10)
llama=(benchmark e2e -c configs/experiments/llama-1.5b.yaml --set train.global_batch_size=8 --warmup 2 --steps 6
       --set backend.recompute=selective)
e2e() {  # model, variant, binary, name
  local log="$out/e2e_$1_$4.log"
  local -n args=$1
  with "$2" "$3" "${args[@]}" > "$log" 2>&1; local rc=$?
  echo "== e2e $1 $4 rc=$rc: $(tail -n 1 "$log")"
}
for m in gpt2 llama; do
  e2e $m default "$bin/primus" default
  e2e $m PRIMUS_NORM_GENERIC=1 "$bin/primus" generic
  [ -n "$earlier" ] && e2e $m default "$earlier" earlier
done
[ -n "$earlier" ] && echo "(earlier: $("$earlier" --version | head -1))"
