// 1F1B and interleaved 1F1B schedules (see pipeline_schedule.h).
#include "dist/pipeline_schedule.h"

#include <algorithm>

#include "core/error.h"

namespace primus::dist {

std::vector<PipeAction> schedule_1f1b(int stages, int stage, int micro) {
  if (stages < 1 || stage < 0 || stage >= stages || micro < 1) {
    throw usage_error(fmt::format("no 1F1B schedule for stage {} of {} with {} micro-batches", stage, stages, micro));
  }
  const int warmup = std::min(stages - stage - 1, micro);
  std::vector<PipeAction> out;
  for (int m = 0; m < warmup; ++m) out.push_back({PipeOp::kForward, m, 0});
  for (int i = 0; i < micro - warmup; ++i) {
    out.push_back({PipeOp::kForward, warmup + i, 0});
    out.push_back({PipeOp::kBackward, i, 0});
  }
  for (int m = micro - warmup; m < micro; ++m) out.push_back({PipeOp::kBackward, m, 0});
  return out;
}

std::vector<PipeAction> schedule_interleaved(int stages, int stage, int chunks, int micro) {
  if (stages < 1 || stage < 0 || stage >= stages || chunks < 1 || micro < 1 || micro % stages) {
    throw usage_error(fmt::format("no interleaved schedule for stage {} of {}, {} chunks, {} micro-batches (the "
                                  "micro-batches must be a multiple of the stages)", stage, stages, chunks, micro));
  }
  const int total = micro * chunks;
  // The k-th forward (or backward) of this rank: micro-batches in groups of S, chunk by chunk.
  auto micro_of = [&](int k) { return (k / (stages * chunks)) * stages + k % stages; };
  auto chunk_of = [&](int k, bool forward) {
    int c = (k / stages) % chunks;
    return forward ? c : chunks - 1 - c;
  };
  const int warmup = micro == stages ? total : std::min(total, (stages - stage - 1) * 2 + (chunks - 1) * stages);
  std::vector<PipeAction> out;
  for (int k = 0; k < warmup; ++k) out.push_back({PipeOp::kForward, micro_of(k), chunk_of(k, true)});
  for (int i = 0; i < total - warmup; ++i) {
    out.push_back({PipeOp::kForward, micro_of(warmup + i), chunk_of(warmup + i, true)});
    out.push_back({PipeOp::kBackward, micro_of(i), chunk_of(i, false)});
  }
  for (int k = total - warmup; k < total; ++k) out.push_back({PipeOp::kBackward, micro_of(k), chunk_of(k, false)});
  return out;
}

}  // namespace primus::dist
