// NcclComm: the Comm over NCCL for device tensors, built only with PRIMUS_CUDA. It is bootstrapped
// by an MPI group of the same ranks (rank 0's ncclUniqueId is broadcast over it), which it keeps
// for split() and for taking the job down.
#pragma once
#include <memory>

#include "dist/comm.h"

namespace primus::dist {

// Takes the MPI group `bootstrap`; `cuda_device` is the GPU of this process. Collective.
std::unique_ptr<Comm> make_nccl_comm(std::unique_ptr<Comm> bootstrap, int cuda_device);

}  // namespace primus::dist
