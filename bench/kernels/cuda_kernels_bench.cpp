// Kernel timings of the CUDA backend through the Backend interface, at GPT-2 124M and Llama-style
// shapes, bf16. Run after tests/cuda's parity test has passed on the same build:
//   build-cuda/tests/cuda/bench_cuda_kernels [norms|pointwise]    (bench/kernels/cuda_torch_baseline.py
// times the same shapes with PyTorch for the side-by-side table in docs/cuda.md).
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <utility>
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

// Random normal bf16 values (timing on constants or zeros can mislead).
Tensor random_bf16(Arena& a, Shape s, uint32_t seed) {
  Tensor t = a.make(DType::kBF16, s);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> h(static_cast<size_t>(s.numel()));
  for (uint16_t& x : h) x = primus::bf16_from_float(dist(gen));
  a.be.copy_from_host(t, h.data());
  return t;
}

void report_bytes(const char* what, int64_t N, int64_t C, double ms, double bytes) {
  std::printf("%-28s N=%-6ld C=%-5ld %9.1f us  %7.0f GB/s\n", what, (long)N, (long)C, ms * 1e3, bytes / (ms * 1e-3) / 1e9);
}

// The norms and column sums at one (N, C), bf16 activations, fp32 parameter gradients as in a
// mixed-precision step. GB/s counts each tensor read or written once (dinp: read and written).
void bench_norms(Backend& be, int64_t N, int64_t C) {
  Arena a{be, {}};
  const DType f32 = DType::kF32;
  Tensor x = random_bf16(a, {N, C}, 1), res = random_bf16(a, {N, C}, 2), dy = random_bf16(a, {N, C}, 3);
  Tensor dx = random_bf16(a, {N, C}, 4), y = a.make(DType::kBF16, {N, C}), w = random_bf16(a, {C}, 5);
  Tensor b = random_bf16(a, {C}, 6), mean = a.make(f32, {N}), rstd = a.make(f32, {N});
  Tensor dw = a.make(f32, {C}, 0.0f), db = a.make(f32, {C}, 0.0f);
  const double act = 2.0 * N * C;  // bytes of one (N, C) bf16 tensor
  const int it = 50;
  report_bytes("layernorm_forward", N, C, time_ms(be, [&] { be.layernorm_forward(y, mean, rstd, x, w, b, 1e-5f); }, it),
               2 * act);
  report_bytes("residual_layernorm_forward", N, C,
               time_ms(be, [&] { be.residual_norm_forward(res, y, mean, rstd, x, res, w, b, 1e-5f); }, it), 4 * act);
  be.layernorm_forward(y, mean, rstd, x, w, b, 1e-5f);
  report_bytes("layernorm_backward", N, C,
               time_ms(be, [&] { be.layernorm_backward(dx, dw, db, dy, x, w, mean, rstd); }, it), 4 * act);
  report_bytes("rmsnorm_forward", N, C, time_ms(be, [&] { be.rmsnorm_forward(y, rstd, x, w, 1e-6f); }, it), 2 * act);
  report_bytes("rmsnorm_backward", N, C, time_ms(be, [&] { be.rmsnorm_backward(dx, dw, dy, x, w, rstd); }, it),
               4 * act);
  Tensor inp = a.make(DType::kBF16, {N, 8}), wl = a.make(DType::kBF16, {C, 8});
  report_bytes("matmul_backward dbias only", N, C,
               time_ms(be, [&] { be.matmul_backward(Tensor{}, Tensor{}, db, dy, inp, wl); }, it), act);
}

// The memory-bound ops of a training step at the shapes of GPT-2 124M (B=32, T=1024) and Llama
// 1.5B (B=8, T=2048), bf16. GB/s counts each tensor read or written once.
void bench_step_pointwise(Backend& be) {
  const int it = 20;
  const DType bf = DType::kBF16, f32 = DType::kF32;
  {
    Arena a{be, {}};
    const int64_t N = 16384, FF = 8192;   // Llama SwiGLU
    Tensor inp = random_bf16(a, {N, 2 * FF}, 11), dout = random_bf16(a, {N, FF}, 12), out = a.make(bf, {N, FF});
    Tensor dinp = a.make(bf, {N, 2 * FF});
    const double e = 2.0 * N * FF;   // bytes of one (N, FF) bf16 tensor
    report_bytes("swiglu_forward", N, FF, time_ms(be, [&] { be.swiglu_forward(out, inp); }, it), 3 * e);
    report_bytes("swiglu_backward", N, FF, time_ms(be, [&] { be.swiglu_backward(dinp, dout, inp); }, it), 5 * e);
    report_bytes("fill zero (N,2FF)", N, 2 * FF, time_ms(be, [&] { be.fill(dinp, 0.0f); }, it), 2 * e);
    report_bytes("fill 1.5 (N,2FF)", N, 2 * FF, time_ms(be, [&] { be.fill(dinp, 1.5f); }, it), 2 * e);
    // rope over Llama's qkv (B=8, T=2048, NH=32, NKV=8, HS=64); tables for T positions.
    const int64_t B = 8, T = 2048, NH = 32, NKV = 8, HS = 64, W = (NH + 2 * NKV) * HS;
    Tensor qkv = random_bf16(a, {B, T, W}, 13), qkv2 = a.make(bf, {B, T, W});
    Tensor cs = a.make(f32, {T, HS / 2}, 0.6f), sn = a.make(f32, {T, HS / 2}, 0.8f);
    const double q = 2.0 * B * T * W;
    report_bytes("rope_forward", B * T, W, time_ms(be, [&] { be.rope_forward(qkv2, qkv, cs, sn, NH, NKV); }, it), 2 * q);
    report_bytes("rope_backward", B * T, W, time_ms(be, [&] { be.rope_backward(qkv2, qkv, cs, sn, NH, NKV); }, it), 2 * q);
  }
  {
    Arena a{be, {}};
    const int64_t N = 32768, C = 768, FF = 3072;   // GPT-2 MLP
    Tensor pre = random_bf16(a, {N, FF}, 21), act = a.make(bf, {N, FF}), dact = a.make(bf, {N, FF});
    Tensor dpre = a.make(bf, {N, FF}), dout = random_bf16(a, {N, C}, 22), w = random_bf16(a, {C, FF}, 23);
    Tensor dw = a.make(f32, {C, FF}, 0.0f), db = a.make(f32, {C}, 0.0f);
    const double e = 2.0 * N * FF;
    report_bytes("gelu_forward", N, FF, time_ms(be, [&] { be.gelu_forward(act, pre); }, it), 2 * e);
    report_bytes("gelu_backward", N, FF, time_ms(be, [&] { be.gelu_backward(dpre, dact, pre); }, it), 3 * e);
    report("gelu_matmul_backward fused (N,FF,C)", time_ms(be, [&] {
             be.gelu_matmul_backward(dpre, dact, dw, db, dout, act, pre, w); }, it), 4.0 * N * C * FF);
    report("gelu_matmul_backward unfused (N,FF,C)", time_ms(be, [&] {
             be.Backend::gelu_matmul_backward(dpre, dact, dw, db, dout, act, pre, w); }, it), 4.0 * N * C * FF);
    Tensor x = random_bf16(a, {N, C}, 24), y = random_bf16(a, {N, C}, 25), z = a.make(bf, {N, C});
    report_bytes("residual_forward", N, C, time_ms(be, [&] { be.residual_forward(z, x, y); }, it), 6.0 * N * C);
  }
  {
    Arena a{be, {}};
    const int64_t N = 32768, Vp = 50304, V = 50257;   // GPT-2 logits, in place as the model runs it
    Tensor logits = random_bf16(a, {N, Vp}, 26), losses = a.make(f32, {N}), targets = a.make(DType::kI32, {N});
    const double l = 2.0 * N * Vp;
    report_bytes("cross_entropy_forward", N, Vp, time_ms(be, [&] { be.cross_entropy_forward(losses, logits, targets, V, -1); }, 5), l);
    be.cross_entropy_forward(losses, logits, targets, V, -1);
    report_bytes("cross_entropy_backward", N, Vp,
                 time_ms(be, [&] { be.cross_entropy_backward(logits, logits, targets, V, -1, 1.0f / N); }, 5), 2 * l);
    report_bytes("cross_entropy_backward +losses", N, Vp,
                 time_ms(be, [&] { be.cross_entropy_backward(logits, logits, targets, V, -1, 1.0f / N, losses); }, 5),
                 2 * l);
  }
  {
    Arena a{be, {}};
    // Llama 1.5B's parameter groups: embedding, 16 x (norm, 60.8M of matrices, norm), final norm, head.
    std::vector<primus::ParamSegment> segs;
    int64_t P = 0;
    auto seg = [&](int64_t n, float wd) { segs.push_back({P, n, wd}); P += n; };
    seg(128256 * 2048, 0.0f);
    for (int l = 0; l < 16; ++l) seg(2048, 0.0f), seg(60817408, 0.1f), seg(2048, 0.0f);
    seg(2048, 0.0f);
    seg(128256 * 2048, 0.1f);
    Tensor master = a.make(f32, {P}, 0.02f), m = a.make(f32, {P}, 0.001f), v = a.make(f32, {P}, 0.0001f);
    Tensor g = a.make(f32, {P}, 0.003f), pb = a.make(bf, {P});
    primus::AdamWArgs args{.lr = 1e-4f, .step = 10};
    const double p = static_cast<double>(P);
    report_bytes("adamw fp32 params", P, 1, time_ms(be, [&] { be.adamw_update(master, Tensor{}, m, v, g, segs, args); }, 5),
                 p * 28);
    report_bytes("convert fp32->bf16", P, 1, time_ms(be, [&] { be.convert(pb, master); }, 5), p * 6);
    report_bytes("adamw master + bf16 copy", P, 1, time_ms(be, [&] { be.adamw_update(pb, master, m, v, g, segs, args); }, 5),
                 p * 30);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "pointwise") {  // the memory-bound ops of a step
    auto be = primus::cuda::make_cuda_backend(0);
    std::printf("# primus CUDA pointwise kernels, bf16, %s\n", std::string(be->name()).c_str());
    bench_step_pointwise(*be);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "norms") {  // the norm kernels only (PRIMUS_NORM_* choose variants)
    auto be = primus::cuda::make_cuda_backend(0);
    std::printf("# primus CUDA norm kernels, bf16, %s\n", std::string(be->name()).c_str());
    for (auto [N, C] : {std::pair<int64_t, int64_t>{32768, 768}, {16384, 2048}, {32768, 3072}, {8192, 4096},
                        {4096, 8192}})
      bench_norms(*be, N, C);
    return 0;
  }
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
