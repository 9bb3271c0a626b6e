// Every collective of the world communicator checked against values each rank computes on its own,
// for fp32, bf16, int32 and int64, at whatever size mpirun gave (CTest runs 2 and 4 ranks).
#include <gtest/gtest.h>

#include <numeric>

#include "world.h"

namespace primus::dist::testing {
namespace {

constexpr int64_t kN = 37;   // odd on purpose

float expected_reduce(ReduceOp op, int size, int64_t i) {
  float acc = rank_value(0, i);
  for (int r = 1; r < size; ++r) {
    float x = rank_value(r, i);
    if (op == ReduceOp::kSum || op == ReduceOp::kAvg) acc += x;
    if (op == ReduceOp::kMax) acc = std::max(acc, x);
    if (op == ReduceOp::kMin) acc = std::min(acc, x);
  }
  return op == ReduceOp::kAvg ? acc / size : acc;
}

class AllReduce : public ::testing::TestWithParam<ReduceOp> {};

TEST_P(AllReduce, Fp32MatchesLocalReduction) {
  Comm& w = world();
  std::vector<float> v(kN);
  for (int64_t i = 0; i < kN; ++i) v[i] = rank_value(w.rank(), i);
  w.all_reduce(host_tensor(v), GetParam());
  for (int64_t i = 0; i < kN; ++i) EXPECT_FLOAT_EQ(v[i], expected_reduce(GetParam(), w.size(), i)) << i;
}

TEST_P(AllReduce, Bf16MatchesLocalReduction) {
  Comm& w = world();
  std::vector<uint16_t> v(kN);
  for (int64_t i = 0; i < kN; ++i) v[i] = bf16_from_float(rank_value(w.rank(), i));
  w.all_reduce(Tensor{v.data(), DType::kBF16, Shape{kN}, DeviceKind::kCPU}, GetParam());
  for (int64_t i = 0; i < kN; ++i) {
    float want = bf16_to_float(bf16_from_float(expected_reduce(GetParam(), w.size(), i)));
    EXPECT_NEAR(bf16_to_float(v[i]), want, std::abs(want) * 1e-2f + 1e-2f) << i;
  }
}

TEST_P(AllReduce, IntegersMatchLocalReduction) {
  Comm& w = world();
  std::vector<int32_t> a(kN);
  std::vector<int64_t> b(kN);
  for (int64_t i = 0; i < kN; ++i) {
    a[i] = static_cast<int32_t>((w.rank() + 1) * 10 + i);
    b[i] = (int64_t{1} << 40) * (w.rank() + 1) - i;
  }
  w.all_reduce(Tensor{a.data(), DType::kI32, Shape{kN}, DeviceKind::kCPU}, GetParam());
  w.all_reduce(Tensor{b.data(), DType::kI64, Shape{kN}, DeviceKind::kCPU}, GetParam());
  const int64_t S = w.size();
  for (int64_t i = 0; i < kN; ++i) {
    int64_t sum_a = 10 * S * (S + 1) / 2 + S * i, sum_b = (int64_t{1} << 40) * S * (S + 1) / 2 - S * i;
    switch (GetParam()) {
      case ReduceOp::kSum: EXPECT_EQ(a[i], sum_a); EXPECT_EQ(b[i], sum_b); break;
      case ReduceOp::kAvg: EXPECT_EQ(a[i], sum_a / S); EXPECT_EQ(b[i], sum_b / S); break;
      case ReduceOp::kMax: EXPECT_EQ(a[i], 10 * S + i); EXPECT_EQ(b[i], (int64_t{1} << 40) * S - i); break;
      case ReduceOp::kMin: EXPECT_EQ(a[i], 10 + i); EXPECT_EQ(b[i], (int64_t{1} << 40) - i); break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, AllReduce,
                         ::testing::Values(ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin));

TEST(Comm, ReduceScatterGivesEachRankItsChunk) {
  Comm& w = world();
  const int S = w.size();
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg}) {
    std::vector<float> in(kN * S), out(kN, -999.0f);
    for (int64_t i = 0; i < kN * S; ++i) in[i] = rank_value(w.rank(), i);
    w.reduce_scatter(host_tensor(out), host_tensor(in), op);
    for (int64_t i = 0; i < kN; ++i) {
      EXPECT_FLOAT_EQ(out[i], expected_reduce(op, S, w.rank() * kN + i)) << i;
    }
  }
}

TEST(Comm, AllGatherConcatenatesRanksInOrder) {
  Comm& w = world();
  const int S = w.size();
  std::vector<float> in(kN), out(kN * S, -999.0f);
  for (int64_t i = 0; i < kN; ++i) in[i] = rank_value(w.rank(), i);
  w.all_gather(host_tensor(out), host_tensor(in));
  for (int r = 0; r < S; ++r)
    for (int64_t i = 0; i < kN; ++i) EXPECT_EQ(out[r * kN + i], rank_value(r, i)) << r << " " << i;
}

TEST(Comm, AllGatherInPlace) {
  Comm& w = world();
  const int S = w.size();
  std::vector<float> buf(kN * S, -999.0f);
  for (int64_t i = 0; i < kN; ++i) buf[w.rank() * kN + i] = rank_value(w.rank(), i);
  Tensor all = host_tensor(buf);
  w.all_gather(all, all.slice(w.rank() * kN, Shape{kN}));
  for (int r = 0; r < S; ++r)
    for (int64_t i = 0; i < kN; ++i) EXPECT_EQ(buf[r * kN + i], rank_value(r, i)) << r << " " << i;
}

TEST(Comm, BroadcastFromEveryRoot) {
  Comm& w = world();
  for (int root = 0; root < w.size(); ++root) {
    std::vector<float> v(kN);
    for (int64_t i = 0; i < kN; ++i) v[i] = rank_value(w.rank(), i);
    w.broadcast(host_tensor(v), root);
    for (int64_t i = 0; i < kN; ++i) EXPECT_EQ(v[i], rank_value(root, i)) << "root " << root;
  }
}

TEST(Comm, AllToAllTransposesChunks) {
  Comm& w = world();
  const int S = w.size();
  const int64_t chunk = 5;
  std::vector<int32_t> in(chunk * S), out(chunk * S, -1);
  // Chunk j of rank i's input carries (i, j) so the receiver can tell where it came from.
  for (int j = 0; j < S; ++j)
    for (int64_t k = 0; k < chunk; ++k) in[j * chunk + k] = static_cast<int32_t>(w.rank() * 1000 + j * 10 + k);
  w.all_to_all(Tensor{out.data(), DType::kI32, Shape{chunk * S}, DeviceKind::kCPU},
               Tensor{in.data(), DType::kI32, Shape{chunk * S}, DeviceKind::kCPU});
  for (int i = 0; i < S; ++i)
    for (int64_t k = 0; k < chunk; ++k) EXPECT_EQ(out[i * chunk + k], i * 1000 + w.rank() * 10 + k);
}

TEST(Comm, SendRecvAroundARing) {
  Comm& w = world();
  const int S = w.size(), next = (w.rank() + 1) % S, prev = (w.rank() + S - 1) % S;
  std::vector<float> mine(kN), got(kN, -999.0f);
  for (int64_t i = 0; i < kN; ++i) mine[i] = rank_value(w.rank(), i);
  // Even ranks send first, odd ranks receive first: no reliance on buffering.
  if (w.rank() % 2 == 0) {
    w.send(host_tensor(mine), next);
    w.recv(host_tensor(got), prev);
  } else {
    w.recv(host_tensor(got), prev);
    w.send(host_tensor(mine), next);
  }
  for (int64_t i = 0; i < kN; ++i) EXPECT_EQ(got[i], rank_value(prev, i));
  w.barrier();
}

TEST(Comm, SplitGroupsByColorOrderedByKey) {
  Comm& w = world();
  const int color = w.rank() % 2;
  // Reverse order inside each group.
  std::unique_ptr<Comm> sub = w.split(color, w.size() - w.rank());
  int members = 0;
  for (int r = 0; r < w.size(); ++r) members += r % 2 == color;
  ASSERT_EQ(sub->size(), members);
  std::vector<int32_t> ranks(members, -1);
  int32_t me = w.rank();
  sub->all_gather(Tensor{ranks.data(), DType::kI32, Shape{members}, DeviceKind::kCPU},
                  Tensor{&me, DType::kI32, Shape{1}, DeviceKind::kCPU});
  for (int i = 0; i + 1 < members; ++i) EXPECT_GT(ranks[i], ranks[i + 1]);
  EXPECT_EQ(ranks[sub->rank()], w.rank());
  EXPECT_EQ(sub->world_rank(), w.rank());
}

TEST(Comm, DeviceTensorIsRejectedWithAMessage) {
  Comm& w = world();
  float x = 1.0f;
  Tensor t{&x, DType::kF32, Shape{1}, DeviceKind::kCUDA};
  if (w.size() == 1) GTEST_SKIP() << "one process: SelfComm";
  try {
    w.all_reduce(t, ReduceOp::kSum);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("device tensor"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::dist::testing
