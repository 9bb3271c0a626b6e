// The collective checker accepts the right result of every op and catches a planted wrong one;
// the bus-bandwidth factors are nccl-tests'; a one-process run checks itself.
#include <gtest/gtest.h>

#include <vector>

#include "bench/collective.h"
#include "dist/self_comm.h"
#include "runtime/backends.h"

namespace primus::bench {
namespace {

constexpr CollectiveOp kOps[] = {CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter,
                                 CollectiveOp::kBroadcast, CollectiveOp::kAllToAll, CollectiveOp::kSendRecv};

// What every rank's output should hold, simulated from every rank's input (independently of the checker).
std::vector<std::vector<float>> simulate(CollectiveOp op, int world, int64_t n) {
  const bool whole_in = op == CollectiveOp::kReduceScatter || op == CollectiveOp::kAllToAll;
  const int64_t in_len = whole_in ? n * world : n;
  std::vector<std::vector<float>> in(static_cast<size_t>(world));  // (world, in_len)
  for (int q = 0; q < world; ++q)
    for (int64_t i = 0; i < in_len; ++i) in[static_cast<size_t>(q)].push_back(collective_pattern(q, i));
  std::vector<std::vector<float>> out(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    auto& o = out[static_cast<size_t>(r)];
    switch (op) {
      case CollectiveOp::kAllReduce:
        o.assign(static_cast<size_t>(n), 0.0f);
        for (int q = 0; q < world; ++q)
          for (int64_t i = 0; i < n; ++i) o[static_cast<size_t>(i)] += in[static_cast<size_t>(q)][static_cast<size_t>(i)];
        break;
      case CollectiveOp::kReduceScatter:
        o.assign(static_cast<size_t>(n), 0.0f);
        for (int q = 0; q < world; ++q)
          for (int64_t i = 0; i < n; ++i) o[static_cast<size_t>(i)] += in[static_cast<size_t>(q)][static_cast<size_t>(r * n + i)];
        break;
      case CollectiveOp::kAllGather:
        for (int q = 0; q < world; ++q) o.insert(o.end(), in[static_cast<size_t>(q)].begin(), in[static_cast<size_t>(q)].end());
        break;
      case CollectiveOp::kBroadcast: o = in[0]; break;
      case CollectiveOp::kAllToAll:
        for (int q = 0; q < world; ++q)
          o.insert(o.end(), in[static_cast<size_t>(q)].begin() + r * n, in[static_cast<size_t>(q)].begin() + (r + 1) * n);
        break;
      case CollectiveOp::kSendRecv: o = (r ^ 1) < world ? in[static_cast<size_t>(r ^ 1)] : in[static_cast<size_t>(r)]; break;
    }
  }
  return out;
}

TEST(CollectiveCheck, AcceptsRightResultsAndCatchesAPlantedWrongOne) {
  for (CollectiveOp op : kOps) {
    for (int world : {1, 2, 3, 4}) {
      const int64_t n = 37;
      auto out = simulate(op, world, n);
      for (int r = 0; r < world; ++r) {
        auto& o = out[static_cast<size_t>(r)];
        EXPECT_EQ(collective_check(op, r, world, n, o), "") << collective_name(op) << " world " << world << " rank " << r;
        if (op == CollectiveOp::kSendRecv && (r ^ 1) >= world) continue;  // the idle rank has nothing to check
        std::vector<float> wrong = o;
        wrong[wrong.size() / 2] += 1.0f;
        EXPECT_NE(collective_check(op, r, world, n, wrong), "") << collective_name(op) << " world " << world;
        wrong = o;
        wrong.pop_back();
        EXPECT_NE(collective_check(op, r, world, n, wrong), "") << "short output accepted";
      }
    }
  }
}

TEST(CollectiveCheck, ARankThatMissedOthersContributionsIsCaught) {
  // all_reduce that forgot rank 1: right length, plausible values, wrong.
  std::vector<float> partial(16);
  for (int64_t i = 0; i < 16; ++i) partial[static_cast<size_t>(i)] = collective_pattern(0, i);
  EXPECT_NE(collective_check(CollectiveOp::kAllReduce, 0, 2, 16, partial), "");
  // all_gather with two chunks swapped.
  auto out = simulate(CollectiveOp::kAllGather, 2, 8)[0];
  std::rotate(out.begin(), out.begin() + 8, out.end());
  EXPECT_NE(collective_check(CollectiveOp::kAllGather, 0, 2, 8, out), "");
}

TEST(CollectiveCheck, BusFactorsAndChunks) {
  EXPECT_DOUBLE_EQ(collective_bus_factor(CollectiveOp::kAllReduce, 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(collective_bus_factor(CollectiveOp::kAllGather, 4), 0.75);
  EXPECT_DOUBLE_EQ(collective_bus_factor(CollectiveOp::kReduceScatter, 2), 0.5);
  EXPECT_DOUBLE_EQ(collective_bus_factor(CollectiveOp::kBroadcast, 8), 1.0);
  EXPECT_EQ(collective_chunk_elements(CollectiveOp::kAllGather, 1 << 20, 4), (1 << 18) / 4);
  EXPECT_EQ(collective_chunk_elements(CollectiveOp::kAllReduce, 1 << 20, 4), 1 << 18);
  EXPECT_EQ(collective_parse("all_to_all"), CollectiveOp::kAllToAll);
  EXPECT_THROW(collective_parse("allreduce"), Error);
}

TEST(CollectiveReport, OneProcessChecksEveryOp) {
  dist::SelfComm comm;
  auto backend = runtime::make_backend("cpu", 1);
  CollectiveSweep s{{std::begin(kOps), std::end(kOps)}, {1024, 4096}, 0, 2};
  int wrong = -1;
  Report r = collective_report(s, comm, *backend, &wrong);
  EXPECT_EQ(wrong, 0);
  ASSERT_EQ(r.rows.size(), 10u);  // send/recv needs a second rank
  for (const auto& row : r.rows) {
    EXPECT_NE(row["op"], "send_recv");
    EXPECT_EQ(row["check"], "ok") << row.dump();
    EXPECT_GT(row["p50_us"].get<double>(), 0.0);
  }
}

}  // namespace
}  // namespace primus::bench
