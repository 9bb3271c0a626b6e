// A pipeline rank's step: schedule, transfers and activation slots (see pipeline_plan.h).
#include "dist/pipeline_plan.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace primus::dist {

PipelinePlan plan_pipeline(int stages, int stage, int chunks, int micro) {
  const std::vector<PipeAction> schedule =
      chunks == 1 ? schedule_1f1b(stages, stage, micro) : schedule_interleaved(stages, stage, chunks, micro);
  const int V = stages * chunks;
  PipelinePlan plan;
  std::vector<std::vector<bool>> busy(static_cast<size_t>(chunks));   // (chunks, slots in use)
  std::map<std::pair<int, int>, int> slot_of;                        // (micro, chunk) -> slot
  // Pass 1: an activation slot for every forward (freed by its backward).
  std::vector<int> slots;
  for (const PipeAction& a : schedule) {
    int slot = 0;
    if (a.op == PipeOp::kForward) {
      auto& used = busy[static_cast<size_t>(a.chunk)];
      slot = static_cast<int>(std::find(used.begin(), used.end(), false) - used.begin());
      if (slot == static_cast<int>(used.size())) used.push_back(false);
      used[static_cast<size_t>(slot)] = true;
      plan.slots = std::max(plan.slots, static_cast<int>(used.size()));
      slot_of[{a.micro, a.chunk}] = slot;
    } else {
      slot = slot_of.at({a.micro, a.chunk});
      busy[static_cast<size_t>(a.chunk)][static_cast<size_t>(slot)] = false;
    }
    slots.push_back(slot);
  }
  // The transfers of every compute: its input from the previous virtual stage, its output to the next.
  const size_t n = schedule.size();
  std::vector<PipeTransfer> recv(n), send(n);
  for (size_t k = 0; k < n; ++k) {
    const PipeAction& a = schedule[k];
    const int v = a.chunk * stages + stage;
    const bool forward = a.op == PipeOp::kForward;
    const int from = forward ? v - 1 : v + 1, to = forward ? v + 1 : v - 1;   // virtual stages
    const PipeTransfer t{.peer = -1, .gradient = !forward, .micro = a.micro, .chunk = a.chunk, .slot = slots[k]};
    if (from >= 0 && from < V) recv[k] = t, recv[k].peer = from % stages;
    if (to >= 0 && to < V) send[k] = t, send[k].peer = to % stages;
  }
  // Pass 2 (Megatron's batching): the schedule is W warmup forwards, pairs of one forward and one
  // backward, then W cooldown backwards. Each such unit is followed by one exchange holding the
  // unit's sends and the receives of the next unit, all posted together; received data lands in
  // buffers of its own (the runner's), read by the next unit's computes.
  size_t lead = 0;
  while (lead < n && schedule[lead].op == PipeOp::kForward) ++lead;
  const size_t W = lead == n / 2 ? lead : lead - 1;   // all forwards first: no pairs
  std::vector<std::vector<size_t>> units;
  for (size_t k = 0; k < n;) {
    const bool pair = k >= W && k + 1 < n && k < n - W && schedule[k].op == PipeOp::kForward &&
                      schedule[k + 1].op == PipeOp::kBackward;
    units.push_back(pair ? std::vector<size_t>{k, k + 1} : std::vector<size_t>{k});
    k += pair ? 2 : 1;
  }
  auto exchange = [&](const std::vector<size_t>* done, const std::vector<size_t>* next) {
    PipeStep step;
    for (size_t k : done ? *done : std::vector<size_t>{})
      if (send[k].peer >= 0) step.sends.push_back(send[k]);
    for (size_t k : next ? *next : std::vector<size_t>{})
      if (recv[k].peer >= 0) step.recvs.push_back(recv[k]);
    if (!step.sends.empty() || !step.recvs.empty()) plan.steps.push_back(step);
  };
  exchange(nullptr, &units.front());
  for (size_t u = 0; u < units.size(); ++u) {
    for (size_t k : units[u]) plan.steps.push_back({.compute = true, .action = schedule[k], .slot = slots[k], .sends = {}, .recvs = {}});
    exchange(&units[u], u + 1 < units.size() ? &units[u + 1] : nullptr);
  }
  return plan;
}

}  // namespace primus::dist
