// The CUDA backend: checks shapes and dtypes on the host, then calls the kernel launchers
// (kernels.h) and cuBLASLt (matmul.h) on the backend's own stream. Every tensor of an op's
// activations and weights shares one dtype (fp32 or bf16); statistics, rope tables, optimizer
// moments and master weights are fp32; parameter gradients are fp32 or the activations' dtype.
// peak_memory_bytes counts every cudaMalloc this backend makes (alloc() plus its workspaces).
#include "cuda/cuda_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/shape_checks.h"
#include "core/error.h"
#include "core/rng.h"
#include "cuda/cuda_check.h"
#include "cuda/graph.h"
#include "cuda/kernels.h"
#include "cuda/matmul.h"
#include "cuda/matmul_fp8.h"

namespace primus::cuda {
namespace {

struct MemoryStats {
  size_t current = 0;
  size_t peak = 0;
  void add(size_t b) { current += b; if (current > peak) peak = current; }
};

bool is_float(DType t) { return t == DType::kF32 || t == DType::kBF16; }

void check_device(const Tensor& t, const char* what) {
  PRIMUS_CHECK(t.empty() || t.device == DeviceKind::kCUDA, "{} is not a CUDA tensor", what);
}
void check_same(const Tensor& a, const Tensor& b, const char* what) {
  PRIMUS_CHECK(a.dtype == b.dtype, "{}: dtype {} vs {}", what, dtype_name(a.dtype), dtype_name(b.dtype));
  PRIMUS_CHECK(a.numel() == b.numel(), "{}: {} vs {} elements", what, a.numel(), b.numel());
}
void check_f32(const Tensor& t, int64_t n, const char* what) {
  PRIMUS_CHECK(t.dtype == DType::kF32 && t.numel() == n, "{} must be fp32 with {} elements (is {} {})", what, n,
               dtype_name(t.dtype), t.shape.str());
}
void* ptr_or_null(const Tensor& t) { return t.empty() ? nullptr : t.data; }
// Parameter gradients (dweight, dbias, dwte, dwpe) are fp32 or the activations' dtype; absent: fp32.
DType grad_dtype(const Tensor& a, const Tensor& b, DType act, const char* what) {
  const Tensor& t = a.empty() ? b : a;
  if (t.empty()) return DType::kF32;
  PRIMUS_CHECK(t.dtype == DType::kF32 || t.dtype == act, "{}: gradient dtype {} for {} activations", what,
               dtype_name(t.dtype), dtype_name(act));
  PRIMUS_CHECK(a.empty() || b.empty() || a.dtype == b.dtype, "{}: gradients of two dtypes", what);
  return t.dtype;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index), name_(fmt::format("cuda:{}", index)) {
    PRIMUS_CUDA_CHECK(cudaSetDevice(index));
    PRIMUS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<GemmRunner>(stream_);
    stats_->add(gemm_->workspace_bytes());
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    gemm_.reset();
    fp8_gemm_.reset();
    if (scratch_) cudaFree(scratch_);
    if (segments_dev_) cudaFree(segments_dev_);
    cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return name_; }
  DeviceKind device() const override { return DeviceKind::kCUDA; }
  bool supports(Op op, DType dtype) const override { return is_float(dtype); }

  Buffer alloc(size_t bytes) override {
    void* p = nullptr;
    if (bytes > 0) {
      cudaError_t st = cudaMalloc(&p, bytes);
      if (st != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        throw Error(fmt::format("{}: cannot allocate {:.2f} GiB ({} GiB free of {} GiB)", name_, bytes / 1073741824.0,
                                free_b >> 30, total_b >> 30),
                    "lower train.micro_batch_size or seq_len, or turn on activation recompute");
      }
      PRIMUS_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
      PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      stats_->add(bytes);
    }
    auto stats = stats_;
    return Buffer(p, bytes, DeviceKind::kCUDA, [stats, bytes](void* q) {
      cudaFree(q);
      stats->current -= bytes;
    });
  }

  // From pageable memory cudaMemcpyAsync returns once src is staged, so the caller may reuse src
  // without a stream synchronisation; from pinned memory (alloc_host) the copy is truly
  // asynchronous and may be recorded into a graph: such a src must stay valid until the stream
  // has passed the copy (the trainer rewrites it only after reading the step's loss).
  void copy_from_host(Tensor dst, const void* src) override {
    check_device(dst, "dst");
    PRIMUS_CUDA_CHECK(cudaMemcpyAsync(dst.data, src, dst.nbytes(), cudaMemcpyHostToDevice, stream_));
  }
  void copy_to_host(void* dst, Tensor src) override {
    check_device(src, "src");
    PRIMUS_CUDA_CHECK(cudaMemcpyAsync(dst, src.data, src.nbytes(), cudaMemcpyDeviceToHost, stream_));
    PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(Tensor dst, Tensor src) override {
    check_same(dst, src, "copy");
    PRIMUS_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, dst.nbytes(), cudaMemcpyDeviceToDevice, stream_));
  }
  void fill(Tensor dst, float value) override {
    PRIMUS_CHECK(is_float(dst.dtype) || dst.dtype == DType::kI32, "fill: dtype {}", dtype_name(dst.dtype));
    fill_launch(dst.data, dst.dtype, dst.numel(), value, stream_);
  }
  void convert(Tensor dst, Tensor src) override {
    PRIMUS_CHECK(is_float(dst.dtype) && is_float(src.dtype) && dst.numel() == src.numel(), "convert {} -> {}",
                 dtype_name(src.dtype), dtype_name(dst.dtype));
    convert_launch(dst.data, dst.dtype, src.data, src.dtype, dst.numel(), stream_);
  }
  void fill_normal(Tensor dst, uint64_t rng_state, float stddev) override {
    check_device(dst, "dst");
    PRIMUS_CHECK(dst.dtype == DType::kF32, "fill_normal: dtype {}", dtype_name(dst.dtype));
    constexpr int64_t kPerRun = 512;   // normals one GPU thread draws in sequence
    const int64_t n = dst.numel(), runs = (n + kPerRun - 1) / kPerRun;
    if (n == 0) return;
    const std::vector<uint64_t> starts = Rng(rng_state).run_starts(2 * kPerRun, runs);   // two draws a normal
    Buffer starts_mem = alloc(starts.size() * sizeof(uint64_t));
    PRIMUS_CUDA_CHECK(cudaMemcpyAsync(starts_mem.data(), starts.data(), starts_mem.bytes(), cudaMemcpyHostToDevice,
                                      stream_));
    normal_fill_launch(static_cast<float*>(dst.data), static_cast<const uint64_t*>(starts_mem.data()), n, kPerRun,
                       stddev, stream_);
    PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_));   // before starts_mem is freed
  }
  void synchronize() override { PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  void* native_stream() override { return stream_; }
  Buffer alloc_host(size_t bytes) override {
    void* p = nullptr;
    PRIMUS_CUDA_CHECK(cudaHostAlloc(&p, std::max<size_t>(bytes, 1), cudaHostAllocDefault));
    std::memset(p, 0, bytes);
    return Buffer(p, bytes, DeviceKind::kCPU, [](void* q) { cudaFreeHost(q); });
  }
  bool supports_graphs() const override { return true; }
  void graph_begin() override { graph_.begin(stream_); }
  void graph_end() override { graph_.end(stream_); }
  bool graph_replay() override { return graph_.replay(stream_); }
  void graph_reset() override { graph_.reset(); }
  size_t peak_memory_bytes() const override { return stats_->peak; }

  void encoder_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe) override {
    const int64_t C = out.dim(-1), N = out.numel() / C, T = tokens.dim(-1);
    PRIMUS_CHECK(tokens.dtype == DType::kI32 && tokens.numel() == N, "encoder: tokens must be int32 ({})", N);
    PRIMUS_CHECK(wte.dim(-1) == C && out.dtype == wte.dtype, "encoder: wte {}", wte.shape.str());
    PRIMUS_CHECK(wpe.empty() || (wpe.dim(-1) == C && wpe.dim(0) >= T && wpe.dtype == out.dtype), "encoder: wpe {}",
                 wpe.shape.str());
    encoder_forward_launch(out.data, tokens.ptr<int32_t>(), wte.data, ptr_or_null(wpe), out.dtype, N, T, C, stream_);
  }
  void encoder_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) override {
    const int64_t C = dout.dim(-1), N = dout.numel() / C, T = tokens.dim(-1);
    PRIMUS_CHECK(tokens.dtype == DType::kI32 && tokens.numel() == N, "encoder: tokens must be int32 ({})", N);
    PRIMUS_CHECK(dwte.empty() || dwte.dim(-1) == C, "encoder: dwte {}", dwte.shape.str());
    PRIMUS_CHECK(dwpe.empty() || dwpe.dim(-1) == C, "encoder: dwpe {}", dwpe.shape.str());
    const DType grad_dt = grad_dtype(dwte, dwpe, dout.dtype, "encoder_backward");
    const size_t ws_bytes = encoder_backward_workspace_bytes(N);
    void* ws = scratch(ws_bytes);
    encoder_backward_launch(ptr_or_null(dwte), ptr_or_null(dwpe), dout.data, tokens.ptr<int32_t>(), dout.dtype, grad_dt,
                            N, T, C, ws, ws_bytes, stream_);
  }

  void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                         float eps) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C;
    check_norm(out, inp, weight, bias, "layernorm_forward");
    check_f32(mean, N, "layernorm mean");
    check_f32(rstd, N, "layernorm rstd");
    layernorm_forward_launch(out.data, mean.f32(), rstd.f32(), inp.data, weight.data, ptr_or_null(bias), inp.dtype, N,
                             C, eps, stream_);
  }
  void layernorm_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                          Tensor mean, Tensor rstd) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C;
    check_norm(dout, inp, weight, Tensor{}, "layernorm_backward");
    check_f32(mean, N, "layernorm mean");
    check_f32(rstd, N, "layernorm rstd");
    norm_backward(dinp, dweight, dbias, dout, inp, weight, mean.f32(), rstd.f32());
  }
  void rmsnorm_forward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C;
    check_norm(out, inp, weight, Tensor{}, "rmsnorm_forward");
    check_f32(rstd, N, "rmsnorm rstd");
    rmsnorm_forward_launch(out.data, rstd.f32(), inp.data, weight.data, inp.dtype, N, C, eps, stream_);
  }
  void residual_norm_forward(Tensor res, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b, Tensor weight,
                             Tensor bias, float eps) override {
    const int64_t C = res.dim(-1), N = res.numel() / C;
    check_same(a, res, "residual_norm_forward a");
    check_same(b, res, "residual_norm_forward b");
    check_norm(out, res, weight, bias, "residual_norm_forward");
    PRIMUS_CHECK(!mean.empty() || bias.empty(), "residual_norm_forward: RMSNorm has no bias");
    if (!mean.empty()) check_f32(mean, N, "residual_norm mean");
    check_f32(rstd, N, "residual_norm rstd");
    residual_norm_forward_launch(res.data, out.data, mean.empty() ? nullptr : mean.f32(), rstd.f32(), a.data, b.data,
                                 weight.data, ptr_or_null(bias), res.dtype, N, C, eps, stream_);
  }
  void rmsnorm_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight, Tensor rstd) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C;
    check_norm(dout, inp, weight, Tensor{}, "rmsnorm_backward");
    check_f32(rstd, N, "rmsnorm rstd");
    norm_backward(dinp, dweight, Tensor{}, dout, inp, weight, nullptr, rstd.f32());
  }

  void matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C, OC = weight.dim(0);
    check_matmul(out, inp, weight, bias, N, C, OC, "matmul_forward");
    // Column-major view: out^T (OC,N) = W (OC,C) * inp^T (C,N).
    GemmShape g{.trans_a = true, .trans_b = false, .m = OC, .n = N, .k = C, .lda = C, .ldb = C, .ldd = OC};
    gemm_->run(out.data, weight.data, inp.data, ptr_or_null(bias), inp.dtype, g, 0.0f,
               bias.empty() ? Epilogue::kNone : Epilogue::kBias);
  }
  std::string fp8_matmul_unavailable() const override { return fp8_gemm_unavailable(index_, name_); }
  void matmul_fp8_forward(Tensor out, Tensor inp, Tensor weight, Tensor inp_scale, Tensor weight_scale) override {
    if (std::string why = fp8_matmul_unavailable(); !why.empty()) throw Error(why, "use --dtype bf16 on this GPU");
    if (!fp8_gemm_) fp8_gemm_ = std::make_unique<Fp8GemmRunner>(stream_), stats_->add(fp8_gemm_->workspace_bytes());
    fp8_gemm_->forward(out, inp, weight, inp_scale, weight_scale);
  }
  void matmul_gelu_forward(Tensor out, Tensor pre, Tensor inp, Tensor weight, Tensor bias) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C, OC = weight.dim(0);
    check_matmul(out, inp, weight, bias, N, C, OC, "matmul_gelu_forward");
    check_same(pre, out, "matmul_gelu_forward pre");
    GemmShape g{.trans_a = true, .trans_b = false, .m = OC, .n = N, .k = C, .lda = C, .ldb = C, .ldd = OC};
    if (!gemm_->try_run(out.data, weight.data, inp.data, ptr_or_null(bias), inp.dtype, g, 0.0f, Epilogue::kGeluAux,
                        pre.data))
      Backend::matmul_gelu_forward(out, pre, inp, weight, bias);  // no fused algorithm for this shape
  }
  void matmul_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                       bool accumulate_dinp = true) override {
    const int64_t C = inp.dim(-1), N = inp.numel() / C, OC = weight.dim(0);
    check_matmul(dout, inp, weight, Tensor{}, N, C, OC, "matmul_backward");
    PRIMUS_CHECK(dbias.empty() || dbias.numel() == OC, "matmul_backward: dbias {}", dbias.shape.str());
    PRIMUS_CHECK(dinp.empty() || (dinp.numel() == N * C && dinp.dtype == inp.dtype), "matmul_backward: dinp {}",
                 dinp.shape.str());
    PRIMUS_CHECK(dweight.empty() || dweight.numel() == OC * C, "matmul_backward: dweight {}", dweight.shape.str());
    const DType grad_dt = grad_dtype(dweight, dbias, inp.dtype, "matmul_backward");
    if (!dinp.empty()) {  // dinp^T (C,N) (+)= W^T (C,OC) * dout^T (OC,N)
      GemmShape g{.trans_a = false, .trans_b = false, .m = C, .n = N, .k = OC, .lda = C, .ldb = OC, .ldd = C};
      gemm_->run(dinp.data, weight.data, dout.data, nullptr, inp.dtype, g, accumulate_dinp ? 1.0f : 0.0f);
    }
    if (!dweight.empty()) {  // dweight^T (C,OC) += inp^T (C,N) * dout (N,OC)
      GemmShape g{.trans_a = false, .trans_b = true, .m = C, .n = OC, .k = N, .lda = C, .ldb = OC, .ldd = C,
                  .d_f32 = grad_dt == DType::kF32};
      gemm_->run(dweight.data, inp.data, dout.data, nullptr, inp.dtype, g, 1.0f);
    }
    if (!dbias.empty()) {
      float* ws = static_cast<float*>(scratch(column_sum_workspace_bytes(N, OC)));
      bias_backward_launch(dbias.data, dout.data, dout.dtype, grad_dt, N, OC, ws, stream_);
    }
  }

  // dpre^T (C,N) = W^T (C,OC) * dout^T (OC,N) through cuBLASLt's DGELU epilogue (gelu'(pre) from pre as
  // the aux input); where it has no algorithm, the default path (GEMM into dact, then gelu_backward).
  void gelu_matmul_backward(Tensor dpre, Tensor dact, Tensor dweight, Tensor dbias, Tensor dout, Tensor act, Tensor pre,
                            Tensor weight) override {
    const int64_t C = act.dim(-1), N = act.numel() / C, OC = weight.dim(0);
    check_matmul(dout, act, weight, Tensor{}, N, C, OC, "gelu_matmul_backward");
    check_same(dpre, act, "gelu_matmul_backward dpre");
    check_same(pre, act, "gelu_matmul_backward pre");
    GemmShape g{.trans_a = false, .trans_b = false, .m = C, .n = N, .k = OC, .lda = C, .ldb = OC, .ldd = C};
    if (C % 8 != 0 ||   // the epilogue's aux leading dimension must be a multiple of 8
        !gemm_->try_run(dpre.data, weight.data, dout.data, nullptr, act.dtype, g, 0.0f, Epilogue::kDGelu, pre.data)) {
      Backend::gelu_matmul_backward(dpre, dact, dweight, dbias, dout, act, pre, weight);
      return;
    }
    matmul_backward(Tensor{}, dweight, dbias, dout, act, weight);
  }

  void rope_forward(Tensor out, Tensor inp, Tensor cos, Tensor sin, int64_t NH, int64_t NKV) override {
    auto [B, T, HS] = check_rope(out, inp, cos, sin, NH, NKV);
    rope_forward_launch(out.data, inp.data, cos.f32(), sin.f32(), inp.dtype, B, T, NH, NKV, HS, stream_);
  }
  void rope_backward(Tensor dinp, Tensor dout, Tensor cos, Tensor sin, int64_t NH, int64_t NKV) override {
    auto [B, T, HS] = check_rope(dinp, dout, cos, sin, NH, NKV);
    rope_backward_launch(dinp.data, dout.data, cos.f32(), sin.f32(), dout.dtype, B, T, NH, NKV, HS, stream_);
  }

  void attention_forward(Tensor out, Tensor lse, Tensor qkv, int64_t NH, int64_t NKV) override {
    auto [B, T, HS] = check_attention(out, lse, qkv, NH, NKV);
    attention_forward_launch(out.data, lse.f32(), qkv.data, qkv.dtype, B, T, NH, NKV, HS, stream_);
  }
  void attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse, int64_t NH,
                          int64_t NKV) override {
    auto [B, T, HS] = check_attention(out, lse, qkv, NH, NKV);
    check_same(dqkv, qkv, "attention_backward dqkv");
    check_same(dout, out, "attention_backward dout");
    void* ws = scratch(attention_backward_workspace_bytes(B, T, NH, HS));
    attention_backward_launch(dqkv.data, dout.data, qkv.data, out.data, lse.f32(), qkv.dtype, B, T, NH, NKV, HS, ws,
                              stream_);
  }

  void gelu_forward(Tensor out, Tensor inp) override {
    check_same(out, inp, "gelu_forward");
    gelu_forward_launch(out.data, inp.data, inp.dtype, inp.numel(), stream_);
  }
  void gelu_backward(Tensor dinp, Tensor dout, Tensor inp) override {
    check_same(dinp, inp, "gelu_backward dinp");
    check_same(dout, inp, "gelu_backward dout");
    gelu_backward_launch(dinp.data, dout.data, inp.data, inp.dtype, inp.numel(), stream_);
  }
  void swiglu_forward(Tensor out, Tensor inp) override {
    const int64_t FF = out.dim(-1), N = out.numel() / FF;
    PRIMUS_CHECK(inp.numel() == 2 * N * FF && inp.dtype == out.dtype && inp.dim(-1) == 2 * FF, "swiglu_forward: {} {}",
                 out.shape.str(), inp.shape.str());
    swiglu_forward_launch(out.data, inp.data, inp.dtype, N, FF, stream_);
  }
  void swiglu_backward(Tensor dinp, Tensor dout, Tensor inp) override {
    const int64_t FF = dout.dim(-1), N = dout.numel() / FF;
    PRIMUS_CHECK(inp.numel() == 2 * N * FF && inp.dtype == dout.dtype && inp.dim(-1) == 2 * FF,
                 "swiglu_backward: {} {}", dout.shape.str(), inp.shape.str());
    check_same(dinp, inp, "swiglu_backward dinp");
    swiglu_backward_launch(dinp.data, dout.data, inp.data, inp.dtype, N, FF, stream_);
  }
  void residual_forward(Tensor out, Tensor a, Tensor b) override {
    check_same(out, a, "residual_forward a");
    check_same(out, b, "residual_forward b");
    residual_forward_launch(out.data, a.data, b.data, out.dtype, out.numel(), stream_);
  }
  void residual_backward(Tensor da, Tensor db, Tensor dout) override {
    if (!da.empty()) {
      check_same(da, dout, "residual_backward da");
      accumulate_launch(da.data, dout.data, dout.dtype, dout.numel(), stream_);
    }
    if (!db.empty()) {
      check_same(db, dout, "residual_backward db");
      accumulate_launch(db.data, dout.data, dout.dtype, dout.numel(), stream_);
    }
  }

  void cross_entropy_forward(Tensor losses, Tensor logits, Tensor targets, int64_t V, int64_t ignore_index) override {
    const int64_t Vp = logits.dim(-1), N = logits.numel() / Vp;
    check_cross_entropy(logits, targets, V, N);
    check_f32(losses, N, "cross_entropy losses");
    cross_entropy_forward_launch(losses.f32(), logits.data, targets.ptr<int32_t>(), logits.dtype, N, Vp, V,
                                 ignore_index, stream_);
  }
  void cross_entropy_backward(Tensor dlogits, Tensor logits, Tensor targets, int64_t V, int64_t ignore_index,
                              float grad_scale, Tensor losses = {}) override {
    const int64_t Vp = logits.dim(-1), N = logits.numel() / Vp;
    check_cross_entropy(logits, targets, V, N);
    check_same(dlogits, logits, "cross_entropy_backward dlogits");
    if (!losses.empty()) check_f32(losses, N, "cross_entropy_backward losses");
    cross_entropy_backward_launch(dlogits.data, logits.data, targets.ptr<int32_t>(),
                                  losses.empty() ? nullptr : losses.f32(), logits.dtype, N, Vp, V, ignore_index,
                                  grad_scale, stream_);
  }

  void encoder_shard_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int64_t vocab_begin) override {
    const int64_t C = out.dim(-1), N = out.numel() / C, T = tokens.dim(-1);
    PRIMUS_CHECK(tokens.dtype == DType::kI32 && tokens.numel() == N, "encoder: tokens must be int32 ({})", N);
    PRIMUS_CHECK(wte.dim(-1) == C && out.dtype == wte.dtype, "encoder: wte {}", wte.shape.str());
    PRIMUS_CHECK(wpe.empty() || (wpe.dim(-1) == C && wpe.dim(0) >= T && wpe.dtype == out.dtype), "encoder: wpe {}",
                 wpe.shape.str());
    encoder_shard_forward_launch(out.data, tokens.ptr<int32_t>(), wte.data, ptr_or_null(wpe), out.dtype, N, T, C,
                                 vocab_begin, wte.numel() / C, stream_);
  }
  void encoder_shard_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens, int64_t vocab_begin) override {
    const int64_t C = dout.dim(-1), N = dout.numel() / C, T = tokens.dim(-1);
    PRIMUS_CHECK(tokens.dtype == DType::kI32 && tokens.numel() == N, "encoder: tokens must be int32 ({})", N);
    PRIMUS_CHECK(dwte.empty() || dwte.dim(-1) == C, "encoder: dwte {}", dwte.shape.str());
    PRIMUS_CHECK(dwpe.empty() || dwpe.dim(-1) == C, "encoder: dwpe {}", dwpe.shape.str());
    const DType grad_dt = grad_dtype(dwte, dwpe, dout.dtype, "encoder_shard_backward");
    const size_t ws_bytes = encoder_shard_backward_workspace_bytes(N);
    void* ws = scratch(ws_bytes);
    encoder_shard_backward_launch(ptr_or_null(dwte), ptr_or_null(dwpe), dout.data, tokens.ptr<int32_t>(), dout.dtype,
                                  grad_dt, N, T, C, vocab_begin, dwte.empty() ? 0 : dwte.numel() / C, ws, ws_bytes,
                                  stream_);
  }
  void cross_entropy_shard_max(Tensor row_max, Tensor logits, int64_t vocab_begin, int64_t V) override {
    const int64_t Vs = logits.dim(-1), N = logits.numel() / Vs;
    PRIMUS_CHECK(is_float(logits.dtype), "cross_entropy_shard_max: logits are {}", dtype_name(logits.dtype));
    check_f32(row_max, N, "cross_entropy_shard_max row_max");
    cross_entropy_shard_max_launch(row_max.f32(), logits.data, logits.dtype, N, Vs, vocab_begin, V, stream_);
  }
  void cross_entropy_shard_sums(Tensor sums, Tensor logits, Tensor row_max, Tensor targets, int64_t vocab_begin,
                                int64_t V, int64_t ignore_index) override {
    const int64_t Vs = logits.dim(-1), N = logits.numel() / Vs;
    PRIMUS_CHECK(is_float(logits.dtype), "cross_entropy_shard_sums: logits are {}", dtype_name(logits.dtype));
    PRIMUS_CHECK(targets.dtype == DType::kI32 && targets.numel() == N, "cross_entropy: targets must be int32 ({})", N);
    check_f32(sums, 2 * N, "cross_entropy_shard_sums sums");
    check_f32(row_max, N, "cross_entropy_shard_sums row_max");
    cross_entropy_shard_sums_launch(sums.f32(), logits.data, row_max.f32(), targets.ptr<int32_t>(), logits.dtype, N, Vs,
                                    vocab_begin, V, ignore_index, stream_);
  }
  void cross_entropy_shard_backward(Tensor dlogits, Tensor logits, Tensor row_max, Tensor sum_exp, Tensor targets,
                                    int64_t vocab_begin, int64_t V, int64_t ignore_index, float grad_scale) override {
    const int64_t Vs = logits.dim(-1), N = logits.numel() / Vs;
    PRIMUS_CHECK(is_float(logits.dtype), "cross_entropy_shard_backward: logits are {}", dtype_name(logits.dtype));
    PRIMUS_CHECK(targets.dtype == DType::kI32 && targets.numel() == N, "cross_entropy: targets must be int32 ({})", N);
    check_same(dlogits, logits, "cross_entropy_shard_backward dlogits");
    check_f32(row_max, N, "cross_entropy_shard_backward row_max");
    check_f32(sum_exp, N, "cross_entropy_shard_backward sum_exp");
    cross_entropy_shard_backward_launch(dlogits.data, logits.data, row_max.f32(), sum_exp.f32(), targets.ptr<int32_t>(),
                                        logits.dtype, N, Vs, vocab_begin, V, ignore_index, grad_scale, stream_);
  }

  void adamw_update(Tensor params, Tensor master, Tensor m, Tensor v, Tensor grads,
                    std::span<const ParamSegment> segments, const AdamWArgs& args) override;
  void grad_norm_squared(Tensor out, Tensor grads) override {
    check_f32(out, 1, "grad_norm_squared out");
    PRIMUS_CHECK(is_float(grads.dtype), "grad_norm_squared: grads are {}", dtype_name(grads.dtype));
    float* ws = static_cast<float*>(scratch(sum_squares_workspace_bytes()));
    sum_squares_launch(out.f32(), grads.data, grads.dtype, grads.numel(), ws, stream_);
  }
  void sum_accumulate(Tensor out, Tensor inp, float scale) override {
    check_f32(out, 1, "sum_accumulate out");
    check_f32(inp, inp.numel(), "sum_accumulate inp");
    sum_accumulate_launch(out.f32(), inp.f32(), inp.numel(), scale, stream_);
  }
  void scale(Tensor t, float s) override {
    PRIMUS_CHECK(is_float(t.dtype), "scale: dtype {}", dtype_name(t.dtype));
    scale_launch(t.data, t.dtype, t.numel(), s, stream_);
  }

 private:
  // A device scratch area reused by every op (ops run in order on one stream). Growing it waits
  // for the stream, so size it in a warm-up step before capturing a CUDA graph.
  void* scratch(size_t bytes) {
    if (bytes > scratch_bytes_) {
      PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_));   // fails inside a graph capture, naming this call
      graph_.reset();   // a recorded graph would use the old area
      if (scratch_) {
        PRIMUS_CUDA_CHECK(cudaFree(scratch_));
        stats_->current -= scratch_bytes_;
      }
      scratch_bytes_ = (bytes + (1u << 20) - 1) / (1u << 20) * (1u << 20);
      PRIMUS_CUDA_CHECK(cudaMalloc(&scratch_, scratch_bytes_));
      stats_->add(scratch_bytes_);
    }
    return scratch_;
  }

  void check_norm(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias, const char* what) {
    const int64_t C = inp.dim(-1);
    check_same(out, inp, what);
    PRIMUS_CHECK(weight.numel() == C && weight.dtype == inp.dtype, "{}: weight {}", what, weight.shape.str());
    PRIMUS_CHECK(bias.empty() || (bias.numel() == C && bias.dtype == inp.dtype), "{}: bias {}", what, bias.shape.str());
  }
  void norm_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                     const float* mean, const float* rstd) {
    const int64_t C = inp.dim(-1), N = inp.numel() / C;
    PRIMUS_CHECK(dinp.empty() || (dinp.numel() == N * C && dinp.dtype == inp.dtype), "norm backward dinp");
    PRIMUS_CHECK(dweight.empty() || dweight.numel() == C, "norm backward dweight");
    PRIMUS_CHECK(dbias.empty() || dbias.numel() == C, "norm backward dbias");
    const DType grad_dt = grad_dtype(dweight, dbias, inp.dtype, "norm backward");
    float* ws = static_cast<float*>(scratch(column_sum_workspace_bytes(N, C)));
    norm_backward_launch(ptr_or_null(dinp), ptr_or_null(dweight), ptr_or_null(dbias), dout.data, inp.data,
                         weight.data, mean, rstd, inp.dtype, grad_dt, N, C, ws, stream_);
  }
  void check_matmul(const Tensor& out, const Tensor& inp, const Tensor& weight, const Tensor& bias, int64_t N,
                    int64_t C, int64_t OC, const char* what) {
    PRIMUS_CHECK(is_float(inp.dtype), "{}: dtype {}", what, dtype_name(inp.dtype));
    PRIMUS_CHECK(weight.numel() == OC * C && weight.dtype == inp.dtype, "{}: weight {} for input {}", what,
                 weight.shape.str(), inp.shape.str());
    PRIMUS_CHECK(out.numel() == N * OC && out.dtype == inp.dtype, "{}: out {}", what, out.shape.str());
    PRIMUS_CHECK(bias.empty() || (bias.numel() == OC && bias.dtype == inp.dtype), "{}: bias {}", what,
                 bias.shape.str());
  }
  std::tuple<int64_t, int64_t, int64_t> check_rope(const Tensor& out, const Tensor& inp, const Tensor& cos,
                                                   const Tensor& sin, int64_t NH, int64_t NKV) {
    check_same(out, inp, "rope");
    PRIMUS_CHECK(inp.shape.ndim == 3, "rope: qkv must be (B,T,(NH+2*NKV)*HS), is {}", inp.shape.str());
    const int64_t B = inp.dim(0), T = inp.dim(1), HS = inp.dim(2) / (NH + 2 * NKV);
    PRIMUS_CHECK(HS * (NH + 2 * NKV) == inp.dim(2) && HS % 2 == 0, "rope: width {} for NH={} NKV={}", inp.dim(2), NH,
                 NKV);
    PRIMUS_CHECK(cos.dtype == DType::kF32 && sin.dtype == DType::kF32 && cos.numel() >= T * HS / 2 &&
                     sin.numel() >= T * HS / 2, "rope: cos/sin tables must be fp32 (T,HS/2)");
    return {B, T, HS};
  }
  std::tuple<int64_t, int64_t, int64_t> check_attention(const Tensor& out, const Tensor& lse, const Tensor& qkv,
                                                        int64_t NH, int64_t NKV) {
    PRIMUS_CHECK(qkv.shape.ndim == 3 && is_float(qkv.dtype), "attention: qkv must be (B,T,(NH+2*NKV)*HS), is {}",
                 qkv.shape.str());
    PRIMUS_CHECK(NKV > 0 && NH % NKV == 0, "attention: NH={} not a multiple of NKV={}", NH, NKV);
    const int64_t B = qkv.dim(0), T = qkv.dim(1), HS = qkv.dim(2) / (NH + 2 * NKV);
    PRIMUS_CHECK(HS * (NH + 2 * NKV) == qkv.dim(2), "attention: width {} for NH={} NKV={}", qkv.dim(2), NH, NKV);
    if (!attention_supports_head_size(HS))
      throw Error(fmt::format("the CUDA attention supports head sizes up to 256, not {}", HS),
                  "choose hidden_size / num_attention_heads <= 256 (64 and 128 run on tensor cores in bf16)");
    PRIMUS_CHECK(out.numel() == B * T * NH * HS && out.dtype == qkv.dtype, "attention: out {}", out.shape.str());
    check_f32(lse, B * NH * T, "attention lse");
    return {B, T, HS};
  }
  void check_cross_entropy(const Tensor& logits, const Tensor& targets, int64_t V, int64_t N) {
    PRIMUS_CHECK(is_float(logits.dtype) && V <= logits.dim(-1), "cross_entropy: logits {} for V={}",
                 logits.shape.str(), V);
    PRIMUS_CHECK(targets.dtype == DType::kI32 && targets.numel() == N, "cross_entropy: targets must be int32 ({})", N);
  }

  int index_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<GemmRunner> gemm_;
  std::unique_ptr<Fp8GemmRunner> fp8_gemm_;  // made by the first fp8 GEMM
  StreamGraph graph_;
  std::shared_ptr<MemoryStats> stats_ = std::make_shared<MemoryStats>();
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::vector<AdamWSegment> segments_host_;
  AdamWSegment* segments_dev_ = nullptr;
  size_t segments_capacity_ = 0;
};

void CudaBackend::adamw_update(Tensor params, Tensor master, Tensor m, Tensor v, Tensor grads,
                               std::span<const ParamSegment> segments, const AdamWArgs& args) {
  const int64_t P = params.numel();
  PRIMUS_CHECK(is_float(params.dtype) && is_float(grads.dtype) && grads.numel() == P, "adamw: params {} grads {}",
               params.shape.str(), grads.shape.str());
  check_f32(m, P, "adamw m");
  check_f32(v, P, "adamw v");
  PRIMUS_CHECK(master.empty() || (master.dtype == DType::kF32 && master.numel() == P), "adamw: master must be fp32 (P)");
  std::vector<AdamWSegment> segs;
  int64_t chunks = 0;
  for (const ParamSegment& s : segments) {
    PRIMUS_CHECK(s.offset >= 0 && s.size >= 0 && s.offset + s.size <= P, "adamw: segment [{}, +{}) outside {}",
                 s.offset, s.size, P);
    if (s.size == 0) continue;
    segs.push_back({s.offset, s.size, s.weight_decay, chunks});
    chunks += adamw_chunks(s.size);
  }
  if (segs.empty()) return;
  PRIMUS_CHECK(chunks < (int64_t{1} << 31), "adamw: {} chunks of parameters", chunks);
  bool same = segs.size() == segments_host_.size();
  for (size_t i = 0; same && i < segs.size(); ++i)
    same = segs[i].offset == segments_host_[i].offset && segs[i].size == segments_host_[i].size &&
           segs[i].weight_decay == segments_host_[i].weight_decay && segs[i].first_chunk == segments_host_[i].first_chunk;
  if (!same) {
    if (segs.size() > segments_capacity_) {
      PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (segments_dev_) PRIMUS_CUDA_CHECK(cudaFree(segments_dev_));
      PRIMUS_CUDA_CHECK(cudaMalloc(&segments_dev_, segs.size() * sizeof(AdamWSegment)));
      segments_capacity_ = segs.size();
    }
    segments_host_ = std::move(segs);
    PRIMUS_CUDA_CHECK(cudaMemcpyAsync(segments_dev_, segments_host_.data(), segments_host_.size() * sizeof(AdamWSegment),
                                      cudaMemcpyHostToDevice, stream_));
    PRIMUS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  AdamWHyper h{args.lr, args.beta1, args.beta2, args.eps, args.grad_scale,
               1.0f - std::pow(args.beta1, static_cast<float>(args.step)),
               1.0f - std::pow(args.beta2, static_cast<float>(args.step))};
  adamw_launch(params.data, params.dtype, master.empty() ? nullptr : master.f32(), m.f32(), v.f32(), grads.data,
               grads.dtype, segments_dev_, static_cast<int>(segments_host_.size()), chunks, h, stream_);
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int index) {
  int count = 0;
  cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess || index < 0 || index >= count) {
    cudaGetLastError();
    throw usage_error(fmt::format("no CUDA GPU {} on this machine (found {})", index, st == cudaSuccess ? count : 0),
                      "run on a GPU machine, check CUDA_VISIBLE_DEVICES, or set backend.device=cpu");
  }
  return std::make_unique<CudaBackend>(index);
}

}  // namespace primus::cuda
