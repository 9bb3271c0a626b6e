// Failure handling end to end: mpirun starts test_dist_mpi with one rank made to fail (or hang);
// every process must exit non-zero, with the failed rank named, before `timeout 60` would fire.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct MpiRun {
  int exit_code = -1;
  std::string output;
};

MpiRun run(const std::string& env, const std::string& filter, int np) {
  std::string cmd = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + env + " timeout 60 " +
                    PRIMUS_MPIEXEC + " --oversubscribe --allow-run-as-root -np " + std::to_string(np) + " " +
                    PRIMUS_TEST_DIST_MPI + " --gtest_filter=" + filter + " 2>&1";
  MpiRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

TEST(Failure, FailingRankTakesEveryRankDownAndIsNamed) {
  MpiRun r = run("PRIMUS_FAIL_AT=1:3", "Failure.InjectedFaultTakesDownEveryRank", 3);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "still running after 60 s:\n" << r.output;
  EXPECT_NE(r.output.find("error: rank 1 of 3: injected failure at step 3"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("the injected fault did not fire"), std::string::npos) << r.output;
}

TEST(Failure, StuckRankTripsTheWatchdogOnTheOthers) {
  MpiRun r = run("PRIMUS_TEST_HANG_RANK=1 PRIMUS_COMM_TIMEOUT_S=3", "Failure.StuckRankTripsTheWatchdog", 2);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "still running after 60 s:\n" << r.output;
  EXPECT_NE(r.output.find("error: rank 0 of 2: barrier on a group of 2 did not complete within 3 s"),
            std::string::npos) << r.output;
}

}  // namespace
