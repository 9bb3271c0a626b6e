"""PyTorch timings of the shapes in cuda_kernels_bench.cpp (bf16), for a side-by-side table.

Run on the same GPU right after the Primus benchmark: python3 bench/kernels/cuda_torch_baseline.py
"""
import torch
import torch.nn.functional as F


def time_ms(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def report(what, ms, flops):
    print(f"{what:44s} {ms:9.3f} ms  {flops / (ms * 1e-3) / 1e12:7.1f} TFLOP/s")


def matmul(N, C, OC):
    x = torch.randn(N, C, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(OC, C, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    b = torch.randn(OC, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    report(f"torch linear forward N={N} C={C} OC={OC}", time_ms(lambda: F.linear(x, w, b)), 2.0 * N * C * OC)
    report(f"torch linear+gelu forward N={N} C={C} OC={OC}",
           time_ms(lambda: F.gelu(F.linear(x, w, b), approximate="tanh")), 2.0 * N * C * OC)
    y = F.linear(x, w, b)
    g = torch.randn_like(y)
    report(f"torch linear backward N={N} C={C} OC={OC}",
           time_ms(lambda: torch.autograd.grad(y, (x, w, b), g, retain_graph=True)), 4.0 * N * C * OC)


def attention(B, T, NH, NKV, HS):
    q = torch.randn(B, NH, T, HS, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(B, NKV, T, HS, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(B, NKV, T, HS, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    flops = 4.0 * B * NH * HS * T * T / 2
    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=NKV != NH)
    report(f"torch sdpa forward B={B} T={T} NH={NH} NKV={NKV} HS={HS}", time_ms(fwd, 5), flops)
    o = fwd()
    g = torch.randn_like(o)
    report(f"torch sdpa backward B={B} T={T} NH={NH} NKV={NKV} HS={HS}",
           time_ms(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True), 5), 2.5 * flops)


if __name__ == "__main__":
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}")
    matmul(8192, 768, 2304)
    matmul(8192, 768, 3072)
    matmul(8192, 3072, 768)
    attention(8, 1024, 12, 12, 64)
    matmul(4096, 2048, 3072)
    matmul(4096, 2048, 16384)
    attention(2, 2048, 32, 8, 64)
    attention(4, 1024, 16, 16, 128)
