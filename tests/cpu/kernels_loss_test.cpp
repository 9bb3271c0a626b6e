// Softmax cross-entropy in double precision over padded logits (V=11 real of Vp=16 columns) with
// ignored rows: losses against log-sum-exp, the written gradient against central finite
// differences of grad_scale * sum(losses), padded columns and ignored rows exactly zero.
#include <gtest/gtest.h>

#include "cpu/kernels_loss.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t N = 10, V = 11, Vp = 16, kIgnore = -100;

std::vector<int32_t> targets_with_ignored(Rand& r) {
  std::vector<int32_t> t = r.ints(N, 0, V);
  t[2] = kIgnore;
  t[7] = kIgnore;
  t[4] = V - 1;  // the last real column
  return t;
}

TEST(CrossEntropyKernel, LossesMatchLogSumExp) {
  Rand r(51);
  Vec logits = r.normal(N * Vp, 3.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = V; v < Vp; ++v) logits[n * Vp + v] = 50.0;  // padding must not count
  std::vector<int32_t> targets = targets_with_ignored(r);
  Vec losses = poisoned(N);
  cross_entropy_forward_kernel(losses.data(), logits.data(), targets.data(), N, Vp, V, kIgnore);
  Vec want(N, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] == kIgnore) continue;
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(logits[n * Vp + v]);
    want[n] = std::log(z) - logits[n * Vp + targets[n]];
  }
  EXPECT_TRUE(all_close(losses, want, 1e-12));
  EXPECT_EQ(losses[2], 0.0);
  EXPECT_EQ(losses[7], 0.0);
}

TEST(CrossEntropyKernel, GradientMatchesFiniteDifferences) {
  Rand r(52);
  Vec logits = r.normal(N * Vp, 2.0);
  std::vector<int32_t> targets = targets_with_ignored(r);
  const double grad_scale = 1.0 / 8;  // 1 / (rows not ignored)
  auto loss = [&] {
    Vec losses = poisoned(N);
    cross_entropy_forward_kernel(losses.data(), logits.data(), targets.data(), N, Vp, V, kIgnore);
    double s = 0;
    for (double l : losses) s += l;
    return grad_scale * s;
  };
  Vec dlogits = r.normal(N * Vp);  // written, not accumulated: the random start must vanish
  cross_entropy_backward_kernel(dlogits.data(), logits.data(), targets.data(), N, Vp, V, kIgnore, grad_scale);
  EXPECT_TRUE(grad_matches(dlogits, logits, loss));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < Vp; ++v)
      if (v >= V || targets[n] == kIgnore) {
        EXPECT_EQ(dlogits[n * Vp + v], 0.0) << n << "," << v;
      }
}

TEST(CrossEntropyKernel, BackwardInPlaceOverLogits) {
  Rand r(53);
  Vec logits = r.normal(N * Vp, 2.0);
  std::vector<int32_t> targets = targets_with_ignored(r);
  Vec separate = poisoned(N * Vp);
  cross_entropy_backward_kernel(separate.data(), logits.data(), targets.data(), N, Vp, V, kIgnore, 0.5);
  cross_entropy_backward_kernel(logits.data(), logits.data(), targets.data(), N, Vp, V, kIgnore, 0.5);
  EXPECT_TRUE(all_close(logits, separate, 0.0));
}

TEST(CrossEntropyKernel, LargeLogitsStayFinite) {
  Rand r(54);
  Vec logits = r.normal(N * Vp, 1.0);
  for (double& x : logits) x += 800.0;  // exp overflows without the max shift
  std::vector<int32_t> targets = targets_with_ignored(r);
  Vec losses = poisoned(N), dlogits = poisoned(N * Vp);
  cross_entropy_forward_kernel(losses.data(), logits.data(), targets.data(), N, Vp, V, kIgnore);
  cross_entropy_backward_kernel(dlogits.data(), logits.data(), targets.data(), N, Vp, V, kIgnore, 1.0);
  EXPECT_TRUE(all_finite(losses));
  EXPECT_TRUE(all_finite(dlogits));
}

}  // namespace
}  // namespace primus::cpu::testing
