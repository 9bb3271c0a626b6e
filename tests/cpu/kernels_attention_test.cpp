// Rotary embedding and causal grouped-query attention in double precision: forward against
// independent references (explicit pair rotation; materialized masked softmax), backward against
// central finite differences, for MHA, GQA and MQA head layouts, with one and several row blocks.
#include <gtest/gtest.h>

#include <tuple>

#include "cpu/kernels_attention.h"
#include "cpu/kernels_rope.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t B = 2, T = 5, HS = 4;

// cos/sin (T,HS/2) of the standard RoPE angles t * base^(-2i/HS), starting at position `start`.
void rope_tables(Vec& cos, Vec& sin, int64_t start, double base = 10000.0) {
  cos.assign(T * HS / 2, 0.0);
  sin.assign(T * HS / 2, 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < HS / 2; ++i) {
      const double angle = static_cast<double>(start + t) * std::pow(base, -2.0 * i / HS);
      cos[t * HS / 2 + i] = std::cos(angle);
      sin[t * HS / 2 + i] = std::sin(angle);
    }
}

class HeadLayout : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(HeadLayout, RopeForwardRotatesHalvesOfQAndKAndCopiesV) {
  const auto [NH, NKV] = GetParam();
  const int64_t C3 = (NH + 2 * NKV) * HS, half = HS / 2;
  Rand r(31);
  Vec inp = r.normal(B * T * C3), cos, sin;
  rope_tables(cos, sin, 3);
  Vec out = poisoned(B * T * C3);
  rope_forward_kernel(out.data(), inp.data(), cos.data(), sin.data(), B, T, NH, NKV, HS);
  Vec want = inp;
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t h = 0; h < NH + NKV; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const int64_t a = n * C3 + h * HS + i, t = n % T;
        const double c = cos[t * half + i], s = sin[t * half + i];
        // (x_i + j x_{i+half}) * (c + j s)
        want[a] = inp[a] * c - inp[a + half] * s;
        want[a + half] = inp[a] * s + inp[a + half] * c;
      }
  EXPECT_TRUE(all_close(out, want, 1e-14));
  Vec in_place = inp;
  rope_forward_kernel(in_place.data(), in_place.data(), cos.data(), sin.data(), B, T, NH, NKV, HS);
  EXPECT_TRUE(all_close(in_place, want, 1e-14));
}

TEST_P(HeadLayout, RopeBackwardMatchesFiniteDifferences) {
  const auto [NH, NKV] = GetParam();
  const int64_t C3 = (NH + 2 * NKV) * HS;
  Rand r(32);
  Vec inp = r.normal(B * T * C3), dout = r.normal(B * T * C3), cos, sin;
  rope_tables(cos, sin, 0, 7.0);
  auto loss = [&] {
    Vec out = poisoned(B * T * C3);
    rope_forward_kernel(out.data(), inp.data(), cos.data(), sin.data(), B, T, NH, NKV, HS);
    return dot(dout, out);
  };
  Vec dinp = poisoned(B * T * C3);  // written, not accumulated
  rope_backward_kernel(dinp.data(), dout.data(), cos.data(), sin.data(), B, T, NH, NKV, HS);
  EXPECT_TRUE(grad_matches(dinp, inp, loss));
}

// Materialized reference: S = q k^T / sqrt(HS) with a causal mask, P = softmax(S), O = P v.
void naive_attention(Vec& out, Vec& lse, const Vec& qkv, int64_t NH, int64_t NKV) {
  const int64_t C3 = (NH + 2 * NKV) * HS;
  out.assign(B * T * NH * HS, 0.0);
  lse.assign(B * NH * T, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t g = h / (NH / NKV);
      for (int64_t t = 0; t < T; ++t) {
        Vec s(T, -INFINITY);
        for (int64_t u = 0; u <= t; ++u) {
          double d = 0;
          for (int64_t i = 0; i < HS; ++i)
            d += qkv[(b * T + t) * C3 + h * HS + i] * qkv[(b * T + u) * C3 + (NH + g) * HS + i];
          s[u] = d / std::sqrt(static_cast<double>(HS));
        }
        double z = 0;
        for (int64_t u = 0; u < T; ++u) z += std::exp(s[u]);
        lse[(b * NH + h) * T + t] = std::log(z);
        for (int64_t u = 0; u < T; ++u)
          for (int64_t i = 0; i < HS; ++i)
            out[(b * T + t) * NH * HS + h * HS + i] +=
                std::exp(s[u]) / z * qkv[(b * T + u) * C3 + (NH + NKV + g) * HS + i];
      }
    }
}

TEST_P(HeadLayout, AttentionForwardMatchesMaterializedSoftmax) {
  const auto [NH, NKV] = GetParam();
  const int64_t C3 = (NH + 2 * NKV) * HS;
  Rand r(33);
  Vec qkv = r.normal(B * T * C3, 1.5);
  Vec want_out, want_lse;
  naive_attention(want_out, want_lse, qkv, NH, NKV);
  for (int64_t block : {int64_t{2}, kAttentionBlock}) {  // several blocks, the last one partial; one block
    Vec out = poisoned(B * T * NH * HS), lse = poisoned(B * NH * T);
    attention_forward_kernel(out.data(), lse.data(), qkv.data(), B, T, NH, NKV, HS, block);
    EXPECT_TRUE(all_close(out, want_out, 1e-12)) << "block " << block;
    EXPECT_TRUE(all_close(lse, want_lse, 1e-12)) << "block " << block;
  }
}

TEST_P(HeadLayout, AttentionBackwardMatchesFiniteDifferences) {
  const auto [NH, NKV] = GetParam();
  const int64_t C3 = (NH + 2 * NKV) * HS;
  Rand r(34);
  Vec qkv = r.normal(B * T * C3), dout = r.normal(B * T * NH * HS);
  auto loss = [&] {
    Vec out = poisoned(B * T * NH * HS), lse = poisoned(B * NH * T);
    attention_forward_kernel(out.data(), lse.data(), qkv.data(), B, T, NH, NKV, HS);
    return dot(dout, out);
  };
  Vec out = poisoned(B * T * NH * HS), lse = poisoned(B * NH * T);
  attention_forward_kernel(out.data(), lse.data(), qkv.data(), B, T, NH, NKV, HS);
  for (int64_t block : {int64_t{2}, kAttentionBlock}) {
    const Vec dqkv0 = r.normal(B * T * C3);
    Vec dqkv = dqkv0;
    attention_backward_kernel(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T, NH, NKV, HS,
                              block);
    EXPECT_TRUE(grad_matches(minus(dqkv, dqkv0), qkv, loss)) << "block " << block;
  }
}

INSTANTIATE_TEST_SUITE_P(CpuKernels, HeadLayout,
                         ::testing::Values(std::make_tuple(3, 1), std::make_tuple(4, 2), std::make_tuple(2, 2)),
                         [](const auto& info) {
                           return "NH" + std::to_string(std::get<0>(info.param)) + "_NKV" +
                                  std::to_string(std::get<1>(info.param));
                         });

// The rotate-half convention is a rotation per position: q.k after RoPE depends only on the
// distance between the two positions.
TEST(RopeKernel, ScoresDependOnlyOnRelativePosition) {
  const int64_t NH = 1, NKV = 1, C3 = 3 * HS;
  Rand r(35);
  Vec row_q = r.normal(HS), row_k = r.normal(HS);
  Vec inp(B * T * C3, 0.0);
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t i = 0; i < HS; ++i) {
      inp[n * C3 + i] = row_q[i];
      inp[n * C3 + HS + i] = row_k[i];
    }
  Vec cos0, sin0, cos5, sin5;
  rope_tables(cos0, sin0, 0);
  rope_tables(cos5, sin5, 5);
  Vec out0 = poisoned(B * T * C3), out5 = poisoned(B * T * C3);
  rope_forward_kernel(out0.data(), inp.data(), cos0.data(), sin0.data(), B, T, NH, NKV, HS);
  rope_forward_kernel(out5.data(), inp.data(), cos5.data(), sin5.data(), B, T, NH, NKV, HS);
  auto score = [&](const Vec& o, int64_t tq, int64_t tk) {
    double s = 0;
    for (int64_t i = 0; i < HS; ++i) s += o[tq * C3 + i] * o[tk * C3 + HS + i];
    return s;
  };
  EXPECT_NEAR(score(out0, 4, 1), score(out5, 4, 1), 1e-12);
  EXPECT_NEAR(score(out0, 3, 0), score(out0, 4, 1), 1e-12);
  EXPECT_GT(std::abs(score(out0, 4, 1) - score(out0, 4, 3)), 1e-6);
}

}  // namespace
}  // namespace primus::cpu::testing
