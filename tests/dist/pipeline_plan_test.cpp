// Pipeline plans: every rank's steps, run together with rendezvous sends (a send completes only
// when its receive is posted, the worst case of MPI and NCCL) and in-order matching per pair of
// ranks, finish without deadlock, and every receive gets the message it expects (same micro-batch,
// same kind). Slots: at most S - s micro-batches in flight under 1F1B.
#include <gtest/gtest.h>

#include <deque>
#include <tuple>

#include "core/error.h"
#include "dist/pipeline_plan.h"

namespace primus::dist {
namespace {

using Msg = std::tuple<bool, int, int>;   // (gradient, micro, receiving virtual stage)

// Returns "" when every plan runs to the end, else what went wrong.
std::string run_together(int S, int chunks, const std::vector<PipelinePlan>& plans) {
  std::vector<size_t> next(static_cast<size_t>(S), 0);
  std::vector<bool> posted(static_cast<size_t>(S));
  std::vector<int> pending(static_cast<size_t>(S));   // transfers of the posted exchange not yet matched
  std::vector<std::vector<std::deque<std::pair<Msg, int>>>> sends(S, std::vector<std::deque<std::pair<Msg, int>>>(S));
  std::vector<std::vector<std::deque<std::pair<Msg, int>>>> recvs(S, std::vector<std::deque<std::pair<Msg, int>>>(S));
  auto msg_of = [&](const PipeTransfer& t, int rank, bool sending) {
    // Receiving virtual stage: the sender's v +- 1, or the receiver's own v.
    const int v = t.chunk * S + rank;
    const int dest = sending ? (t.gradient ? v - 1 : v + 1) : v;
    return Msg{t.gradient, t.micro, dest};
  };
  for (;;) {
    bool progress = false, all_done = true;
    for (int r = 0; r < S; ++r) {
      const auto& steps = plans[static_cast<size_t>(r)].steps;
      while (next[r] < steps.size() && steps[next[r]].compute) ++next[r], progress = true;
      if (next[r] == steps.size()) continue;
      all_done = false;
      const PipeStep& s = steps[next[r]];
      if (!posted[r]) {
        posted[r] = true;
        progress = true;
        pending[r] = static_cast<int>(s.sends.size() + s.recvs.size());
        for (const PipeTransfer& t : s.sends) sends[r][t.peer].push_back({msg_of(t, r, true), r});
        for (const PipeTransfer& t : s.recvs) recvs[t.peer][r].push_back({msg_of(t, r, false), r});
      }
    }
    // Match the heads of every channel a -> b in order.
    for (int a = 0; a < S; ++a)
      for (int b = 0; b < S; ++b)
        while (!sends[a][b].empty() && !recvs[a][b].empty()) {
          auto [m_send, ra] = sends[a][b].front();
          auto [m_recv, rb] = recvs[a][b].front();
          if (m_send != m_recv)
            return "rank " + std::to_string(b) + " received the wrong message from rank " + std::to_string(a);
          sends[a][b].pop_front();
          recvs[a][b].pop_front();
          --pending[ra];
          --pending[rb];
          progress = true;
        }
    for (int r = 0; r < S; ++r)
      if (posted[r] && pending[r] == 0) posted[r] = false, ++next[r], progress = true;
    if (all_done) return "";
    if (!progress) return "deadlock";
  }
  (void)chunks;
}

TEST(PipelinePlan, EveryLayoutRunsTogetherWithoutDeadlock) {
  for (int S : {2, 3, 4})
    for (int chunks : {1, 2, 3})
      for (int k : {1, 2, 3}) {
        const int M = chunks == 1 ? k + S - 2 : k * S;   // 1F1B also with fewer micro-batches than stages
        std::vector<PipelinePlan> plans;
        for (int s = 0; s < S; ++s) plans.push_back(plan_pipeline(S, s, chunks, M));
        EXPECT_EQ(run_together(S, chunks, plans), "") << "S=" << S << " chunks=" << chunks << " M=" << M;
        for (int s = 0; s < S && chunks == 1; ++s) EXPECT_EQ(plans[s].slots, std::min(S - s, M)) << s;
        for (int s = 0; s < S; ++s) {
          int computes = 0;
          for (const PipeStep& st : plans[s].steps) computes += st.compute;
          EXPECT_EQ(computes, 2 * M * chunks);
        }
      }
}

TEST(PipelinePlan, WithoutBatchedExchangesNeighboursDeadlock) {
  // The check has teeth: split every exchange into its receives, then its sends, one at a time.
  const int S = 2, M = 4;
  std::vector<PipelinePlan> plans;
  for (int s = 0; s < S; ++s) {
    PipelinePlan p = plan_pipeline(S, s, 1, M), split;
    for (const PipeStep& st : p.steps) {
      if (st.compute) {
        split.steps.push_back(st);
        continue;
      }
      for (const PipeTransfer& t : st.recvs) {
        PipeStep one;
        one.recvs = {t};
        split.steps.push_back(one);
      }
      for (const PipeTransfer& t : st.sends) {
        PipeStep one;
        one.sends = {t};
        split.steps.push_back(one);
      }
    }
    plans.push_back(split);
  }
  EXPECT_EQ(run_together(S, 1, plans), "deadlock");
}

TEST(PipelinePlan, BadLayoutIsAUsageError) {
  EXPECT_THROW(plan_pipeline(2, 0, 2, 3), Error);
}

}  // namespace
}  // namespace primus::dist
