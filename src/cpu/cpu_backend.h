// The CPU backend: the fp32 reference every other backend is checked against.
// GEMMs through OpenBLAS, other loops with OpenMP.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace primus::cpu {

// threads: OpenMP threads for every op, GEMMs included (OpenBLAS itself is set to one thread
// process-wide, and each OpenMP thread calls it on its own block); 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace primus::cpu
