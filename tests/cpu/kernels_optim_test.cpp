// AdamW against a hand-written scalar reference over two steps and two parameter segments (one
// with weight decay, one without, and a gap that must stay untouched), and the sum of squares
// behind the gradient norm against a plain loop.
#include <gtest/gtest.h>

#include "cpu/kernels_optim.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

struct Hyper {
  double lr = 1e-2, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, grad_scale = 0.5;
};

// One AdamW step on one element, written out from the definition.
void adamw_reference(double& p, double& m, double& v, double grad, double wd, int step, const Hyper& h) {
  const double g = grad * h.grad_scale;
  m = h.beta1 * m + (1 - h.beta1) * g;
  v = h.beta2 * v + (1 - h.beta2) * g * g;
  const double mhat = m / (1 - std::pow(h.beta1, step));
  const double vhat = v / (1 - std::pow(h.beta2, step));
  p -= h.lr * (mhat / (std::sqrt(vhat) + h.eps) + wd * p);
}

TEST(AdamWKernel, TwoStepsTwoSegmentsMatchScalarReference) {
  const Hyper h;
  const int64_t P = 23;
  struct Seg { int64_t offset, size; double wd; };
  const Seg segs[] = {{0, 9, 0.1}, {12, 11, 0.0}};  // elements 9..11 belong to no segment
  Rand r(61);
  Vec p = r.normal(P), m(P, 0.0), v(P, 0.0), master = p;
  Vec want_p = p, want_m = m, want_v = v;
  Vec params_with_master = poisoned(P), mm(P, 0.0), vm(P, 0.0);
  for (int step = 1; step <= 2; ++step) {
    const Vec grads = r.normal(P);
    for (const Seg& s : segs) {
      const AdamWStep<double> a{h.lr, h.beta1, h.beta2, h.eps, s.wd, h.grad_scale,
                                1 - std::pow(h.beta1, step), 1 - std::pow(h.beta2, step)};
      adamw_update_kernel<double>(p.data() + s.offset, nullptr, m.data() + s.offset, v.data() + s.offset,
                                  grads.data() + s.offset, s.size, a);
      adamw_update_kernel(params_with_master.data() + s.offset, master.data() + s.offset, mm.data() + s.offset,
                          vm.data() + s.offset, grads.data() + s.offset, s.size, a);
      for (int64_t i = s.offset; i < s.offset + s.size; ++i)
        adamw_reference(want_p[i], want_m[i], want_v[i], grads[i], s.wd, step, h);
    }
  }
  EXPECT_TRUE(all_close(p, want_p, 1e-14));
  EXPECT_TRUE(all_close(m, want_m, 1e-14));
  EXPECT_TRUE(all_close(v, want_v, 1e-14));
  EXPECT_TRUE(all_close(master, want_p, 1e-14));
  for (int64_t i = 0; i < P; ++i) {
    if (i >= 9 && i < 12) {
      EXPECT_TRUE(std::isnan(params_with_master[i]));  // outside every segment: untouched
    } else {
      EXPECT_EQ(params_with_master[i], master[i]);  // params receive the master copy
    }
  }
}

TEST(AdamWKernel, WeightDecayShrinksTowardZero) {
  const Hyper h;
  Vec p = {1.0, -2.0}, m(2, 0.0), v(2, 0.0), g(2, 0.0);  // zero gradient: only the decay acts
  const AdamWStep<double> a{h.lr, h.beta1, h.beta2, h.eps, 0.5, h.grad_scale, 1 - h.beta1, 1 - h.beta2};
  adamw_update_kernel<double>(p.data(), nullptr, m.data(), v.data(), g.data(), 2, a);
  EXPECT_NEAR(p[0], 1.0 * (1 - h.lr * 0.5), 1e-15);
  EXPECT_NEAR(p[1], -2.0 * (1 - h.lr * 0.5), 1e-15);
}

TEST(SumSquaresKernel, MatchesPlainLoopAcrossChunks) {
  const int64_t n = 3 * kSumChunk + 12345;
  Rand r(62);
  Vec g = r.normal(n);
  double want = 0;
  for (double x : g) want += x * x;
  const double got = sum_squares_kernel(g.data(), n, [](double x) { return x; });
  EXPECT_NEAR(got, want, 1e-10 * want);
  EXPECT_EQ(sum_squares_kernel(g.data(), 0, [](double x) { return x; }), 0.0);
}

}  // namespace
}  // namespace primus::cpu::testing
