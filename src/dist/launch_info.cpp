// Where this process sits, read from the launcher's environment: Open MPI's mpirun
// (OMPI_COMM_WORLD_*), Slurm's srun (SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID), MPICH-style
// PMI_RANK/PMI_SIZE, or nothing (one process). Inside an sbatch script but outside srun the job
// variables are set but the step variables are not, so that shell counts as one process.
#include <cstdlib>
#include <string>

#include "dist/comm.h"

namespace primus::dist {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0) {
    throw Error(fmt::format("environment variable {}={} is not a non-negative integer", name, v),
                "it is set by the launcher (mpirun or srun); unset it when running one process");
  }
  return static_cast<int>(x);
}

bool has_env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo info;
  if (has_env("OMPI_COMM_WORLD_SIZE")) {
    info.launcher = "mpirun";
    info.world_size = env_int("OMPI_COMM_WORLD_SIZE", 1);
    info.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    info.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    info.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (has_env("SLURM_STEP_NUM_TASKS") && has_env("SLURM_PROCID")) {
    info.launcher = "srun";
    info.world_size = env_int("SLURM_STEP_NUM_TASKS", 1);
    info.rank = env_int("SLURM_PROCID", 0);
    info.local_rank = env_int("SLURM_LOCALID", 0);
    int nodes = env_int("SLURM_STEP_NUM_NODES", 1);
    info.local_size = nodes > 0 ? (info.world_size + nodes - 1) / nodes : 1;
  } else if (has_env("PMI_SIZE")) {
    info.launcher = "mpirun";
    info.world_size = env_int("PMI_SIZE", 1);
    info.rank = env_int("PMI_RANK", 0);
    info.local_rank = env_int("MPI_LOCALRANKID", 0);
    info.local_size = env_int("MPI_LOCALNRANKS", 1);
  }
  if (info.world_size < 1 || info.rank >= info.world_size) {
    throw Error(fmt::format("launcher says rank {} of {} processes", info.rank, info.world_size),
                "check the mpirun/srun command line");
  }
  return info;
}

}  // namespace primus::dist
