"""Timing helper shared by the PyTorch kernel baselines in this folder (run on a GPU machine)."""
import torch


def median_ms(fn, warmup=5, iters=20):
    """Median over `iters` calls of fn (after `warmup` calls) of its CUDA-event time, in ms."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]
