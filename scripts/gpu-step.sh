#!/usr/bin/env bash
# On a GPU machine, one card: the CUDA checks of the training step (parity table, the models' CUDA
# tests, graph replay against eager) and then the end-to-end benchmarks of the step's variants
# (CUDA graph on/off, activation recompute) beside the PyTorch baseline, in one run. Usage:
#   scripts/gpu-step.sh BIN_DIR TORCH_LM_PY OUT_DIR [checks] [gpt2] [gpt2-eager] [llama] [llama-none] [llama-full] [kernels]
# BIN_DIR holds primus, test_cuda, test_models, test_train (and bench_cuda_kernels for `kernels`);
# TORCH_LM_PY "-" skips PyTorch.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$1; torch_lm=$2; out=$3; shift 3
what=${*:-checks gpt2 gpt2-eager llama}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/card.txt"
"$bin/primus" --version 2>&1 | head -1 | tee "$out/version.txt"
gpt2=(-c configs/experiments/gpt2-124m.yaml --set train.micro_batch_size=32 --set train.global_batch_size=32
      --set train.seq_len=1024 --warmup 3 --steps 10)
llama=(-c configs/experiments/llama-1.5b.yaml --set train.global_batch_size=8 --warmup 2 --steps 6)
e2e() {  # name, args...
  local name=$1; shift
  /usr/bin/time -f "launch-to-exit %e s" "$bin/primus" benchmark e2e "$@" --out "$out/e2e-$name.jsonl" \
    > "$out/e2e-$name.log" 2>&1
  echo "== e2e $name: $(grep -h 'first step' "$out/e2e-$name.log" | sed 's/.*first step/first step/') $(tail -1 "$out/e2e-$name.log")"
  tail -n 4 "$out/e2e-$name.log" | grep -v launch-to-exit
}
torch() {  # name, args...
  local name=$1; shift
  [ "$torch_lm" = "-" ] && return
  python3 "$torch_lm" "$@" > "$out/torch-$name.log" 2>&1
  echo "== torch $name: $(grep RESULT "$out/torch-$name.log" | tail -1)"
}
for w in $what; do
  case $w in
    checks)
      "$bin/test_cuda" > "$out/test_cuda.log" 2>&1; echo "== test_cuda rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$out/test_cuda.log" | tr '\n' ' ')"
      grep -E '^\[  FAILED  \]|Failure|mismatch' "$out/test_cuda.log" | head -20
      "$bin/test_models" --gtest_filter='*ModelCuda*:ModelRecompute*' > "$out/test_models.log" 2>&1
      echo "== test_models rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$out/test_models.log" | tr '\n' ' ')"
      grep -E '^\[  FAILED  \]|Failure' -A3 "$out/test_models.log" | head -20
      "$bin/test_train" --gtest_filter='TrainerCuda*' > "$out/test_train.log" 2>&1
      echo "== test_train rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$out/test_train.log" | tr '\n' ' ')"
      grep -E '^\[  FAILED  \]|Failure' -A3 "$out/test_train.log" | head -20 ;;
    gpt2) e2e gpt2 "${gpt2[@]}"; torch gpt2 --arch gpt2 -B 32 -T 1024 --warmup 5 --steps 15 ;;
    gpt2-eager) e2e gpt2-eager "${gpt2[@]}" --set backend.cuda_graphs=false ;;
    llama) e2e llama-selective "${llama[@]}" --set backend.recompute=selective
           torch llama --arch llama --layers 16 --dim 2048 --heads 32 --kv-heads 8 --ffn 8192 --vocab 128256 \
             -B 8 -T 2048 --warmup 5 --steps 10 ;;
    llama-none) e2e llama-none "${llama[@]}" --set backend.recompute=none ;;
    kernels) "$bin/bench_cuda_kernels" > "$out/kernels.log" 2>&1; echo "== bench_cuda_kernels rc=$?"; cat "$out/kernels.log" ;;
    llama-full) e2e llama-full "${llama[@]}" --set backend.recompute=full ;;
  esac
done
