"""PyTorch timings of LayerNorm and RMSNorm at the shapes `bench_cuda_kernels norms` uses, for the
side-by-side on the same GPU in the same job (eager ATen kernels and torch.compile's fused Triton
kernels). bf16 activations, weights and bias in bf16 (ATen) as a bf16 model holds them.

Usage: python3 bench/kernels/norm_torch.py N,C [N,C ...]
Prints per shape the median times (us) of the forward, and of the backward alone (input, weight
and bias gradients) from the same graph retained, over 50 calls after 5 warm-ups.
"""
import sys

import torch
import torch._functorch.config
import torch.nn.functional as F
from torch_timing import median_ms

torch._functorch.config.donated_buffer = False  # the compiled backward runs many times on one graph


def median_us(fn):
    return median_ms(fn, warmup=5, iters=50) * 1e3


def layernorm(x, w, b):
    return F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def rmsnorm(x, w):
    return F.rms_norm(x, (x.shape[-1],), w, 1e-6)


def time_norm(name, fn, x, params):
    y = fn(x, *params)
    dy = torch.randn_like(y)
    fwd = median_us(lambda: fn(x, *params))
    bwd = median_us(lambda: torch.autograd.grad(y, [x, *params], dy, retain_graph=True))
    return f"{name} fwd {fwd:8.1f} us  bwd {bwd:8.1f} us"


def main():
    dev = "cuda"
    print("# torch", torch.__version__, torch.cuda.get_device_name())
    for spec in sys.argv[1:]:
        N, C = (int(v) for v in spec.split(","))
        x = torch.randn(N, C, device=dev, dtype=torch.bfloat16, requires_grad=True)
        w = torch.randn(C, device=dev, dtype=torch.bfloat16, requires_grad=True)
        b = torch.randn(C, device=dev, dtype=torch.bfloat16, requires_grad=True)
        out = [f"N={N} C={C}", time_norm("layernorm", layernorm, x, (w, b)),
               time_norm("layernorm_compiled", torch.compile(layernorm), x, (w, b)),
               time_norm("rmsnorm", rmsnorm, x, (w,)),
               time_norm("rmsnorm_compiled", torch.compile(rmsnorm), x, (w,))]
        print("  ".join(out[:1]) + "\n  " + "\n  ".join(out[1:]), flush=True)


if __name__ == "__main__":
    main()
