// Learning-rate schedules: values at the key steps of each kind.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/schedule.h"

namespace primus::train {
namespace {

config::ScheduleConfig make(const std::string& kind, int64_t warmup, double min_ratio = 0.1) {
  config::ScheduleConfig c;
  c.kind = kind;
  c.lr_warmup_steps = warmup;
  c.lr_min_ratio = min_ratio;
  return c;
}

TEST(Schedule, WarmupRampsLinearlyToThePeak) {
  LrSchedule s(make("cosine", 10), 1.0, 100);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(4), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(10), 1.0);   // first decay step starts at the peak
}

TEST(Schedule, ConstantStaysAtThePeak) {
  LrSchedule s(make("constant", 5), 3e-4, 100);
  EXPECT_DOUBLE_EQ(s.lr(0), 3e-4 / 5);
  EXPECT_DOUBLE_EQ(s.lr(50), 3e-4);
  EXPECT_DOUBLE_EQ(s.lr(99), 3e-4);
  EXPECT_DOUBLE_EQ(s.lr(500), 3e-4);
}

TEST(Schedule, LinearDecaysToTheMinimum) {
  LrSchedule s(make("linear", 0, 0.1), 1.0, 100);
  EXPECT_DOUBLE_EQ(s.lr(0), 1.0);
  EXPECT_NEAR(s.lr(50), 0.55, 1e-12);
  EXPECT_NEAR(s.lr(100), 0.1, 1e-12);
  EXPECT_NEAR(s.lr(1000), 0.1, 1e-12);
}

TEST(Schedule, CosineHalfwayIsTheMidpoint) {
  LrSchedule s(make("cosine", 10, 0.0), 2.0, 110);
  EXPECT_NEAR(s.lr(10), 2.0, 1e-12);
  EXPECT_NEAR(s.lr(60), 1.0, 1e-12);
  EXPECT_NEAR(s.lr(35), 1.0 + std::cos(M_PI / 4), 1e-12);
  EXPECT_NEAR(s.lr(110), 0.0, 1e-12);
}

TEST(Schedule, WsdIsFlatThenDecaysOverTheLastFraction) {
  auto c = make("wsd", 10, 0.1);
  c.wsd_decay_ratio = 0.2;
  LrSchedule s(c, 1.0, 100);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(50), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(79), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(80), 1.0);
  EXPECT_NEAR(s.lr(90), 0.55, 1e-12);
  EXPECT_NEAR(s.lr(100), 0.1, 1e-12);
}

TEST(Schedule, DecayStepsOverrideTheHorizon) {
  auto c = make("linear", 0, 0.0);
  c.lr_decay_steps = 10;
  LrSchedule s(c, 1.0, 100);
  EXPECT_NEAR(s.lr(5), 0.5, 1e-12);
  EXPECT_NEAR(s.lr(50), 0.0, 1e-12);
}

TEST(Schedule, UnknownKindIsAUsageError) {
  try {
    LrSchedule s(make("exponential", 0), 1.0, 10);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("exponential"), std::string::npos);
  }
}

}  // namespace
}  // namespace primus::train
