// Shared by the CPU kernels: when a loop is worth a parallel region, and how column-parallel
// reductions are split.
#pragma once
#include <cstdint>

namespace primus::cpu {

// Below this many elements touched, a loop runs on the calling thread: a parallel region costs
// microseconds on an idle machine and far more when the cores are shared with other processes.
constexpr int64_t kParallelMinWork = int64_t{1} << 18;

// Columns handled by one task of a column-parallel reduction (results do not depend on threads).
constexpr int64_t kColumnChunk = 64;

}  // namespace primus::cpu
