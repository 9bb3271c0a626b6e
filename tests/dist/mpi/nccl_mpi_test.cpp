// The NCCL communicator on device tensors (CUDA builds on a GPU machine; skipped elsewhere): every
// collective against values each rank computes itself, data parallel averaging, and the ZeRO-1
// step with the CUDA backend's AdamW against the same step on the CPU over MPI.
#include <gtest/gtest.h>

#include <algorithm>

#include "cpu/cpu_backend.h"
#include "dist/data_parallel.h"
#include "runtime/backends.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    auto names = runtime::compiled_backends();
    if (std::find(names.begin(), names.end(), "cuda") == names.end()) GTEST_SKIP() << "built without CUDA";
    const LaunchInfo li = detect_launch();
    try {
      gpu_ = runtime::make_backend("cuda:" + std::to_string(li.local_rank));
    } catch (const Error& e) {
      GTEST_SKIP() << "no GPU: " << e.what();
    }
    if (!comm_) comm_ = make_world_comm(DeviceKind::kCUDA, li.local_rank);
  }
  // A device copy of v; the Buffer is kept alive by the fixture.
  Tensor upload(const std::vector<float>& v) {
    bufs_.push_back(gpu_->alloc(v.size() * sizeof(float)));
    Tensor t = bufs_.back().as(DType::kF32, Shape{static_cast<int64_t>(v.size())});
    gpu_->copy_from_host(t, v.data());
    return t;
  }
  std::vector<float> download(Tensor t) {
    std::vector<float> v(t.numel());
    gpu_->copy_to_host(v.data(), t);
    return v;
  }
  std::unique_ptr<Backend> gpu_;
  std::vector<Buffer> bufs_;
  static inline std::unique_ptr<Comm> comm_;
};

TEST_F(Nccl, CollectivesOnDeviceTensors) {
  Comm& c = *comm_;
  const int S = c.size(), r = c.rank();
  if (S > 1) EXPECT_EQ(c.name(), "nccl");
  const int64_t n = 1001;
  std::vector<float> mine(n * S);
  for (int64_t i = 0; i < n * S; ++i) mine[i] = rank_value(r, i);
  auto want_sum = [&](int64_t i) { float s = 0; for (int k = 0; k < S; ++k) s += rank_value(k, i); return s; };

  Tensor t = upload(mine);
  c.all_reduce(t, ReduceOp::kAvg);
  auto got = download(t);
  for (int64_t i = 0; i < n * S; ++i) ASSERT_NEAR(got[i], want_sum(i) / S, 1e-5f) << i;

  Tensor in = upload(mine), out = upload(std::vector<float>(n, -999.0f));
  c.reduce_scatter(out, in, ReduceOp::kSum);
  got = download(out);
  for (int64_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(got[i], want_sum(r * n + i)) << i;

  std::vector<float> gathered(n * S, -999.0f);
  std::copy(mine.begin(), mine.begin() + n, gathered.begin() + r * n);
  Tensor all = upload(gathered);
  c.all_gather(all, all.slice(r * n, Shape{n}));   // in place
  got = download(all);
  for (int k = 0; k < S; ++k)
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[k * n + i], rank_value(k, i));

  Tensor b = upload(mine);
  c.broadcast(b, S - 1);
  got = download(b);
  for (int64_t i = 0; i < n * S; ++i) ASSERT_EQ(got[i], rank_value(S - 1, i));

  Tensor a_in = upload(mine), a_out = upload(std::vector<float>(n * S, -999.0f));
  c.all_to_all(a_out, a_in);
  got = download(a_out);
  for (int k = 0; k < S; ++k)
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[k * n + i], rank_value(k, r * n + i));

  if (S > 1) {
    Tensor s = upload(mine), d = upload(std::vector<float>(n * S, -999.0f));
    if (r == 0) c.send(s, 1);
    if (r == 1) {
      c.recv(d, 0);
      got = download(d);
      for (int64_t i = 0; i < n * S; ++i) ASSERT_EQ(got[i], rank_value(0, i));
    }
  }
  // A host scalar goes over MPI.
  float host = static_cast<float>(r);
  c.all_reduce(Tensor{&host, DType::kF32, Shape{1}, DeviceKind::kCPU}, ReduceOp::kSum);
  EXPECT_EQ(host, S * (S - 1) / 2.0f);
  c.barrier();
}

TEST_F(Nccl, ZeroStepOnTheGpuMatchesTheCpu) {
  Comm& c = *comm_;
  const int64_t P = 4099;
  std::vector<ParamSegment> segs = {{0, 2000, 0.1f}, {2000, 2099, 0.0f}};
  std::vector<float> params(P), grads(P);
  for (int64_t i = 0; i < P; ++i) {
    params[i] = 0.01f * static_cast<float>(i % 13) - 0.05f;
    grads[i] = 0.02f * static_cast<float>((i * 3 + c.rank() * 7) % 17) - 0.15f;
  }
  AdamWArgs args{.lr = 1e-2f, .step = 1};
  Tensor gp = upload(params), gg = upload(grads);
  ZeroOptimizer zero(c, *gpu_, P, segs);
  zero.reduce_scatter_grads(gg);
  zero.step(gp, Tensor{}, args);
  auto got = download(gp);

  auto cpu = cpu::make_cpu_backend(1);
  ZeroOptimizer ref(world(), *cpu, P, segs);
  std::vector<float> cp = params, cg = grads;
  ref.reduce_scatter_grads(host_tensor(cg));
  ref.step(host_tensor(cp), Tensor{}, args);
  for (int64_t i = 0; i < P; ++i) ASSERT_NEAR(got[i], cp[i], 1e-5f) << i;
}

}  // namespace
}  // namespace primus::dist::testing
