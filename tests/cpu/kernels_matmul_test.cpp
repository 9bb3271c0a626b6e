// The linear layer in double precision (dgemm): forward against a naive triple loop, backward
// against central finite differences; gradients accumulate and any of them may be skipped.
#include <gtest/gtest.h>

#include "cpu/kernels_matmul.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t N = 10, C = 7, OC = 9;

Vec naive_linear(const Vec& inp, const Vec& w, const Vec* bias) {
  Vec out(N * OC);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      double s = bias ? (*bias)[o] : 0.0;
      for (int64_t c = 0; c < C; ++c) s += inp[n * C + c] * w[o * C + c];
      out[n * OC + o] = s;
    }
  return out;
}

TEST(MatmulKernel, ForwardMatchesNaiveLoop) {
  Rand r(21);
  Vec inp = r.normal(N * C), w = r.normal(OC * C), b = r.normal(OC);
  Vec out = poisoned(N * OC);
  matmul_forward_kernel(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  EXPECT_TRUE(all_close(out, naive_linear(inp, w, &b), 1e-12));
  out = poisoned(N * OC);  // without bias, the GEMM must overwrite (beta = 0) the poison
  matmul_forward_kernel<double>(out.data(), inp.data(), w.data(), nullptr, N, C, OC);
  EXPECT_TRUE(all_close(out, naive_linear(inp, w, nullptr), 1e-12));
}

TEST(MatmulKernel, BackwardMatchesFiniteDifferences) {
  Rand r(22);
  Vec inp = r.normal(N * C), w = r.normal(OC * C), b = r.normal(OC), dout = r.normal(N * OC);
  auto loss = [&] {
    Vec out = poisoned(N * OC);
    matmul_forward_kernel(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
    return dot(dout, out);
  };
  const Vec dinp0 = r.normal(N * C), dw0 = r.normal(OC * C), db0 = r.normal(OC);
  Vec dinp = dinp0, dw = dw0, db = db0;
  matmul_backward_kernel(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  EXPECT_TRUE(grad_matches(minus(dinp, dinp0), inp, loss));
  EXPECT_TRUE(grad_matches(minus(dw, dw0), w, loss));
  EXPECT_TRUE(grad_matches(minus(db, db0), b, loss));
}

TEST(MatmulKernel, SkippedGradientsAreNotNeeded) {
  Rand r(23);
  Vec inp = r.normal(N * C), w = r.normal(OC * C), dout = r.normal(N * OC);
  const Vec dw0 = r.normal(OC * C);
  Vec dw = dw0;
  matmul_backward_kernel<double>(nullptr, dw.data(), nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
  auto loss = [&] {
    Vec out = poisoned(N * OC);
    matmul_forward_kernel<double>(out.data(), inp.data(), w.data(), nullptr, N, C, OC);
    return dot(dout, out);
  };
  EXPECT_TRUE(grad_matches(minus(dw, dw0), w, loss));
  const Vec dinp0 = r.normal(N * C);
  Vec dinp = dinp0;
  matmul_backward_kernel<double>(dinp.data(), nullptr, nullptr, dout.data(), inp.data(), w.data(), N, C, OC);
  EXPECT_TRUE(grad_matches(minus(dinp, dinp0), inp, loss));
}

}  // namespace
}  // namespace primus::cpu::testing
