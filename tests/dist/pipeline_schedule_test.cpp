// Pipeline schedules: every (micro-batch, chunk) runs forward once and backward once, and a
// simulation of all stages together, honouring the data dependencies between virtual stages
// (forward v needs forward v-1 of the same micro-batch; backward v needs backward v+1, or its own
// forward on the last virtual stage), runs every schedule to the end without deadlock.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "dist/pipeline_schedule.h"

namespace primus::dist {
namespace {

// Runs all stages in lock-step rounds; returns the rounds taken, or -1 on deadlock.
int simulate(int stages, int chunks, int micro, const std::vector<std::vector<PipeAction>>& plans) {
  const int V = stages * chunks;
  std::set<std::tuple<int, int, int>> done;   // (op, micro, virtual stage)
  std::vector<size_t> next(stages, 0);
  size_t remaining = 0;
  for (const auto& p : plans) remaining += p.size();
  for (int round = 1; remaining > 0; ++round) {
    std::vector<std::tuple<int, int, int>> finished;
    for (int s = 0; s < stages; ++s) {
      if (next[s] == plans[s].size()) continue;
      const PipeAction& a = plans[s][next[s]];
      const int v = a.chunk * stages + s;
      bool ready;
      if (a.op == PipeOp::kForward) {
        ready = v == 0 || done.count({0, a.micro, v - 1});
      } else {
        ready = done.count({0, a.micro, v}) && (v == V - 1 || done.count({1, a.micro, v + 1}));
      }
      if (ready) {
        finished.push_back({a.op == PipeOp::kForward ? 0 : 1, a.micro, v});
        ++next[s];
        --remaining;
      }
    }
    if (finished.empty()) return -1;
    done.insert(finished.begin(), finished.end());
    if (round > 100000) return -1;
  }
  return static_cast<int>(done.size());
}

void check_complete(const std::vector<PipeAction>& plan, int chunks, int micro) {
  std::map<std::pair<int, int>, int> fwd, bwd;
  for (size_t i = 0; i < plan.size(); ++i) {
    auto key = std::pair{plan[i].micro, plan[i].chunk};
    if (plan[i].op == PipeOp::kForward) {
      fwd[key]++;
    } else {
      EXPECT_EQ(fwd[key], 1) << "backward before forward of micro " << key.first << " chunk " << key.second;
      bwd[key]++;
    }
  }
  for (int m = 0; m < micro; ++m)
    for (int c = 0; c < chunks; ++c) {
      EXPECT_EQ((fwd[std::pair{m, c}]), 1) << m << " " << c;
      EXPECT_EQ((bwd[std::pair{m, c}]), 1) << m << " " << c;
    }
}

TEST(PipelineSchedule, OneFOneBIsCompleteBoundedAndRuns) {
  for (int S : {1, 2, 4}) {
    for (int M : {1, 3, 4, 8}) {
      std::vector<std::vector<PipeAction>> plans;
      for (int s = 0; s < S; ++s) {
        plans.push_back(schedule_1f1b(S, s, M));
        check_complete(plans.back(), 1, M);
        int in_flight = 0, peak = 0;
        for (const auto& a : plans.back()) {
          in_flight += a.op == PipeOp::kForward ? 1 : -1;
          peak = std::max(peak, in_flight);
        }
        EXPECT_LE(peak, std::min(S - s, M)) << "stage " << s << " of " << S << ", M " << M;
      }
      EXPECT_EQ(simulate(S, 1, M, plans), 2 * S * M) << "S " << S << " M " << M;
    }
  }
  // The textbook shape: last stage alternates from the start, first stage warms up with S-1.
  auto last = schedule_1f1b(4, 3, 4);
  EXPECT_EQ(last[0].op, PipeOp::kForward);
  EXPECT_EQ(last[1].op, PipeOp::kBackward);
  auto first = schedule_1f1b(4, 0, 8);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(first[i].op, PipeOp::kForward) << i;
  EXPECT_EQ(first[4].op, PipeOp::kBackward);
}

TEST(PipelineSchedule, InterleavedIsCompleteAndRuns) {
  for (int S : {2, 4}) {
    for (int chunks : {1, 2, 3}) {
      for (int M : {S, 2 * S, 3 * S}) {
        std::vector<std::vector<PipeAction>> plans;
        for (int s = 0; s < S; ++s) {
          plans.push_back(schedule_interleaved(S, s, chunks, M));
          check_complete(plans.back(), chunks, M);
        }
        EXPECT_EQ(simulate(S, chunks, M, plans), 2 * S * chunks * M) << "S " << S << " chunks " << chunks << " M " << M;
      }
    }
  }
}

TEST(PipelineSchedule, BadArgumentsAreNamed) {
  EXPECT_THROW(schedule_1f1b(2, 2, 4), Error);
  try {
    schedule_interleaved(4, 0, 2, 6);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("6 micro-batches"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace primus::dist
