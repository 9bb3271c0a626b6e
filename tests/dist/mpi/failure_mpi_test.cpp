// Failure scenarios, run only when tests/dist/failure_test.cpp launches this binary with the
// matching environment (skipped in the ordinary multi-process runs):
//  - PRIMUS_FAIL_AT=<rank>:<step>: that rank throws inside its gradient sync; run_or_abort must
//    take every rank down naming it.
//  - PRIMUS_TEST_HANG_RANK=<rank>: that rank never joins a collective; the others' watchdog
//    (PRIMUS_COMM_TIMEOUT_S) must abort the job.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "dist/data_parallel.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

TEST(Failure, InjectedFaultTakesDownEveryRank) {
  if (!std::getenv("PRIMUS_FAIL_AT")) GTEST_SKIP() << "launched by failure_test only";
  Comm& w = world();
  run_or_abort(w, [&] {
    DataParallel dp(w);
    std::vector<float> g(16, 1.0f);
    for (int step = 1; step <= 5; ++step) dp.all_reduce_grads(host_tensor(g));
  });
  ADD_FAILURE() << "the injected fault did not fire";
}

TEST(Failure, StuckRankTripsTheWatchdog) {
  const char* hang = std::getenv("PRIMUS_TEST_HANG_RANK");
  if (!hang) GTEST_SKIP() << "launched by failure_test only";
  Comm& w = world();
  if (w.rank() == std::atoi(hang)) {
    std::this_thread::sleep_for(std::chrono::seconds(120));
  } else {
    w.barrier();
  }
  ADD_FAILURE() << "the watchdog did not fire";
}

}  // namespace
}  // namespace primus::dist::testing
