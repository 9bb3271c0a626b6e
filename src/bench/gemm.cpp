// GEMM benchmark (see gemm.h).
#include "bench/gemm.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bench/gemm_fp8.h"
#include "bench/host_info.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"

namespace primus::bench {
namespace {

constexpr int64_t kMinDeviceRotateBytes = int64_t{256} << 20;   // above any GPU's L2

int64_t rotate_target(const GemmOptions& o, bool device) {
  if (o.rotate_bytes > 0) return o.rotate_bytes;
  int64_t llc = host_info_collect().llc_bytes;
  int64_t t = 4 * std::max<int64_t>(llc, int64_t{8} << 20);
  return device ? std::max(t, kMinDeviceRotateBytes) : t;
}

// Random values exactly representable in bf16, so both dtypes see the same inputs.
void fill_random(std::vector<float>& v, uint64_t seed) {
  Rng rng(seed);
  for (float& x : v) x = bf16_to_float(bf16_from_float(rng.uniform() * 2.0f - 1.0f));
}

double tolerance_for(DType t) { return t == DType::kF32 ? 1e-4 : 1e-2; }

GemmResult run_host(const GemmCase& c, const GemmOptions& o) {
  const int64_t a_n = c.m * c.k, b_n = c.k * c.n, c_n = c.m * c.n;
  const int64_t set_bytes = (a_n + b_n + c_n) * 4;
  const int sets = static_cast<int>(std::clamp<int64_t>((rotate_target(o, false) + set_bytes - 1) / set_bytes, 2, 64));
  std::vector<std::vector<float>> A(sets, std::vector<float>(a_n)), B(sets, std::vector<float>(b_n));  // (M,K)/(K,M), (K,N)/(N,K)
  std::vector<std::vector<float>> C(sets, std::vector<float>(c_n, NAN));                                 // (M,N)
  for (int s = 0; s < sets; ++s) fill_random(A[s], 11 + s), fill_random(B[s], 1011 + s);
  const auto ta = c.trans_a ? CblasTrans : CblasNoTrans, tb = c.trans_b ? CblasTrans : CblasNoTrans;
  const blasint lda = static_cast<blasint>(c.trans_a ? c.m : c.k), ldb = static_cast<blasint>(c.trans_b ? c.k : c.n);
  auto call = [&](int s) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<blasint>(c.m), static_cast<blasint>(c.n), static_cast<blasint>(c.k),
                1.0f, A[s].data(), lda, B[s].data(), ldb, 0.0f, C[s].data(), static_cast<blasint>(c.n));
  };
  GemmResult r;
  r.buffers = sets;
  if (o.check) {
    call(0);
    r.max_err = gemm_sample_error(c, A[0].data(), B[0].data(), C[0].data());
    if (!(r.max_err <= tolerance_for(c.dtype)))
      throw Error(fmt::format("GEMM {}x{}x{} {} gave wrong results (relative error {:.3g})", c.m, c.n, c.k, c.layout(), r.max_err),
                  "the BLAS library is broken; it is not timed");
  }
  for (int i = 0; i < o.warmup; ++i) call(i % sets);
  double total = 0, best = INFINITY;
  for (int i = 0; i < o.iters; ++i) {
    Timer t;
    call((o.warmup + i) % sets);
    double s = t.seconds();
    total += s;
    best = std::min(best, s);
  }
  r.mean_s = total / std::max(1, o.iters);
  r.min_s = best;
  r.tflops = c.flops() / r.mean_s / 1e12;
  return r;
}

// One device input/output set in the backend's matmul terms.
struct DeviceSet {
  Buffer a, b, out;
};

void upload(Backend& be, Tensor dst, const std::vector<float>& host) {
  if (dst.dtype == DType::kF32) return be.copy_from_host(dst, host.data());
  std::vector<uint16_t> h(host.size());  // (numel) bf16 bits
  for (size_t i = 0; i < host.size(); ++i) h[i] = bf16_from_float(host[i]);
  be.copy_from_host(dst, h.data());
}

std::vector<float> download(Backend& be, Tensor src) {
  std::vector<float> out(static_cast<size_t>(src.numel()));
  if (src.dtype == DType::kF32) {
    be.copy_to_host(out.data(), src);
    return out;
  }
  std::vector<uint16_t> h(out.size());  // (numel) bf16 bits
  be.copy_to_host(h.data(), src);
  for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_float(h[i]);
  return out;
}

GemmResult run_device(const GemmCase& c, const GemmOptions& o, Backend& be) {
  const size_t es = dtype_size(c.dtype);
  const Shape a_shape = c.trans_a ? Shape{c.k, c.m} : Shape{c.m, c.k};
  const Shape b_shape = c.trans_b ? Shape{c.n, c.k} : Shape{c.k, c.n};
  const int64_t set_bytes = (c.m * c.k + c.k * c.n + c.m * c.n) * static_cast<int64_t>(es);
  const int sets = static_cast<int>(std::clamp<int64_t>((rotate_target(o, true) + set_bytes - 1) / set_bytes, 2, 64));
  std::vector<DeviceSet> ds(sets);
  std::vector<float> ha(static_cast<size_t>(c.m * c.k)), hb(static_cast<size_t>(c.k * c.n));
  for (int s = 0; s < sets; ++s) {
    ds[s].a = be.alloc(static_cast<size_t>(c.m * c.k) * es);
    ds[s].b = be.alloc(static_cast<size_t>(c.k * c.n) * es);
    ds[s].out = be.alloc(static_cast<size_t>(c.m * c.n) * es);
    fill_random(ha, 11 + s), fill_random(hb, 1011 + s);
    upload(be, ds[s].a.as(c.dtype, a_shape), ha);
    upload(be, ds[s].b.as(c.dtype, b_shape), hb);
  }
  // nt: out (M,N) = inp (M,K) @ W (N,K)^T. nn: dinp (M,N) += dout (M,K) @ W (K,N).
  // tn: dW (M,N) += dout (K,M)^T @ inp (K,N).
  auto call = [&](int s) {
    Tensor a = ds[s].a.as(c.dtype, a_shape), b = ds[s].b.as(c.dtype, b_shape), out = ds[s].out.as(c.dtype, {c.m, c.n});
    if (!c.trans_a && c.trans_b) be.matmul_forward(out, a, b, Tensor{});
    else if (!c.trans_a && !c.trans_b) be.matmul_backward(out, Tensor{}, Tensor{}, a, Tensor{nullptr, c.dtype, {c.m, c.n}, be.device()}, b);
    else be.matmul_backward(Tensor{}, out, Tensor{}, a, b, Tensor{nullptr, c.dtype, {c.m, c.n}, be.device()});
  };
  GemmResult r;
  r.buffers = sets;
  if (o.check) {
    Tensor out0 = ds[0].out.as(c.dtype, {c.m, c.n});
    be.fill(out0, 0.0f);
    call(0);
    be.synchronize();
    fill_random(ha, 11), fill_random(hb, 1011);
    std::vector<float> hc = download(be, out0);
    r.max_err = gemm_sample_error(c, ha.data(), hb.data(), hc.data());
    if (!(r.max_err <= tolerance_for(c.dtype)))
      throw Error(fmt::format("GEMM {}x{}x{} {} {} on {} gave wrong results (relative error {:.3g})", c.m, c.n, c.k,
                              c.layout(), dtype_name(c.dtype), be.name(), r.max_err),
                  "a wrong GEMM is not timed; check the backend's matmul");
  }
  for (int i = 0; i < o.warmup; ++i) call(i % sets);
  be.synchronize();
  Timer t;
  for (int i = 0; i < o.iters; ++i) call((o.warmup + i) % sets);
  be.synchronize();
  r.mean_s = t.seconds() / std::max(1, o.iters);
  r.min_s = r.mean_s;
  r.tflops = c.flops() / r.mean_s / 1e12;
  return r;
}

void validate_fp8(const GemmCase& c, const Backend* backend) {
  if (!backend)
    throw usage_error("--dtype fp8: the CPU (OpenBLAS) has no fp8 (E4M3) GEMM",
                      "use --dtype fp32 on the CPU, or --device cuda on a GPU of compute capability 8.9 or newer (Ada, Hopper)");
  if (const std::string why = backend->fp8_matmul_unavailable(); !why.empty())
    throw usage_error(fmt::format("--dtype fp8: {}", why), "use --dtype bf16 on this device");
  if (c.trans_a || !c.trans_b)
    throw usage_error(fmt::format("fp8 GEMMs run in layout nt only, not {}", c.layout()),
                      "cuBLASLt's fp8 kernels take only the TN form (the linear layer's forward, nt here)");
  if (c.m % 16 || c.n % 16 || c.k % 16)
    throw usage_error(fmt::format("fp8 GEMM sizes must be multiples of 16 (m={} n={} k={})", c.m, c.n, c.k));
}

}  // namespace

void gemm_host_threads_set(int threads) {
  if (threads > 0) openblas_set_num_threads(threads);
}

void gemm_validate(const GemmCase& c, const Backend* backend) {
  if (c.m <= 0 || c.n <= 0 || c.k <= 0)
    throw usage_error(fmt::format("GEMM sizes must be positive (m={} n={} k={})", c.m, c.n, c.k));
  if (c.fp8) return validate_fp8(c, backend);
  if (!backend) {
    if (c.dtype != DType::kF32)
      throw usage_error(fmt::format("the CPU GEMM benchmark runs fp32 only, not {}", dtype_name(c.dtype)),
                        "OpenBLAS here has no bf16 GEMM; use --dtype fp32, or --device cuda on a GPU machine");
    return;
  }
  if (c.trans_a && c.trans_b)
    throw usage_error("layout tt is not a GEMM of the linear layer", "on a device use nt (forward), nn (input gradient) or tn (weight gradient)");
  if (!backend->supports(Op::kMatmul, c.dtype))
    throw usage_error(fmt::format("backend {} has no {} matmul", backend->name(), dtype_name(c.dtype)));
}

GemmResult gemm_run(const GemmCase& c, const GemmOptions& o, Backend* backend) {
  gemm_validate(c, backend);
  if (c.fp8) return gemm_run_fp8(c, o, *backend);
  return backend ? run_device(c, o, *backend) : run_host(c, o);
}

double gemm_sample_error(const GemmCase& c, const float* a, const float* b, const float* out, int samples) {
  Rng rng(99);
  double worst = 0;
  for (int s = 0; s < samples; ++s) {
    int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(c.m)));
    int64_t j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(c.n)));
    if (s == 0) i = 0, j = 0;
    if (s == 1) i = c.m - 1, j = c.n - 1;
    double sum = 0, mag = 0;
    for (int64_t p = 0; p < c.k; ++p) {
      double av = c.trans_a ? a[p * c.m + i] : a[i * c.k + p];
      double bv = c.trans_b ? b[j * c.k + p] : b[p * c.n + j];
      sum += av * bv;
      mag += std::fabs(av * bv);
    }
    double err = std::fabs(static_cast<double>(out[i * c.n + j]) - sum) / std::max(mag, 1e-30);
    if (!(err == err)) return INFINITY;  // NaN: the output was never written
    worst = std::max(worst, err);
  }
  return worst;
}

}  // namespace primus::bench
