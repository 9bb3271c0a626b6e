// Data parallel and ZeRO-1 against a reference every rank computes alone: gather every rank's
// gradients, average them, and run the CPU backend's AdamW over the whole buffer.
#include <gtest/gtest.h>

#include "cpu/cpu_backend.h"
#include "dist/data_parallel.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

// Gradients of rank r at step s: distinct per rank, per step and per element, never zero.
float grad_value(int r, int s, int64_t i) { return 0.01f * static_cast<float>((i * 7 + r * 13 + s * 5) % 23 - 11) + 0.003f; }

std::vector<float> averaged_grads(int size, int s, int64_t P) {
  std::vector<float> avg(P, 0.0f);
  for (int r = 0; r < size; ++r)
    for (int64_t i = 0; i < P; ++i) avg[i] += grad_value(r, s, i);
  for (float& x : avg) x /= size;
  return avg;
}

TEST(DataParallel, BucketedAllReduceAverages) {
  Comm& w = world();
  const int64_t P = 53;
  for (int64_t bucket : {int64_t{7}, int64_t{53}, int64_t{1000}}) {
    std::vector<float> g(P);
    for (int64_t i = 0; i < P; ++i) g[i] = grad_value(w.rank(), 0, i);
    DataParallel dp(w, bucket);
    dp.all_reduce_grads(host_tensor(g));
    auto want = averaged_grads(w.size(), 0, P);
    for (int64_t i = 0; i < P; ++i) EXPECT_NEAR(g[i], want[i], 1e-6f) << "bucket " << bucket << " i " << i;
  }
  DataParallel dp(w);
  EXPECT_FLOAT_EQ(dp.average(static_cast<float>(w.rank())), (w.size() - 1) / 2.0f);
}

// P is not a multiple of the group size, so the tail path runs too; segments cut across shards.
TEST(ZeroOptimizer, MatchesFullAdamWOverThreeSteps) {
  Comm& w = world();
  auto backend = cpu::make_cpu_backend(1);
  const int64_t P = 103;
  std::vector<ParamSegment> segments = {{0, 40, 0.1f}, {40, 23, 0.0f}, {63, 40, 0.1f}};
  std::vector<float> params(P), ref(P), m(P, 0.0f), v(P, 0.0f);
  for (int64_t i = 0; i < P; ++i) params[i] = ref[i] = 0.02f * static_cast<float>(i % 11) - 0.1f;
  ZeroOptimizer zero(w, *backend, P, segments);
  EXPECT_EQ(zero.shard_size(), P / w.size());
  for (int step = 1; step <= 3; ++step) {
    std::vector<float> g(P);
    for (int64_t i = 0; i < P; ++i) g[i] = grad_value(w.rank(), step, i);
    zero.reduce_scatter_grads(host_tensor(g));
    auto avg = averaged_grads(w.size(), step, P);
    double want_norm = 0.0;
    for (float x : avg) want_norm += double(x) * x;
    EXPECT_NEAR(zero.grad_norm_squared(), want_norm, 1e-5 * want_norm);
    AdamWArgs args{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = step, .grad_scale = 0.5f};
    zero.step(host_tensor(params), Tensor{}, args);
    backend->adamw_update(host_tensor(ref), Tensor{}, host_tensor(m), host_tensor(v), host_tensor(avg), segments, args);
    for (int64_t i = 0; i < P; ++i) ASSERT_NEAR(params[i], ref[i], 1e-6f) << "step " << step << " i " << i;
  }
  std::vector<float> gm(P, -1.0f), gv(P, -1.0f);
  zero.gather_state(host_tensor(gm), host_tensor(gv));
  for (int64_t i = 0; i < P; ++i) {
    EXPECT_NEAR(gm[i], m[i], 1e-7f) << i;
    EXPECT_NEAR(gv[i], v[i], 1e-9f) << i;
  }
  // A fresh optimizer loaded from the gathered state takes the same next step.
  ZeroOptimizer again(w, *backend, P, segments);
  again.load_state(host_tensor(gm), host_tensor(gv));
  std::vector<float> g(P), p2 = params;
  for (int64_t i = 0; i < P; ++i) g[i] = grad_value(w.rank(), 4, i);
  again.reduce_scatter_grads(host_tensor(g));
  zero.reduce_scatter_grads(host_tensor(g));
  AdamWArgs args{.lr = 1e-2f, .step = 4};
  again.step(host_tensor(p2), Tensor{}, args);
  zero.step(host_tensor(params), Tensor{}, args);
  for (int64_t i = 0; i < P; ++i) EXPECT_EQ(p2[i], params[i]) << i;
}

// The norm counts only the given ranges (cut by the shard and tail boundaries, one reaching into
// the tail, one covering a single element), each element once however many ranks hold it.
TEST(ZeroOptimizer, GradNormCountsOnlyTheNormRanges) {
  Comm& w = world();
  auto backend = cpu::make_cpu_backend(1);
  const int64_t P = 103;
  const std::vector<ParamSegment> segments = {{0, P, 0.0f}};
  const std::vector<FlatRange> ranges = {{3, 30}, {50, 1}, {60, 40}, {101, 2}};
  ZeroOptimizer zero(w, *backend, P, segments, ranges);
  std::vector<float> g(P);
  for (int64_t i = 0; i < P; ++i) g[i] = grad_value(w.rank(), 1, i);
  zero.reduce_scatter_grads(host_tensor(g));
  const auto avg = averaged_grads(w.size(), 1, P);
  double want = 0.0, all = 0.0;
  for (const FlatRange& r : ranges)
    for (int64_t i = r.offset; i < r.offset + r.size; ++i) want += double(avg[i]) * avg[i];
  for (float x : avg) all += double(x) * x;
  ASSERT_GT(all - want, 1e-3 * all) << "the ranges leave out too little for the test to tell";
  EXPECT_NEAR(zero.grad_norm_squared(), want, 1e-5 * want);
}

}  // namespace
}  // namespace primus::dist::testing
