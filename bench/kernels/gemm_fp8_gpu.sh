#!/usr/bin/env bash
# fp8 (E4M3) and bf16 GEMMs at 8192^3 on one GPU: `primus benchmark gemm` (cuBLASLt through the
# backend) beside PyTorch's torch._scaled_mm and torch.matmul in the same run on the same card,
# then an fp8 sweep and the fp8 GEMMs of GPT-2 124M. Usage: bench/kernels/gemm_fp8_gpu.sh PRIMUS OUT
set -uo pipefail
primus=$1 out=$2
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/card.txt"
"$primus" --version | tee -a "$out/card.txt"
gemm() { "$primus" benchmark gemm --device cuda "$@"; }
gemm --dtype fp8 --m 8192 --n 8192 --k 8192 --iters 100 --out "$out/gemm_fp8.md" --out "$out/gemm_fp8.jsonl" 2>&1 | tee "$out/primus.log"
gemm --dtype bf16 --m 8192 --n 8192 --k 8192 --iters 100 --out "$out/gemm_bf16.md" 2>&1 | tee -a "$out/primus.log"
python3 - <<'EOF' 2>&1 | tee "$out/torch.log"
import torch
print("torch", torch.__version__, torch.cuda.get_device_name(0))
M = N = K = 8192
def timed(fn, iters=100):
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / iters
    return ms, 2 * M * N * K / (ms * 1e-3) / 1e12
a = (torch.rand(M, K, device="cuda") * 2 - 1)
w = (torch.rand(N, K, device="cuda") * 2 - 1) * 3
sa, sw = torch.tensor(2.0 ** -8, device="cuda"), torch.tensor(2.0 ** -7, device="cuda")
a8, w8 = (a / sa).to(torch.float8_e4m3fn), (w / sw).to(torch.float8_e4m3fn)
for fast in (False, True):
    f = lambda: torch._scaled_mm(a8, w8.t(), scale_a=sa, scale_b=sw, out_dtype=torch.bfloat16, use_fast_accum=fast)
    ref = (a8.to(torch.bfloat16) * sa.to(torch.bfloat16)) @ (w8.to(torch.bfloat16) * sw.to(torch.bfloat16)).t()
    err = ((f().float() - ref.float()).abs().max() / ref.float().abs().max()).item()
    ms, tf = timed(f)
    print(f"torch._scaled_mm e4m3 8192^3 nt use_fast_accum={fast}: {ms:.3f} ms {tf:.1f} TFLOP/s (max err vs bf16 {err:.2e})")
ab, wb = a.to(torch.bfloat16), w.to(torch.bfloat16)
ms, tf = timed(lambda: ab @ wb.t())
print(f"torch bf16 8192^3 nt (a @ w.T): {ms:.3f} ms {tf:.1f} TFLOP/s")
EOF
gemm --dtype fp8 --m 1024,4096,16384 --n 8192 --k 8192 --iters 50 2>&1 | tail -8 | tee "$out/more.log"
gemm --dtype fp8 --model gpt2-124m --micro-batch 32 --seq-len 1024 --iters 50 2>&1 | tail -22 | tee -a "$out/more.log"
gemm --dtype fp8 --m 8192 --n 8192 --k 8192 --layout nn 2>&1 | tail -2 | tee -a "$out/more.log"
