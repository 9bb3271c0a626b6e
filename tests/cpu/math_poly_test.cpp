// The float exp behind softmax, GELU and SwiGLU on the CPU: within a few ulp of the double exp
// over the whole range that matters, exact limits at the ends, NaN propagated.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu/math_poly.h"

namespace primus::cpu {
namespace {

TEST(ExpPoly, WithinFewUlpOfDoubleExp) {
  double worst = 0;
  float at = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.00731f) {
    const double want = std::exp(static_cast<double>(x));
    const double err = std::abs(exp_poly(x) - want) / want;
    if (err > worst) worst = err, at = x;
  }
  EXPECT_LT(worst, 4 * std::numeric_limits<float>::epsilon()) << "at x = " << at;
  EXPECT_EQ(exp_poly(0.0f), 1.0f);
}

TEST(ExpPoly, LimitsAndNaN) {
  EXPECT_LT(exp_poly(-1000.0f), 1e-37f);  // stands in for 0 without going subnormal
  EXPECT_GE(exp_poly(-1000.0f), 0.0f);
  EXPECT_LT(exp_poly(-std::numeric_limits<float>::infinity()), 1e-37f);
  EXPECT_TRUE(std::isfinite(exp_poly(1000.0f)));
  EXPECT_GT(exp_poly(1000.0f), 1e38f);
  EXPECT_TRUE(std::isnan(exp_poly(std::numeric_limits<float>::quiet_NaN())));
}

TEST(SigmoidOf, FloatMatchesDouble) {
  for (float x = -30.0f; x <= 30.0f; x += 0.37f) {
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    EXPECT_NEAR(sigmoid_of(x), want, 4e-7 * want) << x;
  }
}

}  // namespace
}  // namespace primus::cpu
