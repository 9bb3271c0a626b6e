// The world communicator factory and the failure guard. MPI is initialized only when a launcher
// started several processes; a lone `primus` run never touches MPI. Under a launcher, MPI must agree
// with the environment about the world size, which catches srun without an MPI plugin.
#include <cstdio>
#include <cstdlib>

#include "dist/comm.h"
#include "dist/mpi_comm.h"
#include "dist/self_comm.h"
#if PRIMUS_WITH_NCCL
#include "dist/nccl_comm.h"
#endif

namespace primus::dist {

double comm_timeout_seconds() {
  const char* v = std::getenv("PRIMUS_COMM_TIMEOUT_S");
  if (!v || !*v) return 600.0;
  char* end = nullptr;
  double s = std::strtod(v, &end);
  if (*end != '\0' || !(s > 0)) {
    throw usage_error(fmt::format("PRIMUS_COMM_TIMEOUT_S={} is not a positive number of seconds", v));
  }
  return s;
}

std::unique_ptr<Comm> make_world_comm(DeviceKind device, int cuda_device) {
  LaunchInfo info = detect_launch();
  double timeout = comm_timeout_seconds();
  if (info.world_size == 1) return std::make_unique<SelfComm>();
  auto runtime = MpiRuntime::acquire();
  auto world = std::make_unique<MpiComm>(MPI_COMM_WORLD, runtime, timeout);
  if (world->size() != info.world_size || world->rank() != info.rank) {
    throw Error(fmt::format("{} started {} processes but MPI sees rank {} of {}", info.launcher,
                            info.world_size, world->rank(), world->size()),
                info.launcher == "srun" ? "run srun with --mpi=pmix (or pmi2), or use mpirun inside the allocation"
                                        : "use the mpirun that matches the MPI primus was built with");
  }
  if (device == DeviceKind::kCPU) return world;
#if PRIMUS_WITH_NCCL
  return make_nccl_comm(std::move(world), cuda_device);
#else
  (void)cuda_device;
  throw usage_error("GPU communication needs NCCL, which this build does not include",
                    "configure with -DPRIMUS_CUDA=ON on a machine with NCCL");
#endif
}

void run_or_abort(Comm& world, const std::function<void()>& body) {
  if (world.size() == 1) {
    body();
    return;
  }
  std::string message, hint;
  try {
    body();
    return;
  } catch (const Error& e) {
    message = e.what();
    hint = e.hint();
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (!hint.empty()) message += "\nhint: " + hint;
  world.abort(message);
}

}  // namespace primus::dist
