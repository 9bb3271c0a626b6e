// Kernel timings of the CUDA backend through the Backend interface, at GPT-2 124M and Llama-style
// shapes, bf16. Run after tests/cuda's parity test has passed on the same build:
//   build-cuda/tests/cuda/bench_cuda_kernels            (bench/kernels/cuda_torch_baseline.py
// times the same shapes with PyTorch for the side-by-side table in docs/cuda.md).
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "cuda/cuda_backend.h"

namespace {

using primus::Backend;
using primus::Buffer;
using primus::DType;
using primus::Shape;
using primus::Tensor;

// Mean milliseconds per call over `iters` calls after 3 warm-ups.
double time_ms(Backend& be, const std::function<void()>& fn, int iters = 20) {
  for (int i = 0; i < 3; ++i) fn();
  be.synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) fn();
  be.synchronize();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count() / iters;
}

struct Arena {
  Backend& be;
  std::vector<Buffer> bufs;
  Tensor make(DType dt, Shape s, float fill = 0.01f) {
    bufs.push_back(be.alloc(static_cast<size_t>(s.numel()) * primus::dtype_size(dt)));
    Tensor t = bufs.back().as(dt, s);
    if (dt != DType::kI32) be.fill(t, fill);
    return t;
  }
};

void report(const char* what, double ms, double flops) {
  std::printf("%-44s %9.3f ms  %7.1f TFLOP/s\n", what, ms, flops / (ms * 1e-3) / 1e12);
}

void bench_matmul(Backend& be, int64_t N, int64_t C, int64_t OC) {
  Arena a{be, {}};
  const DType bf = DType::kBF16;
  Tensor inp = a.make(bf, {N, C}), w = a.make(bf, {OC, C}), bias = a.make(bf, {OC}), out = a.make(bf, {N, OC});
  Tensor dinp = a.make(bf, {N, C}), dw = a.make(bf, {OC, C}), db = a.make(bf, {OC});
  char name[96];
  std::snprintf(name, sizeof name, "matmul_forward N=%ld C=%ld OC=%ld", (long)N, (long)C, (long)OC);
  report(name, time_ms(be, [&] { be.matmul_forward(out, inp, w, bias); }), 2.0 * N * C * OC);
  std::snprintf(name, sizeof name, "matmul_gelu_forward N=%ld C=%ld OC=%ld", (long)N, (long)C, (long)OC);
  Tensor pre = a.make(bf, {N, OC});
  report(name, time_ms(be, [&] { be.matmul_gelu_forward(out, pre, inp, w, bias); }), 2.0 * N * C * OC);
  std::snprintf(name, sizeof name, "matmul_backward N=%ld C=%ld OC=%ld", (long)N, (long)C, (long)OC);
  report(name, time_ms(be, [&] { be.matmul_backward(dinp, dw, db, out, inp, w); }), 4.0 * N * C * OC);
}

void bench_attention(Backend& be, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS) {
  Arena a{be, {}};
  const DType bf = DType::kBF16;
  const int64_t W = (NH + 2 * NKV) * HS;
  Tensor qkv = a.make(bf, {B, T, W}), out = a.make(bf, {B, T, NH * HS}), lse = a.make(DType::kF32, {B, NH, T});
  Tensor dqkv = a.make(bf, {B, T, W}), dout = a.make(bf, {B, T, NH * HS});
  const double flops = 4.0 * B * NH * HS * T * T / 2;  // causal: half the T x T work
  char name[96];
  std::snprintf(name, sizeof name, "attention_forward B=%ld T=%ld NH=%ld NKV=%ld HS=%ld", (long)B, (long)T, (long)NH,
                (long)NKV, (long)HS);
  report(name, time_ms(be, [&] { be.attention_forward(out, lse, qkv, NH, NKV); }, 5), flops);
  std::snprintf(name, sizeof name, "attention_backward B=%ld T=%ld NH=%ld NKV=%ld HS=%ld", (long)B, (long)T, (long)NH,
                (long)NKV, (long)HS);
  report(name, time_ms(be, [&] { be.attention_backward(dqkv, dout, qkv, out, lse, NH, NKV); }, 5), 2.5 * flops);
}

void bench_pointwise(Backend& be, int64_t N, int64_t C, int64_t Vp, int64_t V) {
  Arena a{be, {}};
  const DType bf = DType::kBF16;
  Tensor x = a.make(bf, {N, C}), y = a.make(bf, {N, C}), w = a.make(bf, {C}), b = a.make(bf, {C});
  Tensor mean = a.make(DType::kF32, {N}), rstd = a.make(DType::kF32, {N});
  report("layernorm_forward", time_ms(be, [&] { be.layernorm_forward(y, mean, rstd, x, w, b, 1e-5f); }), 0);
  report("layernorm_backward", time_ms(be, [&] { be.layernorm_backward(x, w, b, y, x, w, mean, rstd); }), 0);
  Tensor logits = a.make(bf, {N, Vp}), losses = a.make(DType::kF32, {N}), targets = a.make(DType::kI32, {N});
  report("cross_entropy_forward", time_ms(be, [&] { be.cross_entropy_forward(losses, logits, targets, V, -1); }), 0);
  report("cross_entropy_backward",
         time_ms(be, [&] { be.cross_entropy_backward(logits, logits, targets, V, -1, 1.0f / N); }), 0);
}

}  // namespace

int main() {
  auto be = primus::cuda::make_cuda_backend(0);
  std::printf("# primus CUDA kernels, bf16, %s\n", std::string(be->name()).c_str());
  // GPT-2 124M at B=8, T=1024.
  bench_matmul(*be, 8192, 768, 2304);
  bench_matmul(*be, 8192, 768, 3072);
  bench_matmul(*be, 8192, 3072, 768);
  bench_attention(*be, 8, 1024, 12, 12, 64);
  bench_pointwise(*be, 8192, 768, 50304, 50257);
  // Llama-style 1.5B layer at B=2, T=2048.
  bench_matmul(*be, 4096, 2048, 3072);
  bench_matmul(*be, 4096, 2048, 16384);
  bench_attention(*be, 2, 2048, 32, 8, 64);
  bench_attention(*be, 4, 1024, 16, 16, 128);
  return 0;
}
