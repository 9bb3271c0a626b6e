// The CPU backend: checks each op's shapes, then runs the float instantiation of the templated
// kernels in cpu/kernels_*.h (GEMMs through single-threaded OpenBLAS calls split over the OpenMP
// threads, other loops with OpenMP). Memory is 64-byte aligned host memory, zero-filled, with a
// high-water mark of what is allocated at once.
#include "cpu/cpu_backend.h"

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/shape_checks.h"
#include "core/error.h"
#include "core/rng.h"
#include "cpu/kernels_attention.h"
#include "cpu/kernels_loss.h"
#include "cpu/kernels_matmul.h"
#include "cpu/kernels_norm.h"
#include "cpu/kernels_optim.h"
#include "cpu/kernels_pointwise.h"
#include "cpu/kernels_rope.h"
#include "cpu/kernels_shard.h"

namespace primus::cpu {
namespace {

struct MemoryStats {
  std::atomic<size_t> current{0};
  std::atomic<size_t> peak{0};
};

float* f32_or_null(const Tensor& t) { return t.empty() ? nullptr : t.f32(); }

const int32_t* i32(const Tensor& t, const char* what) {
  PRIMUS_CHECK(t.dtype == DType::kI32, "{}: expected int32, got {}", what, dtype_name(t.dtype));
  return t.ptr<int32_t>();
}

void check_numel(const Tensor& t, int64_t n, const char* what) {
  PRIMUS_CHECK(t.numel() == n, "{}: shape {} has {} elements, expected {}", what, t.shape.str(),
               t.numel(), n);
}

// Optional tensors (gradients that are not needed, absent biases) are empty.
void check_numel_or_empty(const Tensor& t, int64_t n, const char* what) {
  if (!t.empty()) check_numel(t, n, what);
}

// (B, T, head size) of packed qkv (B,T,(NH+2*NKV)*HS).
struct QkvDims {
  int64_t B, T, HS;
};

QkvDims qkv_dims(const Tensor& qkv, int64_t NH, int64_t NKV) {
  PRIMUS_CHECK(qkv.shape.ndim == 3, "qkv must be (B,T,(NH+2*NKV)*HS), got {}", qkv.shape.str());
  PRIMUS_CHECK(NH > 0 && NKV > 0 && NH % NKV == 0, "NH={} must be a multiple of NKV={}", NH, NKV);
  PRIMUS_CHECK(qkv.dim(2) % (NH + 2 * NKV) == 0, "qkv width {} is not (NH+2*NKV)*HS with NH={}, NKV={}",
               qkv.dim(2), NH, NKV);
  return {qkv.dim(0), qkv.dim(1), qkv.dim(2) / (NH + 2 * NKV)};
}

void check_rope_tables(const Tensor& cos, const Tensor& sin, int64_t T, int64_t HS) {
  PRIMUS_CHECK(HS % 2 == 0, "rope needs an even head size, got {}", HS);
  for (const Tensor* t : {&cos, &sin}) {
    PRIMUS_CHECK(t->shape[-1] == HS / 2 && t->numel() >= T * HS / 2,
                 "rope table {} does not cover T={} positions of HS/2={}", t->shape.str(), T, HS / 2);
  }
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : stats_(std::make_shared<MemoryStats>()) {
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
    openblas_set_num_threads(1);  // GEMMs are split over the OpenMP threads (kernels_matmul.h)
  }

  std::string_view name() const override { return "cpu"; }
  DeviceKind device() const override { return DeviceKind::kCPU; }
  bool supports(Op op, DType dtype) const override {
    return dtype == DType::kF32 || (dtype == DType::kBF16 && op == Op::kConvert);
  }

  Buffer alloc(size_t bytes) override {
    const size_t padded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, padded);
    if (!p)
      throw Error(fmt::format("out of host memory allocating {} bytes", bytes),
                  "use a smaller model, batch or sequence length");
    std::memset(p, 0, padded);
    const size_t now = stats_->current += bytes;
    size_t peak = stats_->peak.load();
    while (now > peak && !stats_->peak.compare_exchange_weak(peak, now)) {
    }
    return Buffer(p, bytes, DeviceKind::kCPU, [stats = stats_, bytes](void* q) {
      std::free(q);
      stats->current -= bytes;
    });
  }
  void copy_from_host(Tensor dst, const void* src) override { std::memcpy(dst.data, src, dst.nbytes()); }
  void copy_to_host(void* dst, Tensor src) override { std::memcpy(dst, src.data, src.nbytes()); }
  void copy(Tensor dst, Tensor src) override {
    PRIMUS_CHECK(dst.dtype == src.dtype, "copy: {} from {}", dtype_name(dst.dtype), dtype_name(src.dtype));
    check_same_numel(dst, src, "copy");
    if (dst.data != src.data) std::memmove(dst.data, src.data, dst.nbytes());
  }
  void fill(Tensor dst, float value) override;
  void fill_normal(Tensor dst, uint64_t rng_state, float stddev) override {   // straight into dst
    PRIMUS_CHECK(dst.dtype == DType::kF32, "fill_normal: dtype {}", dtype_name(dst.dtype));
    Rng(rng_state).fill_normal(dst.f32(), dst.numel(), 0.0f, stddev, omp_get_max_threads());
  }
  void convert(Tensor dst, Tensor src) override;
  void synchronize() override {}
  size_t peak_memory_bytes() const override { return stats_->peak.load(); }

  void encoder_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe) override {
    PRIMUS_CHECK(tokens.shape.ndim == 2, "tokens must be (B,T), got {}", tokens.shape.str());
    const int64_t B = tokens.dim(0), T = tokens.numel() / B, C = cols_of(wte);
    check_numel(out, B * T * C, "encoder out");
    check_tokens(tokens, wte.numel() / C);
    if (!wpe.empty()) PRIMUS_CHECK(cols_of(wpe) == C && rows_of(wpe) >= T, "wpe {} for T={}", wpe.shape.str(), T);
    encoder_forward_kernel(out.f32(), i32(tokens, "tokens"), wte.f32(), f32_or_null(wpe), B, T, C);
  }
  void encoder_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) override {
    PRIMUS_CHECK(tokens.shape.ndim == 2, "tokens must be (B,T), got {}", tokens.shape.str());
    const int64_t B = tokens.dim(0), T = tokens.numel() / B, C = cols_of(dout);
    check_numel(dout, B * T * C, "encoder dout");
    if (!dwte.empty()) check_tokens(tokens, dwte.numel() / C);
    if (!dwpe.empty()) PRIMUS_CHECK(cols_of(dwpe) == C && rows_of(dwpe) >= T, "dwpe {} for T={}", dwpe.shape.str(), T);
    encoder_backward_kernel(f32_or_null(dwte), f32_or_null(dwpe), dout.f32(), i32(tokens, "tokens"), B, T, C);
  }

  void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                         float eps) override {
    const int64_t N = rows_of(inp), C = cols_of(inp);
    check_numel(out, N * C, "layernorm out");
    check_numel(mean, N, "layernorm mean");
    check_numel(rstd, N, "layernorm rstd");
    check_numel(weight, C, "layernorm weight");
    check_numel_or_empty(bias, C, "layernorm bias");
    layernorm_forward_kernel(out.f32(), mean.f32(), rstd.f32(), inp.f32(), weight.f32(), f32_or_null(bias),
                             N, C, eps);
  }
  void layernorm_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                          Tensor mean, Tensor rstd) override {
    const int64_t N = rows_of(inp), C = cols_of(inp);
    check_numel(dout, N * C, "layernorm dout");
    check_numel_or_empty(dinp, N * C, "layernorm dinp");
    check_numel_or_empty(dweight, C, "layernorm dweight");
    check_numel_or_empty(dbias, C, "layernorm dbias");
    check_numel(weight, C, "layernorm weight");
    check_numel(mean, N, "layernorm mean");
    check_numel(rstd, N, "layernorm rstd");
    layernorm_backward_kernel(f32_or_null(dinp), f32_or_null(dweight), f32_or_null(dbias), dout.f32(),
                              inp.f32(), weight.f32(), mean.f32(), rstd.f32(), N, C);
  }
  void rmsnorm_forward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) override {
    const int64_t N = rows_of(inp), C = cols_of(inp);
    check_numel(out, N * C, "rmsnorm out");
    check_numel(rstd, N, "rmsnorm rstd");
    check_numel(weight, C, "rmsnorm weight");
    rmsnorm_forward_kernel(out.f32(), rstd.f32(), inp.f32(), weight.f32(), N, C, eps);
  }
  void rmsnorm_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                        Tensor rstd) override {
    const int64_t N = rows_of(inp), C = cols_of(inp);
    check_numel(dout, N * C, "rmsnorm dout");
    check_numel_or_empty(dinp, N * C, "rmsnorm dinp");
    check_numel_or_empty(dweight, C, "rmsnorm dweight");
    check_numel(weight, C, "rmsnorm weight");
    check_numel(rstd, N, "rmsnorm rstd");
    rmsnorm_backward_kernel(f32_or_null(dinp), f32_or_null(dweight), dout.f32(), inp.f32(), weight.f32(),
                            rstd.f32(), N, C);
  }

  void matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias) override {
    const int64_t N = rows_of(inp), C = cols_of(inp), OC = rows_of(weight);
    PRIMUS_CHECK(cols_of(weight) == C, "matmul: weight {} for input {}", weight.shape.str(), inp.shape.str());
    check_numel(out, N * OC, "matmul out");
    check_numel_or_empty(bias, OC, "matmul bias");
    matmul_forward_kernel(out.f32(), inp.f32(), weight.f32(), f32_or_null(bias), N, C, OC);
  }
  void matmul_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                       bool accumulate_dinp = true) override {
    const int64_t N = rows_of(dout), OC = cols_of(dout), C = cols_of(inp);
    check_numel(inp, N * C, "matmul inp");
    check_numel(weight, OC * C, "matmul weight");
    check_numel_or_empty(dinp, N * C, "matmul dinp");
    check_numel_or_empty(dweight, OC * C, "matmul dweight");
    check_numel_or_empty(dbias, OC, "matmul dbias");
    if (!accumulate_dinp && !dinp.empty()) fill(dinp, 0.0f);   // the kernel accumulates
    matmul_backward_kernel(f32_or_null(dinp), f32_or_null(dweight), f32_or_null(dbias), dout.f32(),
                           inp.f32(), weight.f32(), N, C, OC);
  }

  void rope_forward(Tensor out, Tensor inp, Tensor cos, Tensor sin, int64_t NH, int64_t NKV) override {
    const QkvDims d = qkv_dims(inp, NH, NKV);
    check_same_numel(out, inp, "rope out");
    check_rope_tables(cos, sin, d.T, d.HS);
    rope_forward_kernel(out.f32(), inp.f32(), cos.f32(), sin.f32(), d.B, d.T, NH, NKV, d.HS);
  }
  void rope_backward(Tensor dinp, Tensor dout, Tensor cos, Tensor sin, int64_t NH, int64_t NKV) override {
    const QkvDims d = qkv_dims(dout, NH, NKV);
    check_same_numel(dinp, dout, "rope dinp");
    check_rope_tables(cos, sin, d.T, d.HS);
    rope_backward_kernel(dinp.f32(), dout.f32(), cos.f32(), sin.f32(), d.B, d.T, NH, NKV, d.HS);
  }

  void attention_forward(Tensor out, Tensor lse, Tensor qkv, int64_t NH, int64_t NKV) override {
    const QkvDims d = qkv_dims(qkv, NH, NKV);
    check_numel(out, d.B * d.T * NH * d.HS, "attention out");
    check_numel(lse, d.B * NH * d.T, "attention lse");
    attention_forward_kernel(out.f32(), lse.f32(), qkv.f32(), d.B, d.T, NH, NKV, d.HS);
  }
  void attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int64_t NH,
                          int64_t NKV) override {
    const QkvDims d = qkv_dims(qkv, NH, NKV);
    check_same_numel(dqkv, qkv, "attention dqkv");
    check_numel(dout, d.B * d.T * NH * d.HS, "attention dout");
    check_numel(out, d.B * d.T * NH * d.HS, "attention out");
    check_numel(lse, d.B * NH * d.T, "attention lse");
    attention_backward_kernel(dqkv.f32(), dout.f32(), qkv.f32(), out.f32(), lse.f32(), d.B, d.T, NH, NKV,
                              d.HS);
  }

  void gelu_forward(Tensor out, Tensor inp) override {
    check_same_numel(out, inp, "gelu out");
    gelu_forward_kernel(out.f32(), inp.f32(), inp.numel());
  }
  void gelu_backward(Tensor dinp, Tensor dout, Tensor inp) override {
    check_same_numel(dinp, inp, "gelu dinp");
    check_same_numel(dout, inp, "gelu dout");
    gelu_backward_kernel(dinp.f32(), dout.f32(), inp.f32(), inp.numel());
  }
  void swiglu_forward(Tensor out, Tensor inp) override {
    const int64_t N = rows_of(inp), FF = cols_of(inp) / 2;
    PRIMUS_CHECK(cols_of(inp) % 2 == 0, "swiglu input {} is not (N,2*FF)", inp.shape.str());
    check_numel(out, N * FF, "swiglu out");
    swiglu_forward_kernel(out.f32(), inp.f32(), N, FF);
  }
  void swiglu_backward(Tensor dinp, Tensor dout, Tensor inp) override {
    const int64_t N = rows_of(inp), FF = cols_of(inp) / 2;
    PRIMUS_CHECK(cols_of(inp) % 2 == 0, "swiglu input {} is not (N,2*FF)", inp.shape.str());
    check_same_numel(dinp, inp, "swiglu dinp");
    check_numel(dout, N * FF, "swiglu dout");
    swiglu_backward_kernel(dinp.f32(), dout.f32(), inp.f32(), N, FF);
  }
  void residual_forward(Tensor out, Tensor a, Tensor b) override {
    check_same_numel(out, a, "residual a");
    check_same_numel(out, b, "residual b");
    residual_forward_kernel(out.f32(), a.f32(), b.f32(), out.numel());
  }
  void residual_backward(Tensor da, Tensor db, Tensor dout) override {
    check_numel_or_empty(da, dout.numel(), "residual da");
    check_numel_or_empty(db, dout.numel(), "residual db");
    residual_backward_kernel(f32_or_null(da), f32_or_null(db), dout.f32(), dout.numel());
  }

  void cross_entropy_forward(Tensor losses, Tensor logits, Tensor targets, int64_t V,
                             int64_t ignore_index) override {
    const int64_t N = rows_of(logits), Vp = cols_of(logits);
    check_numel(losses, N, "cross-entropy losses");
    check_targets(targets, N, V, Vp, ignore_index);
    cross_entropy_forward_kernel(losses.f32(), logits.f32(), i32(targets, "targets"), N, Vp, V, ignore_index);
  }
  void cross_entropy_backward(Tensor dlogits, Tensor logits, Tensor targets, int64_t V, int64_t ignore_index,
                              float grad_scale, Tensor /*losses: recomputed here*/ = {}) override {
    const int64_t N = rows_of(logits), Vp = cols_of(logits);
    check_same_numel(dlogits, logits, "cross-entropy dlogits");
    check_targets(targets, N, V, Vp, ignore_index);
    cross_entropy_backward_kernel(dlogits.f32(), logits.f32(), i32(targets, "targets"), N, Vp, V,
                                  ignore_index, grad_scale);
  }

  void encoder_shard_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int64_t vocab_begin) override {
    PRIMUS_CHECK(tokens.shape.ndim == 2, "tokens must be (B,T), got {}", tokens.shape.str());
    const int64_t B = tokens.dim(0), T = tokens.numel() / B, C = cols_of(wte);
    check_numel(out, B * T * C, "encoder out");
    if (!wpe.empty()) PRIMUS_CHECK(cols_of(wpe) == C && rows_of(wpe) >= T, "wpe {} for T={}", wpe.shape.str(), T);
    encoder_shard_forward_kernel(out.f32(), i32(tokens, "tokens"), wte.f32(), f32_or_null(wpe), B, T, C,
                                 vocab_begin, rows_of(wte));
  }
  void encoder_shard_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens, int64_t vocab_begin) override {
    PRIMUS_CHECK(tokens.shape.ndim == 2, "tokens must be (B,T), got {}", tokens.shape.str());
    const int64_t B = tokens.dim(0), T = tokens.numel() / B, C = cols_of(dout);
    check_numel(dout, B * T * C, "encoder dout");
    if (!dwpe.empty()) PRIMUS_CHECK(cols_of(dwpe) == C && rows_of(dwpe) >= T, "dwpe {} for T={}", dwpe.shape.str(), T);
    encoder_shard_backward_kernel(f32_or_null(dwte), f32_or_null(dwpe), dout.f32(), i32(tokens, "tokens"), B, T, C,
                                  vocab_begin, dwte.empty() ? 0 : dwte.numel() / C);
  }
  void cross_entropy_shard_max(Tensor row_max, Tensor logits, int64_t vocab_begin, int64_t V) override {
    const int64_t N = rows_of(logits), Vs = cols_of(logits);
    check_numel(row_max, N, "cross-entropy row_max");
    cross_entropy_shard_max_kernel(row_max.f32(), logits.f32(), N, Vs, vocab_begin, V);
  }
  void cross_entropy_shard_sums(Tensor sums, Tensor logits, Tensor row_max, Tensor targets, int64_t vocab_begin,
                                int64_t V, int64_t ignore_index) override {
    const int64_t N = rows_of(logits), Vs = cols_of(logits);
    check_numel(sums, 2 * N, "cross-entropy sums");
    check_numel(row_max, N, "cross-entropy row_max");
    check_numel(targets, N, "cross-entropy targets");
    cross_entropy_shard_sums_kernel(sums.f32(), logits.f32(), row_max.f32(), i32(targets, "targets"), N, Vs,
                                    vocab_begin, V, ignore_index);
  }
  void cross_entropy_shard_backward(Tensor dlogits, Tensor logits, Tensor row_max, Tensor sum_exp, Tensor targets,
                                    int64_t vocab_begin, int64_t V, int64_t ignore_index, float grad_scale) override {
    const int64_t N = rows_of(logits), Vs = cols_of(logits);
    check_same_numel(dlogits, logits, "cross-entropy dlogits");
    check_numel(row_max, N, "cross-entropy row_max");
    check_numel(sum_exp, N, "cross-entropy sum_exp");
    check_numel(targets, N, "cross-entropy targets");
    cross_entropy_shard_backward_kernel(dlogits.f32(), logits.f32(), row_max.f32(), sum_exp.f32(),
                                        i32(targets, "targets"), N, Vs, vocab_begin, V, ignore_index, grad_scale);
  }

  void adamw_update(Tensor params, Tensor master, Tensor m, Tensor v, Tensor grads,
                    std::span<const ParamSegment> segments, const AdamWArgs& args) override;
  void grad_norm_squared(Tensor out, Tensor grads) override;
  void scale(Tensor t, float s) override { scale_kernel(t.f32(), s, t.numel()); }
  void sum_accumulate(Tensor out, Tensor inp, float scale) override {
    check_numel(out, 1, "sum_accumulate out");
    const float* x = inp.f32();
    double sum = 0;
    for (int64_t i = 0; i < inp.numel(); ++i) sum += x[i];
    out.f32()[0] += static_cast<float>(static_cast<double>(scale) * sum);
  }

 private:
  static void check_tokens(const Tensor& tokens, int64_t Vp) {
    const int32_t* tok = i32(tokens, "tokens");
    for (int64_t i = 0; i < tokens.numel(); ++i)
      PRIMUS_CHECK(tok[i] >= 0 && tok[i] < Vp, "token {} at {} outside [0, {})", tok[i], i, Vp);
  }
  static void check_targets(const Tensor& targets, int64_t N, int64_t V, int64_t Vp, int64_t ignore_index) {
    PRIMUS_CHECK(V > 0 && V <= Vp, "cross-entropy: V={} with {} logit columns", V, Vp);
    check_numel(targets, N, "cross-entropy targets");
    const int32_t* tgt = i32(targets, "targets");
    for (int64_t i = 0; i < N; ++i)
      PRIMUS_CHECK(tgt[i] == ignore_index || (tgt[i] >= 0 && tgt[i] < V),
                   "target {} at row {} outside [0, {}) and not ignore_index {}", tgt[i], i, V, ignore_index);
  }

  std::shared_ptr<MemoryStats> stats_;  // shared with the deleters of live buffers
};

void CpuBackend::fill(Tensor dst, float value) {
  const int64_t n = dst.numel();
  switch (dst.dtype) {
    case DType::kF32: fill_kernel(dst.ptr<float>(), value, n); break;
    case DType::kBF16: std::fill(dst.ptr<uint16_t>(), dst.ptr<uint16_t>() + n, bf16_from_float(value)); break;
    case DType::kI32: std::fill(dst.ptr<int32_t>(), dst.ptr<int32_t>() + n, static_cast<int32_t>(value)); break;
    default: PRIMUS_CHECK(false, "fill: unsupported dtype {}", dtype_name(dst.dtype));
  }
}

void CpuBackend::convert(Tensor dst, Tensor src) {
  check_same_numel(dst, src, "convert");
  const int64_t n = src.numel();
  if (dst.dtype == src.dtype) {
    copy(dst, src);
  } else if (dst.dtype == DType::kBF16 && src.dtype == DType::kF32) {
    uint16_t* d = dst.ptr<uint16_t>();
    const float* s = src.ptr<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_from_float(s[i]);
  } else if (dst.dtype == DType::kF32 && src.dtype == DType::kBF16) {
    float* d = dst.ptr<float>();
    const uint16_t* s = src.ptr<uint16_t>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_float(s[i]);
  } else {
    PRIMUS_CHECK(false, "convert: {} to {} is not supported", dtype_name(src.dtype), dtype_name(dst.dtype));
  }
}

void CpuBackend::adamw_update(Tensor params, Tensor master, Tensor m, Tensor v, Tensor grads,
                              std::span<const ParamSegment> segments, const AdamWArgs& args) {
  const int64_t P = params.numel();
  check_numel_or_empty(master, P, "adamw master");
  check_numel(m, P, "adamw m");
  check_numel(v, P, "adamw v");
  check_numel(grads, P, "adamw grads");
  PRIMUS_CHECK(args.step >= 1, "adamw step {} must be 1-based", args.step);
  AdamWStep<float> a{.lr = args.lr, .beta1 = args.beta1, .beta2 = args.beta2, .eps = args.eps,
                     .weight_decay = 0.0f, .grad_scale = args.grad_scale,
                     .bias_correction1 = static_cast<float>(1.0 - std::pow(double(args.beta1), double(args.step))),
                     .bias_correction2 = static_cast<float>(1.0 - std::pow(double(args.beta2), double(args.step)))};
  float* p = params.f32();
  float* mp = f32_or_null(master);
  for (const ParamSegment& s : segments) {
    PRIMUS_CHECK(s.offset >= 0 && s.size >= 0 && s.offset + s.size <= P, "adamw segment [{}, +{}) outside {}",
                 s.offset, s.size, P);
    a.weight_decay = s.weight_decay;
    adamw_update_kernel(p + s.offset, mp ? mp + s.offset : nullptr, m.f32() + s.offset, v.f32() + s.offset,
                        grads.f32() + s.offset, s.size, a);
  }
}

void CpuBackend::grad_norm_squared(Tensor out, Tensor grads) {
  check_numel(out, 1, "grad norm out");
  double sum = 0;
  if (grads.dtype == DType::kBF16) {
    sum = sum_squares_kernel(grads.ptr<uint16_t>(), grads.numel(),
                             [](uint16_t h) { return static_cast<double>(bf16_to_float(h)); });
  } else {
    sum = sum_squares_kernel(grads.f32(), grads.numel(), [](float g) { return static_cast<double>(g); });
  }
  out.f32()[0] = static_cast<float>(sum);
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
#if defined(__x86_64__) && defined(__AVX2__)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    throw Error("the CPU backend was built for AVX2 and FMA, which this CPU lacks",
                "run on an x86-64 CPU from 2013 or later");
#endif
  return std::make_unique<CpuBackend>(threads);
}

}  // namespace primus::cpu
