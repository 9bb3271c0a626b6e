#!/usr/bin/env bash
# On a GPU machine: the end-to-end benchmarks of docs/benchmarks.md side by side with the PyTorch
# baseline, in one run on one card. Usage:
#   scripts/gpu-bench.sh PRIMUS_BINARY TORCH_LM_PY OUT_DIR [gpt2|llama|gemm ...]
# TORCH_LM_PY is the PyTorch reference trainer (anchors/torch_lm.py); pass "-" to skip it.
set -uo pipefail
cd "$(dirname "$0")/.."
primus=$1; torch_lm=$2; out=$3; shift 3
what=${*:-gpt2 llama gemm}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/card.txt"
git rev-parse --short=12 HEAD 2>/dev/null | tee "$out/commit.txt" || true
for w in $what; do
  case $w in
    gpt2)
      /usr/bin/time -f "launch-to-exit %e s" "$primus" benchmark e2e -c configs/experiments/gpt2-124m.yaml \
        --set train.micro_batch_size=32 --set train.global_batch_size=32 --set train.seq_len=1024 \
        --warmup 3 --steps 10 --out "$out/e2e-gpt2.jsonl" 2>&1 | tee "$out/e2e-gpt2.log"
      [ "$torch_lm" = "-" ] || python3 "$torch_lm" --arch gpt2 -B 32 -T 1024 2>&1 | tee "$out/torch-gpt2.log" ;;
    llama)
      "$primus" benchmark e2e -c configs/experiments/llama-1.5b.yaml --set train.global_batch_size=8 \
        --warmup 2 --steps 6 --out "$out/e2e-llama.jsonl" 2>&1 | tee "$out/e2e-llama.log"
      [ "$torch_lm" = "-" ] || python3 "$torch_lm" --arch llama --layers 16 --dim 2048 --heads 32 --kv-heads 8 \
        --ffn 8192 --vocab 128256 -B 8 -T 2048 2>&1 | tee "$out/torch-llama.log" ;;
    gemm)
      "$primus" benchmark gemm --device cuda --dtype bf16 --m 8192 --n 8192 --k 8192 2>&1 | tee "$out/gemm.log"
      python3 - <<'PY' 2>&1 | tee "$out/gemm-torch.log"
import torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(5): a @ b
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(50): a @ b
e.record(); torch.cuda.synchronize()
ms = s.elapsed_time(e) / 50
print(f"torch bf16 gemm 8192^3: {ms:.3f} ms, {2 * 8192**3 / ms / 1e9:.1f} TFLOP/s")
PY
      ;;
  esac
done
