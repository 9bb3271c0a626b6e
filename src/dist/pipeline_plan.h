// What one pipeline rank executes in a step: its schedule (1F1B or interleaved, see
// pipeline_schedule.h) with the transfers between stages put in, and an activation slot for every
// (micro-batch, chunk) in flight. Forward of virtual stage v receives its input from v-1 and sends
// its output to v+1; backward receives d(output) from v+1 and sends d(input) to v-1. A send that
// Transfers go in batches (Comm::exchange, as Megatron's batched p2p): after each unit of the
// schedule (a warmup forward, a forward-backward pair, a cooldown backward) its sends and the next
// unit's receives are posted together, so neighbours sending to each other cannot deadlock; tests
// simulate every rank's plan with rendezvous (blocking) sends and in-order matching.
#pragma once
#include <vector>

#include "dist/pipeline_schedule.h"

namespace primus::dist {

// One message: an activation (forward) or a gradient (backward) of `micro`, from / into the
// activation slot `slot` of this rank's `chunk`.
struct PipeTransfer {
  int peer = -1;          // pipeline rank; -1: none
  bool gradient = false;
  int micro = 0, chunk = 0, slot = 0;
};

struct PipeStep {
  bool compute = false;   // compute `action` in `slot`; else one exchange of every transfer below
  PipeAction action;
  int slot = 0;
  std::vector<PipeTransfer> sends, recvs;
};

struct PipelinePlan {
  std::vector<PipeStep> steps;
  int slots = 1;          // activation slots per chunk: the most micro-batches in flight in one chunk
};

// chunks == 1: 1F1B; chunks > 1: interleaved (micro a multiple of stages). Throws usage_error
// like the schedules.
PipelinePlan plan_pipeline(int stages, int stage, int chunks, int micro);

}  // namespace primus::dist
