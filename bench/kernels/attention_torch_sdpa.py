"""PyTorch SDPA timings of causal attention shapes, for the side-by-side with
`primus benchmark attention` on the same GPU in the same job.

Usage: python3 bench/kernels/attention_torch_sdpa.py B,T,NH,NKV,HS [B,T,NH,NKV,HS ...]
Prints, per shape, the median forward and backward times of F.scaled_dot_product_attention
(is_causal=True, bf16) over 20 calls after 5 warm-ups, with PyTorch's own backend choice
(enable_gqa when NKV < NH) and with the flash backend forced on K/V expanded to NH heads.
FLOPs count the causal half (forward 2*B*NH*T*T*HS, backward 2.5x).
"""
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch_timing import median_ms


def run(B, T, NH, NKV, HS, forced_flash):
    q = torch.randn(B, NH, T, HS, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    kv_heads = NH if forced_flash else NKV
    k = torch.randn(B, kv_heads, T, HS, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(B, kv_heads, T, HS, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    gqa = kv_heads != NH
    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    if forced_flash:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            return measure(fwd, q, k, v)
    return measure(fwd, q, k, v)


def measure(fwd, q, k, v):
    f = median_ms(fwd)
    o = fwd()
    g = torch.randn_like(o)
    b = median_ms(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True))
    return f, b


if __name__ == "__main__":
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print(f"{'shape':34s} {'variant':14s} {'fwd ms':>8s} {'fwd TF/s':>8s} {'bwd ms':>8s} {'bwd TF/s':>8s}")
    for arg in sys.argv[1:]:
        B, T, NH, NKV, HS = (int(x) for x in arg.split(","))
        flops = 2.0 * B * NH * T * T * HS
        for forced in (False, True):
            try:
                f, b = run(B, T, NH, NKV, HS, forced)
            except RuntimeError as e:  # a backend that refuses the shape
                print(f"B={B} T={T} NH={NH} NKV={NKV} HS={HS}: {'flash' if forced else 'default'} failed: {e}")
                continue
            name = f"B={B} T={T} NH={NH} NKV={NKV} HS={HS}"
            print(f"{name:34s} {'flash(kv x NH)' if forced else 'default':14s} {f:8.3f} {flops / f / 1e9:8.1f} "
                  f"{b:8.3f} {2.5 * flops / b / 1e9:8.1f}")
