#!/usr/bin/env bash
# Attention on a GPU machine in one job: CUDA parity (the table-driven CPU parity, all cases; the
# attention cases again for each kernel variant), the models' CUDA tests, `primus benchmark
# attention` for the training shapes per variant, then PyTorch SDPA on the same shapes.
# Variants: default (on Hopper the wgmma kernels); onepass (PRIMUS_ATTENTION_WGMMA=0: the mma.sync
# forward and one-pass backward, the fallback on other GPUs); legacy (PRIMUS_ATTENTION_LEGACY=1:
# the earlier tensor-core kernels). To try a kernel variant, select it by an environment variable
# in a trial build and add its name to `variants` and the parity loop.
# Usage: bench/kernels/attention_gpu_check.sh BIN_DIR OUT_DIR [torch]  (BIN_DIR holds primus,
# test_cuda, test_models: a scripts/bundle.sh folder's bin/ with its env.sh sourced; PyTorch SDPA
# runs unless the third argument is "notorch").
set -uo pipefail
bin=$1 out=$2 torch=${3:-torch}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
"$bin/primus" --version | tee -a "$out/gpu.txt"
summary() { echo "$1 rc=$2 $(grep -E '^\[  (PASSED|FAILED)' "$3" | tr '\n' ' ')"; grep -E '^\[  FAILED|off$' "$3" | head -8; }
"$bin/test_cuda" > "$out/test_cuda.log" 2>&1; summary test_cuda $? "$out/test_cuda.log"
PRIMUS_ATTENTION_WGMMA=0 "$bin/test_cuda" --gtest_filter='*attention*' > "$out/test_cuda_onepass.log" 2>&1
summary "test_cuda onepass attention" $? "$out/test_cuda_onepass.log"
PRIMUS_ATTENTION_LEGACY=1 "$bin/test_cuda" --gtest_filter='*attention*' > "$out/test_cuda_legacy.log" 2>&1
summary "test_cuda legacy attention" $? "$out/test_cuda_legacy.log"
"$bin/test_models" --gtest_filter='*ModelCuda*:ModelRecompute*' > "$out/test_models.log" 2>&1
summary "test_models ModelCuda ModelRecompute" $? "$out/test_models.log"
shapes=("32 1024 12 12 64" "8 2048 32 8 64" "8 2048 32 8 128")
echo "variant  B T NH NKV HS dtype fwd_us fwd_TF/s bwd_us bwd_TF/s fwd+bwd_TF/s %peak"
for variant in default onepass legacy; do
  env=(PRIMUS_ATTENTION_LEGACY=0)
  [ $variant = onepass ] && env=(PRIMUS_ATTENTION_WGMMA=0)
  [ $variant = legacy ] && env=(PRIMUS_ATTENTION_LEGACY=1)
  for s in "${shapes[@]}"; do
    read -r B T NH NKV HS <<< "$s"
    log="$out/bench_${variant}_${B}_${T}_${NH}_${NKV}_${HS}.log"
    env "${env[@]}" "$bin/primus" benchmark attention --device cuda --dtype bf16 --batch "$B" --seq-len "$T" \
      --heads "$NH" --kv-heads "$NKV" --head-dim "$HS" --warmup 5 --iters 20 > "$log" 2>&1
    echo "$variant  $(tail -1 "$log")"
  done
done
[ "$torch" = notorch ] || python3 bench/kernels/attention_torch_sdpa.py 32,1024,12,12,64 8,2048,32,8,64 8,2048,32,8,128 2>&1 | tee "$out/torch.log"
