// Launch detection from mpirun / srun environments and the single-process path (no MPI at all).
#include <gtest/gtest.h>

#include <cstdlib>

#include "dist/comm.h"

namespace primus::dist {
namespace {

// Sets environment variables for one test and restores the previous values afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old ? std::string(old) : std::string(), old != nullptr});
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had) setenv(it->name.c_str(), it->value.c_str(), 1); else unsetenv(it->name.c_str());
    }
  }

 private:
  struct Saved { std::string name, value; bool had; };
  std::vector<Saved> saved_;
};

void clear_launchers(ScopedEnv& env) {
  for (const char* n : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
                        "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID",
                        "SLURM_STEP_NUM_NODES", "PMI_SIZE", "PMI_RANK"})
    env.set(n, nullptr);
}

TEST(Launch, NoLauncherIsOneProcess) {
  ScopedEnv env;
  clear_launchers(env);
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.world_size, 1);
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.launcher, "none");
  auto world = make_world_comm();
  EXPECT_EQ(world->name(), "self");
  EXPECT_EQ(world->size(), 1);
}

TEST(Launch, OpenMpiEnvironment) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("OMPI_COMM_WORLD_SIZE", "8");
  env.set("OMPI_COMM_WORLD_RANK", "5");
  env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1");
  env.set("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.launcher, "mpirun");
  EXPECT_EQ(info.world_size, 8);
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.local_size, 4);
}

TEST(Launch, SrunEnvironment) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("SLURM_STEP_NUM_TASKS", "16");
  env.set("SLURM_PROCID", "9");
  env.set("SLURM_LOCALID", "1");
  env.set("SLURM_STEP_NUM_NODES", "2");
  LaunchInfo info = detect_launch();
  EXPECT_EQ(info.launcher, "srun");
  EXPECT_EQ(info.world_size, 16);
  EXPECT_EQ(info.rank, 9);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.local_size, 8);
}

TEST(Launch, SbatchShellWithoutSrunIsOneProcess) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("SLURM_PROCID", "0");   // set in the batch script, but no step variables
  EXPECT_EQ(detect_launch().world_size, 1);
}

TEST(Launch, GarbageInTheEnvironmentIsNamed) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("OMPI_COMM_WORLD_SIZE", "two");
  try {
    detect_launch();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("OMPI_COMM_WORLD_SIZE=two"), std::string::npos) << e.what();
  }
}

TEST(Launch, RankOutsideTheWorldIsAnError) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("OMPI_COMM_WORLD_SIZE", "2");
  env.set("OMPI_COMM_WORLD_RANK", "2");
  EXPECT_THROW(detect_launch(), Error);
}

TEST(Launch, BadTimeoutIsAUsageError) {
  ScopedEnv env;
  env.set("PRIMUS_COMM_TIMEOUT_S", "-3");
  try {
    comm_timeout_seconds();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("PRIMUS_COMM_TIMEOUT_S=-3"), std::string::npos);
  }
  env.set("PRIMUS_COMM_TIMEOUT_S", "2.5");
  EXPECT_DOUBLE_EQ(comm_timeout_seconds(), 2.5);
}

TEST(Launch, OneProcessFailureGuardRethrows) {
  ScopedEnv env;
  clear_launchers(env);
  auto world = make_world_comm();
  EXPECT_THROW(run_or_abort(*world, [] { throw Error("boom"); }), Error);
  bool ran = false;
  run_or_abort(*world, [&] { ran = true; });
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace primus::dist
