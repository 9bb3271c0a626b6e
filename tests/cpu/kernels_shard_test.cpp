// Vocabulary-parallel embedding and cross-entropy kernels in double precision, split over three
// vocabulary shards (Vp = 18, V = 13: the last shard holds one real row and five padding rows, one
// shard's worth of padding): combined as the tensor group combines them (sum of embeddings; max,
// then sums, of the softmax statistics) they equal the one-device kernels, and the shards' written
// gradients match central finite differences of the combined loss.
#include <gtest/gtest.h>

#include "cpu/kernels_loss.h"
#include "cpu/kernels_norm.h"
#include "cpu/kernels_shard.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t B = 2, T = 5, N = B * T, C = 4, V = 13, Vp = 18, S = 3, Vs = Vp / S, kIgnore = -100;

// Columns [s*Vs, (s+1)*Vs) of full (N,Vp).
Vec shard_columns(const Vec& full, int64_t s) {
  Vec out(N * Vs);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < Vs; ++v) out[n * Vs + v] = full[n * Vp + s * Vs + v];
  return out;
}

// The mean loss over non-ignored rows, combined from the shards as the model combines them.
double combined_loss(const Vec& logits, const std::vector<int32_t>& targets, Vec* row_max, Vec* sum_exp) {
  Vec mx(N, -std::numeric_limits<double>::infinity()), sums(2 * N, 0.0);
  for (int64_t s = 0; s < S; ++s) {
    Vec part = poisoned(N);
    cross_entropy_shard_max_kernel(part.data(), shard_columns(logits, s).data(), N, Vs, s * Vs, V);
    for (int64_t n = 0; n < N; ++n) mx[n] = std::max(mx[n], part[n]);   // all-reduce max
  }
  for (int64_t s = 0; s < S; ++s) {
    Vec part = poisoned(2 * N);
    cross_entropy_shard_sums_kernel(part.data(), shard_columns(logits, s).data(), mx.data(), targets.data(), N, Vs,
                                    s * Vs, V, kIgnore);
    for (int64_t i = 0; i < 2 * N; ++i) sums[i] += part[i];   // all-reduce sum
  }
  double loss = 0;
  int64_t valid = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] == kIgnore) continue;
    loss += std::log(sums[n]) + mx[n] - sums[N + n];
    ++valid;
  }
  if (row_max) *row_max = mx;
  if (sum_exp) *sum_exp = Vec(sums.begin(), sums.begin() + N);
  return loss / static_cast<double>(valid);
}

std::vector<int32_t> targets_of(Rand& r) {
  std::vector<int32_t> t = r.ints(N, 0, V);
  t[1] = kIgnore;
  t[3] = V - 1;   // the last shard's only real row
  t[6] = Vs;      // the second shard's first row
  return t;
}

TEST(CrossEntropyShardKernel, CombinedLossEqualsOneDevice) {
  Rand r(71);
  Vec logits = r.normal(N * Vp, 3.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = V; v < Vp; ++v) logits[n * Vp + v] = 60.0;   // padding must not count
  std::vector<int32_t> targets = targets_of(r);
  Vec losses = poisoned(N);
  cross_entropy_forward_kernel(losses.data(), logits.data(), targets.data(), N, Vp, V, kIgnore);
  double want = 0;
  for (double l : losses) want += l;
  EXPECT_NEAR(combined_loss(logits, targets, nullptr, nullptr), want / (N - 1), 1e-12);
}

TEST(CrossEntropyShardKernel, GradientMatchesFiniteDifferences) {
  Rand r(72);
  Vec logits = r.normal(N * Vp, 2.0);
  std::vector<int32_t> targets = targets_of(r);
  Vec mx, sum_exp;
  combined_loss(logits, targets, &mx, &sum_exp);
  const double grad_scale = 1.0 / (N - 1);
  Vec dlogits(N * Vp);
  for (int64_t s = 0; s < S; ++s) {
    Vec part = shard_columns(logits, s);   // in place, as the model runs it
    cross_entropy_shard_backward_kernel(part.data(), part.data(), mx.data(), sum_exp.data(), targets.data(), N, Vs,
                                        s * Vs, V, kIgnore, grad_scale);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t v = 0; v < Vs; ++v) dlogits[n * Vp + s * Vs + v] = part[n * Vs + v];
  }
  EXPECT_TRUE(grad_matches(dlogits, logits, [&] { return combined_loss(logits, targets, nullptr, nullptr); }));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t v = 0; v < Vp; ++v)
      if (v >= V || targets[n] == kIgnore) EXPECT_EQ(dlogits[n * Vp + v], 0.0) << n << "," << v;
}

TEST(EncoderShardKernel, SumOfShardsEqualsOneDeviceAndGradientsMatch) {
  Rand r(73);
  Vec wte = r.normal(Vp * C), wpe = r.normal(T * C), dout = r.normal(N * C);
  std::vector<int32_t> tokens = r.ints(N, 0, V);
  tokens[2] = V - 1;
  Vec want = poisoned(N * C), sum(N * C, 0.0);
  encoder_forward_kernel(want.data(), tokens.data(), wte.data(), wpe.data(), B, T, C);
  Vec dwte_want(Vp * C, 0.0), dwpe_want(T * C, 0.0);
  encoder_backward_kernel(dwte_want.data(), dwpe_want.data(), dout.data(), tokens.data(), B, T, C);
  for (int64_t s = 0; s < S; ++s) {
    Vec rows(wte.begin() + s * Vs * C, wte.begin() + (s + 1) * Vs * C), out = poisoned(N * C);
    // Positions added by shard 0 only, as the model does before the all-reduce.
    encoder_shard_forward_kernel(out.data(), tokens.data(), rows.data(), s == 0 ? wpe.data() : nullptr, B, T, C,
                                 s * Vs, Vs);
    for (int64_t i = 0; i < N * C; ++i) sum[i] += out[i];
    Vec dwte(Vs * C, 0.5), dwpe(T * C, 0.25);   // accumulated into
    encoder_shard_backward_kernel(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, T, C, s * Vs, Vs);
    Vec dwte_ref(dwte_want.begin() + s * Vs * C, dwte_want.begin() + (s + 1) * Vs * C);
    for (double& x : dwte_ref) x += 0.5;
    Vec dwpe_ref = dwpe_want;
    for (double& x : dwpe_ref) x += 0.25;
    EXPECT_TRUE(all_close(dwte, dwte_ref, 1e-12)) << "shard " << s;
    EXPECT_TRUE(all_close(dwpe, dwpe_ref, 1e-12)) << "shard " << s;
    // Finite differences of <dout, out> with respect to this shard's rows.
    Vec analytic(Vs * C, 0.0), unused(T * C, 0.0);
    encoder_shard_backward_kernel(analytic.data(), unused.data(), dout.data(), tokens.data(), B, T, C, s * Vs, Vs);
    EXPECT_TRUE(grad_matches(analytic, rows, [&] {
      Vec o(N * C);
      encoder_shard_forward_kernel(o.data(), tokens.data(), rows.data(), static_cast<const double*>(nullptr), B, T, C,
                                   s * Vs, Vs);
      return dot(o, dout);
    })) << "shard " << s;
  }
  EXPECT_TRUE(all_close(sum, want, 1e-12));
}

}  // namespace
}  // namespace primus::cpu::testing
