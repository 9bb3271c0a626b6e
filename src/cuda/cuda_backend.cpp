// Placeholder until the CUDA backend lands.
#include "cuda/cuda_backend.h"

#include "core/error.h"

namespace primus::cuda {

std::unique_ptr<Backend> make_cuda_backend(int index) {
  throw Error("the CUDA backend is not implemented yet");
}

}  // namespace primus::cuda
