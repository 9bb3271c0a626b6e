// One GPT-2 124M training step (B=4, T=64, fp32) on the CPU backend, op by op, in the order
// llm.c runs them: forward, cross-entropy, backward, gradient norm, AdamW. Prints the time per
// op kind and per step, and the loss of each step (it trains on one fixed batch, so the loss must
// fall: a check that the sequence of ops is a real step). Usage: bench_cpu_step [steps] [threads]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/timer.h"
#include "cpu/cpu_backend.h"

namespace {

using primus::Backend;
using primus::Buffer;
using primus::DType;
using primus::Shape;
using primus::Tensor;

constexpr int64_t L = 12, C = 768, NH = 12, HS = C / NH, V = 50257, Vp = 50304, kMaxT = 1024;
constexpr int64_t B = 4, T = 64, N = B * T;

// Consecutive tensors carved out of one zero-filled buffer.
class Arena {
 public:
  Arena(Backend& be, int64_t floats) : buf_(be.alloc(static_cast<size_t>(floats) * 4)) {}
  Tensor take(Shape s) {
    Tensor t = buf_.as(DType::kF32, s, static_cast<size_t>(used_) * 4);
    used_ += s.numel();
    return t;
  }
  Tensor all(int64_t floats) const { return buf_.as(DType::kF32, Shape{floats}); }

 private:
  Buffer buf_;
  int64_t used_ = 0;
};

struct Params {  // llm.c's GPT-2 layout; the same struct names the gradients
  Tensor wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb;
  static int64_t count() {
    return Vp * C + kMaxT * C + L * (2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C) +
           2 * C;
  }
  void carve(Arena& a) {
    wte = a.take({Vp, C}); wpe = a.take({kMaxT, C});
    ln1w = a.take({L, C}); ln1b = a.take({L, C});
    qkvw = a.take({L, 3 * C, C}); qkvb = a.take({L, 3 * C});
    attprojw = a.take({L, C, C}); attprojb = a.take({L, C});
    ln2w = a.take({L, C}); ln2b = a.take({L, C});
    fcw = a.take({L, 4 * C, C}); fcb = a.take({L, 4 * C});
    fcprojw = a.take({L, C, 4 * C}); fcprojb = a.take({L, C});
    lnfw = a.take({C}); lnfb = a.take({C});
  }
};

// Row l of a per-layer stacked tensor (L, ...).
Tensor layer(const Tensor& t, int64_t l, Shape s) { return t.slice(l * s.numel(), s); }

struct Acts {  // per layer unless noted; the gradient set reuses the same struct
  Tensor encoded, ln1, ln1_mean, ln1_rstd, qkv, atty, lse, attproj, residual2, ln2, ln2_mean, ln2_rstd, fch,
      fch_gelu, fcproj, residual3, lnf, lnf_mean, lnf_rstd, logits, losses;
  static int64_t count() {
    return N * C + L * (N * C + 2 * N + 3 * N * C + N * C + NH * N + 2 * N * C + N * C + 2 * N + 8 * N * C + 2 * N * C) +
           N * C + 2 * N + N * Vp + N;
  }
  void carve(Arena& a) {
    encoded = a.take({B, T, C});
    ln1 = a.take({L, N, C}); ln1_mean = a.take({L, N}); ln1_rstd = a.take({L, N});
    qkv = a.take({L, B, T, 3 * C}); atty = a.take({L, N, C}); lse = a.take({L, B, NH, T});
    attproj = a.take({L, N, C}); residual2 = a.take({L, N, C});
    ln2 = a.take({L, N, C}); ln2_mean = a.take({L, N}); ln2_rstd = a.take({L, N});
    fch = a.take({L, N, 4 * C}); fch_gelu = a.take({L, N, 4 * C});
    fcproj = a.take({L, N, C}); residual3 = a.take({L, N, C});
    lnf = a.take({N, C}); lnf_mean = a.take({N}); lnf_rstd = a.take({N});
    logits = a.take({N, Vp}); losses = a.take({N});
  }
};

// CPU seconds of every thread of the process: with one thread, the work of an op undisturbed by
// other processes on the machine (the wall clock is not, on a shared machine).
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Profile {
  std::map<std::string, std::pair<double, double>> seconds;  // name -> (wall, process CPU)
  template <typename F>
  void time(const std::string& name, F&& f) {
    const double cpu0 = process_cpu_seconds();
    primus::Timer t;
    f();
    seconds[name].first += t.seconds();
    seconds[name].second += process_cpu_seconds() - cpu0;
  }
};

struct Model {
  Backend& be;
  Params p, g;
  Acts a, da;
  Tensor m, v, tokens, targets;
  Tensor params_flat, grads_flat, dacts_flat;  // (P), (P), (A): the whole buffers
  Profile prof;

  float forward() {
    be.encoder_forward(a.encoded, tokens, p.wte, p.wpe);
    for (int64_t l = 0; l < L; ++l) {
      const Tensor res = l == 0 ? a.encoded.view({N, C}) : layer(a.residual3, l - 1, {N, C});
      const Tensor ln1 = layer(a.ln1, l, {N, C}), qkv = layer(a.qkv, l, {B, T, 3 * C});
      const Tensor atty = layer(a.atty, l, {N, C}), attproj = layer(a.attproj, l, {N, C});
      const Tensor res2 = layer(a.residual2, l, {N, C}), ln2 = layer(a.ln2, l, {N, C});
      const Tensor fch = layer(a.fch, l, {N, 4 * C}), gelu = layer(a.fch_gelu, l, {N, 4 * C});
      const Tensor fcproj = layer(a.fcproj, l, {N, C}), res3 = layer(a.residual3, l, {N, C});
      prof.time("layernorm_forward", [&] {
        be.layernorm_forward(ln1, layer(a.ln1_mean, l, {N}), layer(a.ln1_rstd, l, {N}), res, layer(p.ln1w, l, {C}),
                             layer(p.ln1b, l, {C}), 1e-5f);
      });
      prof.time("matmul_forward", [&] {
        be.matmul_forward(qkv, ln1, layer(p.qkvw, l, {3 * C, C}), layer(p.qkvb, l, {3 * C}));
      });
      prof.time("attention_forward", [&] { be.attention_forward(atty, layer(a.lse, l, {B, NH, T}), qkv, NH, NH); });
      prof.time("matmul_forward", [&] {
        be.matmul_forward(attproj, atty, layer(p.attprojw, l, {C, C}), layer(p.attprojb, l, {C}));
      });
      prof.time("residual_forward", [&] { be.residual_forward(res2, res, attproj); });
      prof.time("layernorm_forward", [&] {
        be.layernorm_forward(ln2, layer(a.ln2_mean, l, {N}), layer(a.ln2_rstd, l, {N}), res2, layer(p.ln2w, l, {C}),
                             layer(p.ln2b, l, {C}), 1e-5f);
      });
      prof.time("matmul_forward", [&] { be.matmul_forward(fch, ln2, layer(p.fcw, l, {4 * C, C}), layer(p.fcb, l, {4 * C})); });
      prof.time("gelu_forward", [&] { be.gelu_forward(gelu, fch); });
      prof.time("matmul_forward", [&] {
        be.matmul_forward(fcproj, gelu, layer(p.fcprojw, l, {C, 4 * C}), layer(p.fcprojb, l, {C}));
      });
      prof.time("residual_forward", [&] { be.residual_forward(res3, res2, fcproj); });
    }
    const Tensor last = layer(a.residual3, L - 1, {N, C});
    prof.time("layernorm_forward", [&] { be.layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, last, p.lnfw, p.lnfb, 1e-5f); });
    prof.time("classifier_matmul_forward", [&] { be.matmul_forward(a.logits, a.lnf, p.wte, Tensor{}); });
    prof.time("cross_entropy_forward", [&] { be.cross_entropy_forward(a.losses, a.logits, targets, V, -1); });
    std::vector<float> losses(N);
    be.copy_to_host(losses.data(), a.losses);
    double sum = 0;
    for (float x : losses) sum += x;
    return static_cast<float>(sum / N);
  }

  void backward() {
    prof.time("zero_grad", [&] {
      be.fill(grads_flat, 0.0f);
      be.fill(dacts_flat, 0.0f);
    });
    prof.time("cross_entropy_backward", [&] {
      be.cross_entropy_backward(a.logits, a.logits, targets, V, -1, 1.0f / N);  // in place
    });
    prof.time("classifier_matmul_backward", [&] { be.matmul_backward(da.lnf, g.wte, Tensor{}, a.logits, a.lnf, p.wte); });
    const Tensor last = layer(a.residual3, L - 1, {N, C}), dlast = layer(da.residual3, L - 1, {N, C});
    prof.time("layernorm_backward", [&] {
      be.layernorm_backward(dlast, g.lnfw, g.lnfb, da.lnf, last, p.lnfw, a.lnf_mean, a.lnf_rstd);
    });
    for (int64_t l = L - 1; l >= 0; --l) {
      const Tensor res = l == 0 ? a.encoded.view({N, C}) : layer(a.residual3, l - 1, {N, C});
      const Tensor dres = l == 0 ? da.encoded.view({N, C}) : layer(da.residual3, l - 1, {N, C});
      auto act = [&](const Tensor& t, Shape s) { return layer(t, l, s); };
      const Tensor dres3 = act(da.residual3, {N, C}), dres2 = act(da.residual2, {N, C});
      prof.time("residual_backward", [&] { be.residual_backward(dres2, act(da.fcproj, {N, C}), dres3); });
      prof.time("matmul_backward", [&] {
        be.matmul_backward(act(da.fch_gelu, {N, 4 * C}), act(g.fcprojw, {C, 4 * C}), act(g.fcprojb, {C}),
                           act(da.fcproj, {N, C}), act(a.fch_gelu, {N, 4 * C}), act(p.fcprojw, {C, 4 * C}));
      });
      prof.time("gelu_backward", [&] {
        be.gelu_backward(act(da.fch, {N, 4 * C}), act(da.fch_gelu, {N, 4 * C}), act(a.fch, {N, 4 * C}));
      });
      prof.time("matmul_backward", [&] {
        be.matmul_backward(act(da.ln2, {N, C}), act(g.fcw, {4 * C, C}), act(g.fcb, {4 * C}), act(da.fch, {N, 4 * C}),
                           act(a.ln2, {N, C}), act(p.fcw, {4 * C, C}));
      });
      prof.time("layernorm_backward", [&] {
        be.layernorm_backward(dres2, act(g.ln2w, {C}), act(g.ln2b, {C}), act(da.ln2, {N, C}), act(a.residual2, {N, C}),
                              act(p.ln2w, {C}), act(a.ln2_mean, {N}), act(a.ln2_rstd, {N}));
      });
      prof.time("residual_backward", [&] { be.residual_backward(dres, act(da.attproj, {N, C}), dres2); });
      prof.time("matmul_backward", [&] {
        be.matmul_backward(act(da.atty, {N, C}), act(g.attprojw, {C, C}), act(g.attprojb, {C}),
                           act(da.attproj, {N, C}), act(a.atty, {N, C}), act(p.attprojw, {C, C}));
      });
      prof.time("attention_backward", [&] {
        be.attention_backward(act(da.qkv, {B, T, 3 * C}), act(da.atty, {N, C}), act(a.qkv, {B, T, 3 * C}),
                              act(a.atty, {N, C}), act(a.lse, {B, NH, T}), NH, NH);
      });
      prof.time("matmul_backward", [&] {
        be.matmul_backward(act(da.ln1, {N, C}), act(g.qkvw, {3 * C, C}), act(g.qkvb, {3 * C}),
                           act(da.qkv, {N, 3 * C}), act(a.ln1, {N, C}), act(p.qkvw, {3 * C, C}));
      });
      prof.time("layernorm_backward", [&] {
        be.layernorm_backward(dres, act(g.ln1w, {C}), act(g.ln1b, {C}), act(da.ln1, {N, C}), res, act(p.ln1w, {C}),
                              act(a.ln1_mean, {N}), act(a.ln1_rstd, {N}));
      });
    }
    prof.time("encoder_backward", [&] { be.encoder_backward(g.wte, g.wpe, da.encoded, tokens); });
  }

  float update(int64_t step) {
    const int64_t P = Params::count();
    const Tensor params = params_flat, grads = grads_flat;
    std::vector<float> norm2(1);
    Buffer out = be.alloc(4);
    prof.time("grad_norm_squared", [&] { be.grad_norm_squared(out.as(DType::kF32, {1}), grads); });
    be.copy_to_host(norm2.data(), out.as(DType::kF32, {1}));
    const float norm = std::sqrt(norm2[0]);
    const primus::ParamSegment all{.offset = 0, .size = P, .weight_decay = 0.0f};
    const primus::AdamWArgs args{.lr = 1e-4f, .step = step, .grad_scale = norm > 1.0f ? 1.0f / norm : 1.0f};
    prof.time("adamw_update", [&] { be.adamw_update(params, Tensor{}, m, v, grads, {&all, 1}, args); });
    return norm;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 4;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  auto be = primus::cpu::make_cpu_backend(threads);
  const int64_t P = Params::count(), A = Acts::count();
  Arena params(*be, P), grads(*be, P), m(*be, P), v(*be, P), acts(*be, A), dacts(*be, A), io(*be, 2 * N);
  Model model{*be, {}, {}, {}, {}, m.all(P), v.all(P), io.take({B, T}), io.take({B, T}),
              params.all(P), grads.all(P), dacts.all(A), {}};
  model.p.carve(params);
  model.g.carve(grads);
  model.a.carve(acts);
  model.da.carve(dacts);
  model.tokens.dtype = model.targets.dtype = DType::kI32;

  primus::Rng rng(1337);  // GPT-2 init: N(0, 0.02), layernorm weights 1
  std::vector<float> host(static_cast<size_t>(P));
  for (float& x : host) x = rng.normal(0.0f, 0.02f);
  be->copy_from_host(params.all(P), host.data());
  for (const Tensor& w : {model.p.ln1w, model.p.ln2w, model.p.lnfw}) be->fill(w, 1.0f);
  std::vector<int32_t> tok(N + 1);
  for (int32_t& t : tok) t = static_cast<int32_t>(rng.below(V));
  be->copy_from_host(model.tokens, tok.data());
  be->copy_from_host(model.targets, tok.data() + 1);

  std::printf("GPT-2 124M (%lld parameters), B=%lld T=%lld, fp32, %s backend\n", static_cast<long long>(P),
              static_cast<long long>(B), static_cast<long long>(T), std::string(be->name()).c_str());
  double total = 0, total_cpu = 0;
  for (int step = 0; step <= steps; ++step) {  // step 0 warms up and is not counted
    if (step == 1) model.prof.seconds.clear();
    const double cpu0 = process_cpu_seconds();
    primus::Timer t;
    const float loss = model.forward();
    model.backward();
    const float norm = model.update(step + 1);
    const double s = t.seconds(), cpu = process_cpu_seconds() - cpu0;
    if (step > 0) total += s, total_cpu += cpu;
    std::printf("step %d: loss %.4f  grad norm %.4f  %.3f s (CPU %.3f s)%s\n", step, loss, norm, s, cpu,
                step == 0 ? " (warm-up)" : "");
  }
  std::printf("\nmean step time over %d steps: %.3f s (process CPU time %.3f s)\n", steps, total / steps,
              total_cpu / steps);
  // GEMM work: 2 flop per multiply-add, the backward twice the forward (dinp and dweight).
  const double gemm_flop = 3 * 2.0 * N * C * (L * 12 * C + Vp);
  double gemm_wall = 0, gemm_cpu = 0;
  for (const auto& [name, sec] : model.prof.seconds)
    if (name.find("matmul") != std::string::npos) gemm_wall += sec.first / steps, gemm_cpu += sec.second / steps;
  std::printf("GEMMs: %.1f GFLOP per step, %.1f GFLOP/s wall, %.1f GFLOP/s per CPU second\n", gemm_flop / 1e9,
              gemm_flop / gemm_wall / 1e9, gemm_flop / gemm_cpu / 1e9);
  std::printf("mean per step by op kind, ms:       wall       CPU\n");
  for (const auto& [name, sec] : model.prof.seconds)
    std::printf("  %-28s %9.1f %9.1f\n", name.c_str(), sec.first * 1e3 / steps, sec.second * 1e3 / steps);
  return 0;
}
