// Host side of the fp8 GEMM benchmark: E4M3 encoding (every code round-trips, ties go to the even
// code, saturation at 448, NaN, subnormals), the power-of-two scales, and the refusal of fp8 where
// there is no fp8 GEMM. The device GEMM itself runs on a GPU machine (`primus benchmark gemm
// --device cuda --dtype fp8`, which checks its own result before timing).
#include <gtest/gtest.h>

#include <cmath>

#include "bench/gemm.h"
#include "bench/gemm_fp8.h"
#include "bench/gemm_suite.h"
#include "core/error.h"

namespace primus::bench {
namespace {

TEST(E4m3, KnownValues) {
  EXPECT_EQ(e4m3_to_float(0x00), 0.0f);
  EXPECT_EQ(e4m3_to_float(0x38), 1.0f);          // exponent 7 = bias
  EXPECT_EQ(e4m3_to_float(0x7e), 448.0f);        // largest finite
  EXPECT_EQ(e4m3_to_float(0xfe), -448.0f);
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.0f, -9));   // smallest subnormal
  EXPECT_EQ(e4m3_to_float(0x08), std::ldexp(1.0f, -6));   // smallest normal
  EXPECT_TRUE(std::isnan(e4m3_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3_to_float(0xff)));
  EXPECT_EQ(e4m3_from_float(1.0f), 0x38);
  EXPECT_EQ(e4m3_from_float(-2.5f), 0xc2);       // -(1 + 2/8) * 2^1
}

TEST(E4m3, EveryCodeRoundTripsAndMidpointsGoToTheEvenCode) {
  for (int code = 0; code < 0x7f; ++code) {
    for (int sign : {0, 0x80}) {
      const uint8_t bits = static_cast<uint8_t>(code | sign);
      const float v = e4m3_to_float(bits);
      if (code == 0) {
        EXPECT_EQ(e4m3_from_float(v) & 0x7f, 0);
        continue;
      }
      EXPECT_EQ(e4m3_from_float(v), bits) << "code " << code << " value " << v;
    }
    if (code + 1 < 0x7f) {
      const float lo = e4m3_to_float(static_cast<uint8_t>(code)), hi = e4m3_to_float(static_cast<uint8_t>(code + 1));
      const float mid = 0.5f * (lo + hi);   // exact: both are short binary fractions
      const int even = code % 2 == 0 ? code : code + 1;
      EXPECT_EQ(e4m3_from_float(mid), even) << "between codes " << code << " and " << code + 1;
      EXPECT_EQ(e4m3_from_float(std::nextafter(mid, lo)), code);
      EXPECT_EQ(e4m3_from_float(std::nextafter(mid, hi)), code + 1);
    }
  }
}

TEST(E4m3, SaturatesAndKeepsNaN) {
  EXPECT_EQ(e4m3_from_float(460.0f), 0x7e);
  EXPECT_EQ(e4m3_from_float(1e30f), 0x7e);
  EXPECT_EQ(e4m3_from_float(-INFINITY), 0xfe);
  EXPECT_EQ(e4m3_from_float(NAN), 0x7f);
  EXPECT_EQ(e4m3_from_float(std::ldexp(1.0f, -11)), 0x00);   // below half the smallest subnormal
}

TEST(E4m3, ScaleIsTheSmallestPowerOfTwoThatFits) {
  for (float amax : {1.0f, 3.0f, 448.0f, 449.0f, 0.001f, 1e6f}) {
    const float s = e4m3_scale_for(amax);
    int e = 0;
    EXPECT_EQ(std::frexp(s, &e), 0.5f) << amax;   // a power of two
    EXPECT_LE(amax / s, 448.0f) << amax;
    EXPECT_GT(amax / (s / 2), 448.0f) << amax;
  }
  EXPECT_EQ(e4m3_scale_for(1.0f), std::ldexp(1.0f, -8));
}

TEST(GemmFp8, RefusedOnTheCpuAndOutsideLayoutNt) {
  GemmCase c{64, 64, 64, false, true, DType::kBF16, true};
  EXPECT_EQ(c.dtype_label(), "fp8");
  try {
    gemm_validate(c, nullptr);
    FAIL() << "fp8 accepted on the CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("CPU (OpenBLAS) has no fp8"), std::string::npos) << e.what();
  }
  GemmPrecision p = gemm_precision_parse("fp8");
  EXPECT_TRUE(p.fp8);
  EXPECT_EQ(p.dtype, DType::kBF16);
  EXPECT_FALSE(gemm_precision_parse("bf16").fp8);
  EXPECT_THROW(gemm_dtype_parse("fp8"), Error);
}

}  // namespace
}  // namespace primus::bench
