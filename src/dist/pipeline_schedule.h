// Pipeline-parallel schedules: the order in which one pipeline rank runs forward and backward
// passes of its model chunks over the micro-batches of a step. Pure functions (no execution yet:
// the trainer does not run pipelines so far); tests check them by simulating every stage.
//  - 1F1B (PipeDream-flush): stage s warms up with min(S - s - 1, M) forwards, then alternates one
//    forward and one backward, then drains the backwards; at most S - s activations in flight.
//  - Interleaved 1F1B (Megatron): each rank holds `chunks` model chunks (virtual stages
//    v = chunk * S + s); micro-batches go through in groups of S; M must be a multiple of S.
#pragma once
#include <vector>

namespace primus::dist {

enum class PipeOp { kForward, kBackward };

struct PipeAction {
  PipeOp op = PipeOp::kForward;
  int micro = 0;   // micro-batch index, [0, M)
  int chunk = 0;   // model chunk on this rank, [0, chunks); 0 for plain 1F1B
};

// Throws primus::usage_error for stage outside [0, stages) or micro < 1.
std::vector<PipeAction> schedule_1f1b(int stages, int stage, int micro);
// Throws primus::usage_error unless micro is a positive multiple of stages and chunks >= 1.
std::vector<PipeAction> schedule_interleaved(int stages, int stage, int chunks, int micro);

}  // namespace primus::dist
