// Attention benchmark (see attention.h).
#include "bench/attention.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"

namespace primus::bench {
namespace {

void upload(Backend& be, Tensor t, Rng& rng, float scale) {
  std::vector<float> host(static_cast<size_t>(t.numel()));  // (numel)
  for (float& x : host) x = (rng.uniform() * 2.0f - 1.0f) * scale;
  if (t.dtype == DType::kF32) return be.copy_from_host(t, host.data());
  std::vector<uint16_t> bits(host.size());  // (numel) bf16
  for (size_t i = 0; i < host.size(); ++i) bits[i] = bf16_from_float(host[i]);
  be.copy_from_host(t, bits.data());
}

template <typename F>
double time_calls(Backend& be, int warmup, int iters, F&& call) {
  for (int i = 0; i < warmup; ++i) call();
  be.synchronize();
  Timer t;
  for (int i = 0; i < iters; ++i) call();
  be.synchronize();
  return t.seconds() / std::max(1, iters);
}

}  // namespace

Report attention_report(const AttentionSweep& s, Backend& be, double peak) {
  if (s.heads <= 0 || s.kv_heads <= 0 || s.head_dim <= 0 || s.batch <= 0 || s.heads % s.kv_heads != 0)
    throw usage_error(fmt::format("bad head layout: heads {}, kv heads {}, head dim {}, batch {}", s.heads, s.kv_heads,
                                  s.head_dim, s.batch),
                      "kv heads must divide heads; all must be positive");
  if (!be.supports(Op::kAttention, s.dtype))
    throw usage_error(fmt::format("backend {} has no {} attention", be.name(), dtype_name(s.dtype)));
  Report r;
  r.title = "attention";
  r.columns = {{"batch", "B"},  {"seq_len", "T"}, {"heads", "NH"}, {"kv_heads", "NKV"}, {"head_dim", "HS"}, {"dtype", "dtype"},
               {"fwd_us", "fwd (us)", 1}, {"fwd_tflops", "fwd TFLOP/s", 2}, {"bwd_us", "bwd (us)", 1},
               {"bwd_tflops", "bwd TFLOP/s", 2}, {"tflops", "fwd+bwd TFLOP/s", 2}, {"peak_pct", "% peak", 1}};
  r.key_columns = {"batch", "seq_len", "heads", "kv_heads", "head_dim", "dtype"};
  r.metric = "tflops";
  Rng rng(5);
  for (int64_t T : s.seq_lens) {
    const int64_t B = s.batch, QKV = (s.heads + 2 * s.kv_heads) * s.head_dim, A = s.heads * s.head_dim;
    const size_t es = dtype_size(s.dtype);
    Buffer qkv_m = be.alloc(static_cast<size_t>(B * T * QKV) * es), out_m = be.alloc(static_cast<size_t>(B * T * A) * es);
    Buffer lse_m = be.alloc(static_cast<size_t>(B * s.heads * T) * 4), dqkv_m = be.alloc(static_cast<size_t>(B * T * QKV) * es);
    Buffer dout_m = be.alloc(static_cast<size_t>(B * T * A) * es);
    Tensor qkv = qkv_m.as(s.dtype, {B, T, QKV});            // (B,T,(NH+2*NKV)*HS)
    Tensor out = out_m.as(s.dtype, {B, T, A});              // (B,T,NH*HS)
    Tensor lse = lse_m.as(DType::kF32, {B, s.heads, T});    // (B,NH,T)
    Tensor dqkv = dqkv_m.as(s.dtype, {B, T, QKV});          // (B,T,(NH+2*NKV)*HS)
    Tensor dout = dout_m.as(s.dtype, {B, T, A});            // (B,T,NH*HS)
    upload(be, qkv, rng, 1.0f);
    upload(be, dout, rng, 0.1f);
    be.fill(out, NAN);
    log_info("attention B={} T={} NH={} NKV={} HS={}", B, T, s.heads, s.kv_heads, s.head_dim);
    const double fwd_s = time_calls(be, s.warmup, s.iters, [&] { be.attention_forward(out, lse, qkv, s.heads, s.kv_heads); });
    if (s.dtype == DType::kF32) {
      std::vector<float> all(static_cast<size_t>(out.numel()));
      be.copy_to_host(all.data(), out);
      for (float v : all)
        if (!std::isfinite(v)) throw Error(fmt::format("attention_forward on {} left non-finite outputs", be.name()));
    }
    const double bwd_s = time_calls(be, s.warmup, s.iters, [&] {
      be.attention_backward(dqkv, dout, qkv, out, lse, s.heads, s.kv_heads);
    });
    const double fwd_flops = 2.0 * static_cast<double>(B * s.heads) * static_cast<double>(T) * static_cast<double>(T) *
                             static_cast<double>(s.head_dim);
    const double bwd_flops = 2.5 * fwd_flops;
    const double total = (fwd_flops + bwd_flops) / (fwd_s + bwd_s) / 1e12;
    r.rows.push_back({{"batch", B}, {"seq_len", T}, {"heads", s.heads}, {"kv_heads", s.kv_heads}, {"head_dim", s.head_dim},
                      {"dtype", std::string(dtype_name(s.dtype))}, {"fwd_us", fwd_s * 1e6}, {"fwd_tflops", fwd_flops / fwd_s / 1e12},
                      {"bwd_us", bwd_s * 1e6}, {"bwd_tflops", bwd_flops / bwd_s / 1e12}, {"tflops", total},
                      {"peak_pct", peak > 0 ? nlohmann::json(100.0 * total / peak) : nlohmann::json()}});
  }
  return r;
}

Chart attention_chart(const Report& r) {
  Chart c{"Causal attention", "sequence length", "TFLOP/s", true, true, {}};
  Series fwd{"forward", {}}, bwd{"backward", {}};
  for (const auto& row : r.rows) {
    fwd.points.emplace_back(row.value("seq_len", 0.0), row.value("fwd_tflops", 0.0));
    bwd.points.emplace_back(row.value("seq_len", 0.0), row.value("bwd_tflops", 0.0));
  }
  c.series = {fwd, bwd};
  return c;
}

}  // namespace primus::bench
