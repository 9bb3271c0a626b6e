// GELU (tanh), SwiGLU, residual add and scale in double precision: forward against the
// formulas, backward against central finite differences (GELU and SwiGLU write dinp, the others
// accumulate).
#include <gtest/gtest.h>

#include "cpu/kernels_pointwise.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t N = 10, FF = 7;

TEST(GeluKernel, ForwardAndBackward) {
  Rand r(41);
  Vec inp = r.normal(N * FF, 2.0), dout = r.normal(N * FF);
  Vec out = poisoned(N * FF);
  gelu_forward_kernel(out.data(), inp.data(), N * FF);
  Vec want(N * FF);
  for (size_t i = 0; i < want.size(); ++i) {
    const double x = inp[i];
    want[i] = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  }
  EXPECT_TRUE(all_close(out, want, 1e-12));
  auto loss = [&] {
    Vec o = poisoned(N * FF);
    gelu_forward_kernel(o.data(), inp.data(), N * FF);
    return dot(dout, o);
  };
  Vec dinp = poisoned(N * FF);  // written, not accumulated
  gelu_backward_kernel(dinp.data(), dout.data(), inp.data(), N * FF);
  EXPECT_TRUE(grad_matches(dinp, inp, loss));
}

TEST(SwigluKernel, ForwardAndBackward) {
  Rand r(42);
  Vec inp = r.normal(N * 2 * FF, 2.0), dout = r.normal(N * FF);
  Vec out = poisoned(N * FF);
  swiglu_forward_kernel(out.data(), inp.data(), N, FF);
  Vec want(N * FF);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < FF; ++i) {
      const double g = inp[n * 2 * FF + i], u = inp[n * 2 * FF + FF + i];
      want[n * FF + i] = g / (1 + std::exp(-g)) * u;
    }
  EXPECT_TRUE(all_close(out, want, 1e-14));
  auto loss = [&] {
    Vec o = poisoned(N * FF);
    swiglu_forward_kernel(o.data(), inp.data(), N, FF);
    return dot(dout, o);
  };
  Vec dinp = poisoned(N * 2 * FF);  // written, not accumulated
  swiglu_backward_kernel(dinp.data(), dout.data(), inp.data(), N, FF);
  EXPECT_TRUE(grad_matches(dinp, inp, loss));
}

TEST(ResidualKernel, ForwardAliasingAndBackward) {
  Rand r(43);
  Vec a = r.normal(N * FF), b = r.normal(N * FF), dout = r.normal(N * FF);
  Vec out = poisoned(N * FF), want(N * FF);
  for (size_t i = 0; i < want.size(); ++i) want[i] = a[i] + b[i];
  residual_forward_kernel(out.data(), a.data(), b.data(), N * FF);
  EXPECT_TRUE(all_close(out, want, 0.0));
  Vec in_place = a;
  residual_forward_kernel(in_place.data(), in_place.data(), b.data(), N * FF);
  EXPECT_TRUE(all_close(in_place, want, 0.0));

  const Vec da0 = r.normal(N * FF), db0 = r.normal(N * FF);
  Vec da = da0, db = db0;
  residual_backward_kernel(da.data(), db.data(), dout.data(), N * FF);
  EXPECT_TRUE(all_close(minus(da, da0), dout, 1e-12));
  EXPECT_TRUE(all_close(minus(db, db0), dout, 1e-12));
  residual_backward_kernel<double>(nullptr, db.data(), dout.data(), N * FF);
  for (size_t i = 0; i < db.size(); ++i) EXPECT_NEAR(db[i], db0[i] + 2 * dout[i], 1e-12);
}

TEST(ScaleKernel, MultipliesInPlace) {
  Rand r(44);
  Vec x = r.normal(N * FF), want = x;
  for (double& v : want) v *= -0.375;
  scale_kernel(x.data(), -0.375, N * FF);
  EXPECT_TRUE(all_close(x, want, 0.0));
}

}  // namespace
}  // namespace primus::cpu::testing
