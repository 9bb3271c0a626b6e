// The launcher side of communication: where this process sits, the world communicator, the
// watchdog timeout and failure handling. The Comm interface itself is backend/comm.h (models use it
// for tensor parallelism); implementations: mpi_comm.h, nccl_comm.h, self_comm.h.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "backend/comm.h"

namespace primus::dist {

using primus::Comm;
using primus::ReduceOp;

// Where this process sits, as the launcher told it (mpirun, srun, or none).
struct LaunchInfo {
  int rank = 0;             // global rank
  int world_size = 1;
  int local_rank = 0;       // rank on this node (picks the GPU)
  int local_size = 1;
  std::string launcher = "none";   // "mpirun" | "srun" | "none"
};

// Reads OMPI_COMM_WORLD_* (mpirun), PMI_*/SLURM_* (srun) or falls back to a single process.
LaunchInfo detect_launch();

// The world communicator. Under a launcher (world_size > 1 in the environment) MPI is initialized
// here, once; a single process gets a SelfComm and never touches MPI. device kCUDA returns an NCCL
// communicator (unique id broadcast over MPI), only when built with CUDA; `cuda_device` is the GPU.
std::unique_ptr<Comm> make_world_comm(DeviceKind device = DeviceKind::kCPU, int cuda_device = 0);

// Seconds a rank waits in one operation before aborting the job: PRIMUS_COMM_TIMEOUT_S, default 600.
double comm_timeout_seconds();

// Runs body. If it throws and the job has more than one process, prints the error (and hint) naming
// this rank, then world.abort() takes every rank down; with one process the exception propagates.
void run_or_abort(Comm& world, const std::function<void()>& body);

}  // namespace primus::dist
