// fp8 GEMM benchmark on a device (see gemm_fp8.h).
#include "bench/gemm_fp8.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"

namespace primus::bench {
namespace {

constexpr int64_t kMinRotateBytes = int64_t{256} << 20;   // above any GPU's L2
constexpr float kAmaxA = 1.0f, kAmaxB = 3.0f;              // ranges of A and B: distinct scales 2^-8 and 2^-7

// A (rows, cols) matrix of E4M3 codes of uniform values in [-amax, amax) divided by scale.
std::vector<uint8_t> random_e4m3(int64_t rows, int64_t cols, float amax, float scale, uint64_t seed) {
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols));
  Rng rng(seed);
  const float inv = 1.0f / scale;
  for (uint8_t& q : out) q = e4m3_from_float((rng.uniform() * 2.0f - 1.0f) * amax * inv);
  return out;
}

std::vector<float> dequantize(const std::vector<uint8_t>& q, float scale) {
  std::vector<float> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = e4m3_to_float(q[i]) * scale;
  return out;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = bf16_from_float(x[i]);  // exact: E4M3 x 2^k fits bf16
  return out;
}

std::vector<float> download_bf16(Backend& be, Tensor src) {
  std::vector<uint16_t> h(static_cast<size_t>(src.numel()));  // (numel) bf16 bits
  be.copy_to_host(h.data(), src);
  std::vector<float> out(h.size());
  for (size_t i = 0; i < h.size(); ++i) out[i] = bf16_to_float(h[i]);
  return out;
}

struct Fp8Set {
  Buffer a, b, out;  // A (M,K) and B (N,K) E4M3, out (M,N) bf16
};

}  // namespace

uint8_t e4m3_from_float(float x) {
  if (std::isnan(x)) return 0x7f;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (a >= 448.0f) return sign | 0x7e;
  if (a < 0x1p-6f) return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));  // subnormals: units of 2^-9
  uint32_t bits;
  std::memcpy(&bits, &a, 4);
  bits += 0x7ffffu + ((bits >> 20) & 1u);  // round the 23-bit mantissa to 3 bits, ties to even
  const uint32_t exponent = (bits >> 23) - 127 + 7, mantissa = (bits >> 20) & 7u;
  return sign | static_cast<uint8_t>(exponent << 3 | mantissa);
}

float e4m3_to_float(uint8_t bits) {
  const int exponent = (bits >> 3) & 0xf, mantissa = bits & 7;
  if (exponent == 0xf && mantissa == 7) return NAN;
  const float a = exponent == 0 ? std::ldexp(static_cast<float>(mantissa), -9)
                                : std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  return (bits & 0x80) ? -a : a;
}

float e4m3_scale_for(float amax) {
  float s = std::ldexp(1.0f, static_cast<int>(std::ceil(std::log2(amax / 448.0f))));
  while (amax / s > 448.0f) s *= 2.0f;
  while (amax / (s / 2.0f) <= 448.0f) s /= 2.0f;
  return s;
}

GemmResult gemm_run_fp8(const GemmCase& c, const GemmOptions& o, Backend& be) {
  PRIMUS_CHECK(c.fp8 && !c.trans_a && c.trans_b, "gemm_run_fp8: an fp8 case in layout nt");
  const float scale_a = e4m3_scale_for(kAmaxA), scale_b = e4m3_scale_for(kAmaxB);
  const int64_t set_bytes = c.m * c.k + c.n * c.k + 2 * c.m * c.n;
  const int64_t target = std::max(o.rotate_bytes, kMinRotateBytes);
  const int sets = static_cast<int>(std::clamp<int64_t>((target + set_bytes - 1) / set_bytes, 2, 64));
  // One float each, 256 bytes apart: cuBLASLt's fp8 kernels take aligned scale pointers.
  Buffer scales = be.alloc(512);
  const Tensor sa = scales.as(DType::kF32, {1}), sb = scales.as(DType::kF32, {1}, 256);
  be.copy_from_host(sa, &scale_a);
  be.copy_from_host(sb, &scale_b);
  std::vector<Fp8Set> ds(sets);
  std::vector<uint8_t> qa0, qb0;  // set 0 kept for the checks
  for (int s = 0; s < sets; ++s) {
    std::vector<uint8_t> qa = random_e4m3(c.m, c.k, kAmaxA, scale_a, 11 + s), qb = random_e4m3(c.n, c.k, kAmaxB, scale_b, 1011 + s);
    ds[s].a = be.alloc(qa.size()), ds[s].b = be.alloc(qb.size());
    ds[s].out = be.alloc(static_cast<size_t>(c.m * c.n) * 2);
    be.copy_from_host(ds[s].a.as(DType::kU8, {c.m, c.k}), qa.data());
    be.copy_from_host(ds[s].b.as(DType::kU8, {c.n, c.k}), qb.data());
    if (s == 0) qa0 = std::move(qa), qb0 = std::move(qb);
  }
  // out (M,N) bf16 = (scale_a * A (M,K)) @ (scale_b * B (N,K))^T: A plays the linear layer's input, B its weight.
  auto call = [&](int s) {
    be.matmul_fp8_forward(ds[s].out.as(DType::kBF16, {c.m, c.n}), ds[s].a.as(DType::kU8, {c.m, c.k}),
                          ds[s].b.as(DType::kU8, {c.n, c.k}), sa, sb);
  };
  GemmResult r;
  r.buffers = sets;
  if (o.check) {
    const Tensor out0 = ds[0].out.as(DType::kBF16, {c.m, c.n});
    be.fill(out0, NAN);  // poisoned: an unwritten entry fails both checks
    call(0);
    be.synchronize();
    const std::vector<float> got = download_bf16(be, out0);  // (M,N)
    const std::vector<float> a = dequantize(qa0, scale_a), b = dequantize(qb0, scale_b);  // (M,K), (N,K)
    r.max_err = gemm_sample_error(c, a.data(), b.data(), got.data());
    // The backend's bf16 GEMM of the same (exactly representable) dequantized inputs.
    Buffer a16 = be.alloc(a.size() * 2), b16 = be.alloc(b.size() * 2), ref16 = be.alloc(got.size() * 2);
    be.copy_from_host(a16.as(DType::kBF16, {c.m, c.k}), to_bf16(a).data());
    be.copy_from_host(b16.as(DType::kBF16, {c.n, c.k}), to_bf16(b).data());
    be.matmul_forward(ref16.as(DType::kBF16, {c.m, c.n}), a16.as(DType::kBF16, {c.m, c.k}),
                      b16.as(DType::kBF16, {c.n, c.k}), Tensor{});
    be.synchronize();
    const std::vector<float> ref = download_bf16(be, ref16.as(DType::kBF16, {c.m, c.n}));
    double worst = 0, ref_max = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
      worst = d == d ? std::max(worst, d) : INFINITY;
      ref_max = std::max(ref_max, std::fabs(static_cast<double>(ref[i])));
    }
    const double vs_bf16 = worst / std::max(ref_max, 1e-30);
    if (!(r.max_err <= 1e-2) || !(vs_bf16 <= kFp8GemmTolerance))
      throw Error(fmt::format("fp8 GEMM {}x{}x{} on {} gave wrong results (sampled error {:.3g} against fp64, largest "
                              "difference {:.3g} of the largest output against the bf16 GEMM of the same inputs)",
                              c.m, c.n, c.k, be.name(), r.max_err, vs_bf16),
                  "a wrong GEMM is not timed; check the backend's fp8 matmul");
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

}  // namespace primus::bench
