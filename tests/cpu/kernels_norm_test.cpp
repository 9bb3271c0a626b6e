// Embedding, layernorm and rmsnorm kernels in double precision: forward against direct formulas,
// backward against central finite differences of sum(dout * out), on odd shapes. Gradient
// buffers start with random values, so every check also covers the accumulate (+=) contract.
#include <gtest/gtest.h>

#include "cpu/kernels_norm.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t B = 2, T = 5, C = 7, Vp = 16, kMaxT = 6, N = B * T;

TEST(EncoderKernel, ForwardAndBackward) {
  Rand r(11);
  Vec wte = r.normal(Vp * C), wpe = r.normal(kMaxT * C), dout = r.normal(N * C);
  std::vector<int32_t> tokens = r.ints(N, 0, Vp);
  tokens[3] = tokens[7];  // a repeated token must accumulate both rows
  auto loss = [&] {
    Vec out = poisoned(N * C);
    encoder_forward_kernel(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
    return dot(dout, out);
  };
  Vec out = poisoned(N * C);
  encoder_forward_kernel(out.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
  Vec want(N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) want[n * C + c] = wte[tokens[n] * C + c] + wpe[(n % T) * C + c];
  EXPECT_TRUE(all_close(out, want, 1e-15));

  const Vec dwte0 = r.normal(Vp * C), dwpe0 = r.normal(kMaxT * C);
  Vec dwte = dwte0, dwpe = dwpe0;
  encoder_backward_kernel(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, T, C);
  EXPECT_TRUE(grad_matches(minus(dwte, dwte0), wte, loss));
  EXPECT_TRUE(grad_matches(minus(dwpe, dwpe0), wpe, loss));
}

TEST(EncoderKernel, WithoutPositionTable) {
  Rand r(12);
  Vec wte = r.normal(Vp * C), dout = r.normal(N * C);
  std::vector<int32_t> tokens = r.ints(N, 0, Vp);
  auto loss = [&] {
    Vec out = poisoned(N * C);
    encoder_forward_kernel<double>(out.data(), tokens.data(), wte.data(), nullptr, B, T, C);
    return dot(dout, out);
  };
  EXPECT_TRUE(std::isfinite(loss()));
  const Vec dwte0 = r.normal(Vp * C);
  Vec dwte = dwte0;
  encoder_backward_kernel<double>(dwte.data(), nullptr, dout.data(), tokens.data(), B, T, C);
  EXPECT_TRUE(grad_matches(minus(dwte, dwte0), wte, loss));
}

TEST(LayerNormKernel, ForwardMatchesFormula) {
  Rand r(13);
  Vec inp = r.normal(N * C, 2.0), w = r.normal(C), b = r.normal(C);
  Vec out = poisoned(N * C), mean = poisoned(N), rstd = poisoned(N);
  layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5);
  Vec want(N * C), want_mean(N), want_rstd(N);
  for (int64_t n = 0; n < N; ++n) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) m += inp[n * C + c] / C;
    for (int64_t c = 0; c < C; ++c) v += (inp[n * C + c] - m) * (inp[n * C + c] - m) / C;
    want_mean[n] = m;
    want_rstd[n] = 1 / std::sqrt(v + 1e-5);
    for (int64_t c = 0; c < C; ++c) want[n * C + c] = (inp[n * C + c] - m) * want_rstd[n] * w[c] + b[c];
  }
  EXPECT_TRUE(all_close(out, want, 1e-12));
  EXPECT_TRUE(all_close(mean, want_mean, 1e-12));
  EXPECT_TRUE(all_close(rstd, want_rstd, 1e-12));
}

TEST(LayerNormKernel, BackwardMatchesFiniteDifferences) {
  Rand r(14);
  Vec inp = r.normal(N * C), w = r.normal(C), b = r.normal(C), dout = r.normal(N * C);
  auto loss = [&] {
    Vec out = poisoned(N * C), mean = poisoned(N), rstd = poisoned(N);
    layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5);
    return dot(dout, out);
  };
  Vec out = poisoned(N * C), mean = poisoned(N), rstd = poisoned(N);
  layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5);
  const Vec dinp0 = r.normal(N * C), dw0 = r.normal(C), db0 = r.normal(C);
  Vec dinp = dinp0, dw = dw0, db = db0;
  layernorm_backward_kernel(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(),
                            rstd.data(), N, C);
  EXPECT_TRUE(grad_matches(minus(dinp, dinp0), inp, loss));
  EXPECT_TRUE(grad_matches(minus(dw, dw0), w, loss));
  EXPECT_TRUE(grad_matches(minus(db, db0), b, loss));
}

TEST(LayerNormKernel, WithoutBiasAndOnlyInputGradient) {
  Rand r(15);
  Vec inp = r.normal(N * C), w = r.normal(C), dout = r.normal(N * C);
  auto loss = [&] {
    Vec out = poisoned(N * C), mean = poisoned(N), rstd = poisoned(N);
    layernorm_forward_kernel<double>(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), nullptr, N, C,
                                     1e-5);
    return dot(dout, out);
  };
  Vec out = poisoned(N * C), mean = poisoned(N), rstd = poisoned(N);
  layernorm_forward_kernel<double>(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), nullptr, N, C, 1e-5);
  const Vec dinp0 = r.normal(N * C);
  Vec dinp = dinp0;
  layernorm_backward_kernel<double>(dinp.data(), nullptr, nullptr, dout.data(), inp.data(), w.data(), mean.data(),
                                    rstd.data(), N, C);
  EXPECT_TRUE(grad_matches(minus(dinp, dinp0), inp, loss));
}

TEST(RmsNormKernel, ForwardMatchesFormula) {
  Rand r(16);
  Vec inp = r.normal(N * C, 3.0), w = r.normal(C);
  Vec out = poisoned(N * C), rstd = poisoned(N);
  rmsnorm_forward_kernel(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-6);
  Vec want(N * C), want_rstd(N);
  for (int64_t n = 0; n < N; ++n) {
    double ms = 0;
    for (int64_t c = 0; c < C; ++c) ms += inp[n * C + c] * inp[n * C + c] / C;
    want_rstd[n] = 1 / std::sqrt(ms + 1e-6);
    for (int64_t c = 0; c < C; ++c) want[n * C + c] = inp[n * C + c] * want_rstd[n] * w[c];
  }
  EXPECT_TRUE(all_close(out, want, 1e-12));
  EXPECT_TRUE(all_close(rstd, want_rstd, 1e-12));
}

TEST(RmsNormKernel, BackwardMatchesFiniteDifferences) {
  Rand r(17);
  Vec inp = r.normal(N * C), w = r.normal(C), dout = r.normal(N * C);
  auto loss = [&] {
    Vec out = poisoned(N * C), rstd = poisoned(N);
    rmsnorm_forward_kernel(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-6);
    return dot(dout, out);
  };
  Vec out = poisoned(N * C), rstd = poisoned(N);
  rmsnorm_forward_kernel(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-6);
  const Vec dinp0 = r.normal(N * C), dw0 = r.normal(C);
  Vec dinp = dinp0, dw = dw0;
  rmsnorm_backward_kernel(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), rstd.data(), N, C);
  EXPECT_TRUE(grad_matches(minus(dinp, dinp0), inp, loss));
  EXPECT_TRUE(grad_matches(minus(dw, dw0), w, loss));
}

}  // namespace
}  // namespace primus::cpu::testing
