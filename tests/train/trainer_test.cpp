// The trainer: exact resume, clean stop on a signal, non-finite detection, accumulation,
// decay groups, evaluation.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>

#include "core/error.h"
#include "core/rng.h"
#include "tiny.h"
#include "train/optimizer.h"
#include "train/signals.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace primus::train {
namespace {

using testing::fresh_dir;
using testing::tiny_config;
using testing::TinyRun;

TEST(Trainer, ResumeAfterASignalIsBitwiseExact) {
  auto cfg = tiny_config();
  auto dir = fresh_dir("resume");
  std::vector<double> straight;
  {
    TinyRun r(cfg);
    TrainerOptions o;
    o.checkpoints_dir = (dir / "a").string();
    Trainer t(cfg, *r.model, *r.train, r.valid.get(), o);
    auto res = t.run();
    straight = res.losses;
    EXPECT_EQ(res.final_step, 20);
    EXPECT_FALSE(res.stopped_by_signal);
  }
  ASSERT_EQ(straight.size(), 20u);
  EXPECT_LT(straight.back(), straight.front());   // it learns something (mock data: the unigram)
  std::vector<double> resumed;
  {
    TinyRun r(cfg);
    TrainerOptions o;
    o.checkpoints_dir = (dir / "b").string();
    o.after_backward = [](int64_t step, Tensor) { if (step == 9) request_stop(SIGTERM); };
    Trainer t(cfg, *r.model, *r.train, r.valid.get(), o);
    auto res = t.run();
    EXPECT_TRUE(res.stopped_by_signal);
    EXPECT_EQ(res.final_step, 10);
    EXPECT_EQ(fs::path(res.last_checkpoint).filename(), "step_00000010");
    resumed = res.losses;
  }
  {
    TinyRun r(cfg, /*init_seed=*/999);   // different init: everything must come from the checkpoint
    TrainerOptions o;
    o.checkpoints_dir = (dir / "b").string();
    Trainer t(cfg, *r.model, *r.train, r.valid.get(), o);
    t.resume(latest_checkpoint(o.checkpoints_dir));
    EXPECT_EQ(t.step(), 10);
    auto res = t.run();
    EXPECT_EQ(res.final_step, 20);
    resumed.insert(resumed.end(), res.losses.begin(), res.losses.end());
  }
  ASSERT_EQ(resumed.size(), straight.size());
  for (size_t i = 0; i < straight.size(); ++i) EXPECT_EQ(resumed[i], straight[i]) << "step " << i;
  fs::remove_all(dir);
}

TEST(Trainer, NonFiniteGradientsAreSkippedThenStop) {
  auto cfg = tiny_config();
  cfg.train.max_nonfinite_steps = 3;
  TinyRun r(cfg);
  std::vector<float> before_first_nan;
  TrainerOptions o;
  o.after_backward = [&](int64_t step, Tensor grads) {
    if (step == 2) {   // one bad step: skipped, training goes on
      grads.f32()[5] = NAN;
    } else if (step >= 6) {
      if (step == 6) before_first_nan = r.params();
      grads.f32()[0] = INFINITY;
    }
  };
  Trainer t(cfg, *r.model, *r.train, nullptr, o);
  try {
    t.run();
    FAIL() << "expected a stop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 non-finite steps in a row"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t.step(), 9);   // steps 7, 8, 9 (1-based) were the bad ones
  EXPECT_EQ(r.params(), before_first_nan);   // no update after the first bad step
}

TEST(Trainer, SingleNonFiniteStepIsSkippedAndTrainingContinues) {
  auto cfg = tiny_config();
  cfg.train.steps = 6;
  TinyRun r(cfg);
  std::vector<float> before;
  TrainerOptions o;
  o.after_backward = [&](int64_t step, Tensor grads) {
    if (step == 2) {
      before = r.params();
      grads.f32()[7] = NAN;
    }
    if (step == 3) EXPECT_EQ(r.params(), before);   // the skipped step changed nothing
  };
  Trainer t(cfg, *r.model, *r.train, nullptr, o);
  auto res = t.run();
  ASSERT_EQ(res.losses.size(), 6u);
  EXPECT_TRUE(std::isnan(res.losses[2]));
  for (size_t i : {0, 1, 3, 4, 5}) EXPECT_TRUE(std::isfinite(res.losses[i])) << i;
}

TEST(Trainer, BatchThatDoesNotDivideIsAUsageError) {
  auto cfg = tiny_config();
  cfg.train.global_batch_size = 5;
  TinyRun r(cfg);
  try {
    Trainer t(cfg, *r.model, *r.train, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("global_batch_size"), std::string::npos);
  }
}

TEST(Trainer, AccumulationMatchesOneLargerMicroBatchInLoss) {
  // Step 0 sees the same 4 sequences either as 2 micro-batches of 2 or one of 4 (mock data is a
  // stream), so the first loss agrees up to summation order.
  auto cfg = tiny_config();
  cfg.train.steps = 1;
  TinyRun a(cfg);
  Trainer ta(cfg, *a.model, *a.train, nullptr);
  EXPECT_EQ(ta.grad_accum_steps(), 2);
  auto la = ta.run().losses;
  cfg.train.micro_batch_size = 4;
  TinyRun b(cfg);
  Trainer tb(cfg, *b.model, *b.train, nullptr);
  EXPECT_EQ(tb.grad_accum_steps(), 1);
  auto lb = tb.run().losses;
  EXPECT_NEAR(la[0], lb[0], 1e-5 * std::fabs(lb[0]));
}

TEST(Trainer, EvaluationReportsLossAndUnigramEntropy) {
  auto cfg = tiny_config();
  cfg.train.steps = 4;
  cfg.logging.eval_every_steps = 2;
  cfg.logging.eval_steps = 3;
  TinyRun r(cfg);
  Trainer t(cfg, *r.model, *r.train, r.valid.get());
  auto res = t.run();
  EXPECT_GT(res.last_valid_loss, 0);
  EXPECT_GT(res.unigram_entropy, 0);
  EXPECT_LE(res.unigram_entropy, std::log(96.0) + 1e-9);
  EXPECT_EQ(t.evaluate(), t.evaluate());   // validation rewinds: the same batches each time
}

TEST(Optimizer, DecayGroupsFollowTheParameterKinds) {
  auto cfg = tiny_config();
  auto backend = runtime::make_backend("cpu", 1);
  models::Model m(cfg.model, *backend, 1, 8);
  auto segs = plan_decay_segments(m.params(), cfg.optim);
  auto wd_at = [&](int64_t offset) {
    for (const auto& s : segs)
      if (offset >= s.offset && offset < s.offset + s.size) return s.weight_decay;
    return -1.0f;
  };
  int decayed = 0;
  for (const auto& p : m.params()) {
    const float want = (p.is_norm || p.is_bias || p.is_embedding) ? 0.0f : static_cast<float>(cfg.optim.weight_decay);
    EXPECT_EQ(wd_at(p.offset), want) << p.name;
    decayed += want > 0;
  }
  EXPECT_GT(decayed, 0);
  cfg.optim.decay_norms_and_biases = true;
  cfg.optim.decay_embeddings = true;
  auto all = plan_decay_segments(m.params(), cfg.optim);
  ASSERT_EQ(all.size(), 1u);   // one merged segment when everything decays
  EXPECT_EQ(all[0].weight_decay, static_cast<float>(cfg.optim.weight_decay));
}

TEST(Optimizer, ClippingEqualsPreScaledGradients) {
  // AdamW is not scale-invariant in its first step only through eps; compare clipped g against
  // g pre-scaled to the clip norm with clipping off: the updates must agree.
  auto cfg = tiny_config();
  cfg.optim.grad_clip_norm = 0.5;
  TinyRun a(cfg, 3), b(cfg, 3);
  std::vector<float> g(static_cast<size_t>(a.model->num_params()));   // (P)
  Rng rng(9);
  for (float& x : g) x = rng.normal(0.0f, 0.1f);
  a.backend->copy_from_host(a.model->grads_buffer(), g.data());
  AdamW clipped(cfg.optim, *a.backend, a.model->params(), a.model->num_params());
  const double norm = clipped.grad_norm(a.model->grads_buffer());
  ASSERT_GT(norm, 0.5);
  clipped.step(a.model->params_buffer(), a.model->grads_buffer(), 1e-2, norm);
  const double s = 0.5 / (norm + 1e-6);
  for (float& x : g) x = static_cast<float>(x * s);
  b.backend->copy_from_host(b.model->grads_buffer(), g.data());
  cfg.optim.grad_clip_norm = 0;
  AdamW plain(cfg.optim, *b.backend, b.model->params(), b.model->num_params());
  plain.step(b.model->params_buffer(), b.model->grads_buffer(), 1e-2, plain.grad_norm(b.model->grads_buffer()));
  auto pa = a.params(), pb = b.params(), p0 = TinyRun(cfg, 3).params();
  int64_t moved = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_NEAR(pa[i], pb[i], 1e-6f + 1e-4f * std::fabs(pb[i] - p0[i])) << i;
    moved += pa[i] != p0[i];
  }
  EXPECT_GT(moved, static_cast<int64_t>(pa.size()) / 2);
}

}  // namespace
}  // namespace primus::train
