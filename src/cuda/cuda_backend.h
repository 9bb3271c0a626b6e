// The CUDA backend: every op of the Backend interface on an NVIDIA GPU (Hopper first),
// bf16 mixed precision, cuBLASLt GEMMs. Built only with -DPRIMUS_CUDA=ON.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace primus::cuda {

// Opens device `index`; throws primus::Error naming it when no such GPU is present.
std::unique_ptr<Backend> make_cuda_backend(int index = 0);

}  // namespace primus::cuda
