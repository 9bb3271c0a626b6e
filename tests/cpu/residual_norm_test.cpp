// The fused residual + norm (Backend::residual_norm_forward) on the CPU backend, in place over b as
// the models call it, against the double-precision kernels run one after the other; and its
// gradient (the norm's backward, passed to both inputs) against central finite differences.
#include <gtest/gtest.h>

#include "cpu/cpu_backend.h"
#include "cpu/kernels_norm.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t N = 6, C = 9;

Vec plus(const Vec& a, const Vec& b) {
  Vec r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
  return r;
}

TEST(ResidualNorm, FusedInPlaceMatchesResidualThenNorm) {
  auto be = make_cpu_backend();
  Rand r(5);
  for (bool layernorm : {true, false}) {
    Vec a = r.normal(N * C), b = r.normal(N * C), w = r.normal(C), bias = r.normal(C);
    const Vec res = plus(a, b);
    Vec out(N * C), mean(N), rstd(N);
    if (layernorm) {
      layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), res.data(), w.data(), bias.data(), N, C, 1e-5);
    } else {
      rmsnorm_forward_kernel(out.data(), rstd.data(), res.data(), w.data(), N, C, 1e-6);
    }
    auto fa = to_float(a), fb = to_float(b), fw = to_float(w), fbias = to_float(bias);
    auto fout = poisoned_float(N * C), fmean = poisoned_float(N), frstd = poisoned_float(N);
    be->residual_norm_forward(view(fb, {N, C}), view(fout, {N, C}), layernorm ? view(fmean, {N}) : Tensor{},
                              view(frstd, {N}), view(fa, {N, C}), view(fb, {N, C}), view(fw, {C}),
                              layernorm ? view(fbias, {C}) : Tensor{}, layernorm ? 1e-5f : 1e-6f);
    EXPECT_TRUE(all_close(fb, res, 2e-5)) << layernorm;   // b now holds a + b
    EXPECT_TRUE(all_close(fout, out, 2e-5)) << layernorm;
    EXPECT_TRUE(all_close(frstd, rstd, 2e-5)) << layernorm;
    if (layernorm) {
      EXPECT_TRUE(all_close(fmean, mean, 2e-5));
    }
  }
}

// d/da and d/db of sum(g * layernorm(a + b)) are both the norm's dinp at a + b.
TEST(ResidualNorm, GradientIsTheNormsInputGradient) {
  Rand r(6);
  Vec a = r.normal(N * C), b = r.normal(N * C), w = r.normal(C), bias = r.normal(C), g = r.normal(N * C);
  auto loss = [&] {
    const Vec res = plus(a, b);
    Vec out(N * C), mean(N), rstd(N);
    layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), res.data(), w.data(), bias.data(), N, C, 1e-5);
    return dot(out, g);
  };
  const Vec res = plus(a, b);
  Vec out(N * C), mean(N), rstd(N), dinp(N * C, 0.0), dw(C, 0.0), db(C, 0.0);
  layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), res.data(), w.data(), bias.data(), N, C, 1e-5);
  layernorm_backward_kernel(dinp.data(), dw.data(), db.data(), g.data(), res.data(), w.data(), mean.data(),
                            rstd.data(), N, C);
  EXPECT_TRUE(grad_matches(dinp, a, loss));
  EXPECT_TRUE(grad_matches(dinp, b, loss));
}

}  // namespace
}  // namespace primus::cpu::testing
