// Collective benchmark: all_reduce, all_gather, reduce_scatter, broadcast, all_to_all and
// send/recv over a message-size sweep, through dist::Comm (MPI on CPU ranks, NCCL on GPUs).
// Sizes follow nccl-tests: the size of all_gather's output and of reduce_scatter's and
// all_to_all's input. Reported: p50 and p95 over iterations of the slowest rank's time,
// algorithm bandwidth (size / time) and bus bandwidth (nccl-tests' factors). Every op is first run
// on a known pattern and its result checked on every rank.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "bench/report.h"
#include "bench/svg_chart.h"

namespace primus {
class Comm;
namespace dist {
using primus::Comm;
}
}

namespace primus::bench {

enum class CollectiveOp { kAllReduce, kAllGather, kReduceScatter, kBroadcast, kAllToAll, kSendRecv };

std::string_view collective_name(CollectiveOp op);             // "all_reduce", ...
CollectiveOp collective_parse(const std::string& name);        // throws primus::usage_error
// nccl-tests' bus-bandwidth factor: 2(n-1)/n for all_reduce, (n-1)/n for gather/scatter/all_to_all, 1 otherwise.
double collective_bus_factor(CollectiveOp op, int world);
// Elements each rank's chunk holds for a message of `bytes` (fp32); 0 when too small for the world.
int64_t collective_chunk_elements(CollectiveOp op, int64_t bytes, int world);

// The value rank r's input holds at element i (small integers: every sum is exact in fp32).
float collective_pattern(int rank, int64_t i);
// Checks `out` on `rank` after op over `world` ranks with chunks of n elements (broadcast root 0;
// send/recv pairs 2k <-> 2k+1, a last odd rank is idle and has nothing to check).
// Returns "" when every element is right, else the first wrong element, its value and the expected one.
std::string collective_check(CollectiveOp op, int rank, int world, int64_t n, std::span<const float> out);

struct CollectiveSweep {
  std::vector<CollectiveOp> ops;
  std::vector<int64_t> sizes;   // bytes
  int warmup = 2, iters = 10;
};

// Collective over comm's ranks; memory from backend (device memory for NCCL). Rank 0's report has
// every row; a wrong result makes its "check" column "WRONG" (and wrong_results counts them).
Report collective_report(const CollectiveSweep& sweep, dist::Comm& comm, Backend& backend, int* wrong_results);
Chart collective_chart(const Report& report);

}  // namespace primus::bench
