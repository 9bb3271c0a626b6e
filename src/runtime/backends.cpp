// Backend factory. #if PRIMUS_WITH_CUDA lives here and in CMake only.
#include "runtime/backends.h"

#include <fmt/format.h>

#include "core/error.h"
#include "cpu/cpu_backend.h"
#if PRIMUS_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace primus::runtime {

std::unique_ptr<Backend> make_backend(const std::string& device, int threads) {
  if (device == "cpu") return cpu::make_cpu_backend(threads);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
#if PRIMUS_WITH_CUDA
    int index = device == "cuda" ? 0 : std::stoi(device.substr(5));
    return cuda::make_cuda_backend(index);
#else
    throw usage_error("backend.device is 'cuda' but this primus was built without CUDA",
                      "rebuild with -DPRIMUS_CUDA=ON (scripts/gpu-test.sh does) or set backend.device=cpu");
#endif
  }
  throw usage_error(fmt::format("unknown backend.device '{}'", device), "use cpu or cuda");
}

std::unique_ptr<Backend> make_backend_if_present(const std::string& device, int threads) {
  try {
    return make_backend(device, threads);
  } catch (const Error&) {
    return nullptr;
  }
}

std::vector<std::string> compiled_backends() {
#if PRIMUS_WITH_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

}  // namespace primus::runtime
