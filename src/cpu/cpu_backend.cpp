// Placeholder until the CPU backend lands.
#include "cpu/cpu_backend.h"

#include "core/error.h"

namespace primus::cpu {

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  throw Error("the CPU backend is not implemented yet");
}

}  // namespace primus::cpu
