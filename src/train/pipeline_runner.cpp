// Pipeline-parallel step execution (see pipeline_runner.h).
#include "train/pipeline_runner.h"

#include <fmt/format.h>

#include "core/error.h"

namespace primus::train {

models::ModelShard pipeline_shard(int64_t num_layers, int stages, int stage, int chunks, int micro) {
  const int64_t per = num_layers / (static_cast<int64_t>(stages) * chunks);   // blocks per virtual stage
  models::ModelShard s;
  s.layer_begin = stage * per;
  s.layer_end = (stage + 1) * per;
  s.chunks = chunks;
  s.chunk_stride = static_cast<int64_t>(stages) * per;
  s.activation_slots = dist::plan_pipeline(stages, stage, chunks, micro).slots;
  return s;
}

PipelineRunner::PipelineRunner(models::Model& model, Comm& pipeline, int micro)
    : model_(model), pipeline_(pipeline), micro_(micro) {
  const int S = pipeline.size(), s = pipeline.rank();
  plan_ = dist::plan_pipeline(S, s, model.num_chunks(), micro);
  PRIMUS_CHECK(plan_.slots <= model.shard().activation_slots, "the model has {} activation slots, the plan needs {}",
               model.shard().activation_slots, plan_.slots);
  const bool ends = s == 0 || s == S - 1;
  embedding_ = pipeline.split(ends ? 0 : 1 + s, s);
  Backend& be = model.backend();
  // Connect every pair of stages once, symmetrically, before the schedule's one-sided exchanges:
  // NCCL sets up point-to-point connections lazily at a pair's first transfer, and two ranks
  // meeting there through differently shaped groups (a send and a receive on one side, a lone
  // receive on the other) were seen to fail or stall in that set-up on GPUs.
  {
    Buffer warm = be.alloc(2 * static_cast<size_t>(S) * sizeof(float));
    pipeline.all_to_all(warm.as(DType::kF32, Shape{static_cast<int64_t>(S)}, 0),
                        warm.as(DType::kF32, Shape{static_cast<int64_t>(S)}, static_cast<size_t>(S) * sizeof(float)));
  }
  const Tensor io = model.stage_output_grad();   // (N,C) compute dtype
  const size_t n = static_cast<size_t>(model.num_chunks() * plan_.slots);
  recv_mem_ = be.alloc(2 * n * io.nbytes());
  for (size_t i = 0; i < 2 * n; ++i)
    (i < n ? acts_in_ : grads_in_).push_back(recv_mem_.as(io.dtype, io.shape, i * io.nbytes()));
  norm_mem_ = be.alloc(64);
  norm_ = norm_mem_.as(DType::kF32, {1});
  const size_t BT = static_cast<size_t>(model.batch_size() * model.seq_len());
  inputs_.resize(BT * static_cast<size_t>(micro));
  targets_.resize(BT * static_cast<size_t>(micro));
}

PipelineRunner::~PipelineRunner() = default;

double PipelineRunner::run_step(const NextBatch& next, float loss_scale, int64_t ignore_index) {
  const size_t BT = static_cast<size_t>(model_.batch_size() * model_.seq_len());
  for (int m = 0; m < micro_; ++m) next(inputs_.data() + m * BT, targets_.data() + m * BT);
  Backend& be = model_.backend();
  double loss = 0;
  auto buffer = [&](const dist::PipeTransfer& t) {   // where a received transfer lands
    return (t.gradient ? grads_in_ : acts_in_)[static_cast<size_t>(t.chunk * plan_.slots + t.slot)];
  };
  std::vector<Comm::PeerTensor> sends, recvs;
  for (const dist::PipeStep& st : plan_.steps) {
    if (st.compute) {
      const dist::PipeAction& a = st.action;
      model_.select(a.chunk, st.slot);
      const dist::PipeTransfer mine{.peer = -1, .gradient = a.op == dist::PipeOp::kBackward, .micro = a.micro,
                                    .chunk = a.chunk, .slot = st.slot};
      if (a.op == dist::PipeOp::kForward) {
        if (!model_.chunk_has_embedding(a.chunk)) be.copy(model_.stage_input(), buffer(mine));
        loss += model_.forward(inputs_.data() + a.micro * BT, targets_.data() + a.micro * BT, ignore_index);
      } else {
        if (!model_.chunk_has_head(a.chunk)) be.copy(model_.stage_output_grad(), buffer(mine));
        model_.backward(loss_scale);
      }
      continue;
    }
    sends.clear();
    recvs.clear();
    for (const dist::PipeTransfer& t : st.sends) {
      if (!t.gradient) model_.select(t.chunk, t.slot);   // the activation stays in its slot until backward
      sends.push_back({t.gradient ? model_.stage_input_grad() : model_.stage_output(), t.peer});
    }
    for (const dist::PipeTransfer& t : st.recvs) recvs.push_back({buffer(t), t.peer});
    pipeline_.exchange(sends, recvs);
  }
  return broadcast_from_last(loss / micro_);
}

double PipelineRunner::forward_only(const int32_t* inputs, const int32_t* targets, int64_t ignore_index) {
  const int S = pipeline_.size(), s = pipeline_.rank();
  double loss = 0;
  for (int c = 0; c < model_.num_chunks(); ++c) {   // virtual stages c*S + s in order: one-way traffic
    model_.select(c, 0);
    const int v = c * S + s, V = S * model_.num_chunks();
    if (v > 0) pipeline_.recv(model_.stage_input(), (v - 1) % S);
    loss += model_.forward(inputs, targets, ignore_index);
    if (v < V - 1) pipeline_.send(model_.stage_output(), (v + 1) % S);
  }
  return broadcast_from_last(loss);
}

double PipelineRunner::broadcast_from_last(double x) {
  float v = static_cast<float>(x);   // only the last stage's value is not 0
  pipeline_.broadcast(Tensor{&v, DType::kF32, Shape{1}, DeviceKind::kCPU}, pipeline_.size() - 1);
  return v;
}

void PipelineRunner::sync_tied_grads() {
  const int S = pipeline_.size(), s = pipeline_.rank();
  if (!model_.config().tie_embeddings || S == 1 || (s != 0 && s != S - 1)) return;
  for (int i = 0; i < static_cast<int>(model_.params().size()); ++i) {
    const std::string& name = model_.params()[static_cast<size_t>(i)].name;
    if (name == "wte.weight" || name == "embed.weight") embedding_->all_reduce(model_.grad(i), ReduceOp::kSum);
  }
}

double PipelineRunner::grad_norm_squared(double stage_squared) {
  double tied_squared = 0.0;   // the last stage's copy of a tied embedding: counted on the first stage
  if (const int tied = model_.tied_copy_index(); tied >= 0) {
    model_.backend().grad_norm_squared(norm_, model_.grad(tied));
    float sq = 0;
    model_.backend().copy_to_host(&sq, norm_);
    Comm* tp = model_.shard().tensor;   // a vocabulary-parallel copy: every tensor rank holds rows of it
    if (tp && tp->size() > 1) tp->all_reduce(Tensor{&sq, DType::kF32, Shape{1}, DeviceKind::kCPU}, ReduceOp::kSum);
    tied_squared = sq;
  }
  return sum_over_stages(stage_squared - tied_squared);
}

double PipelineRunner::sum_over_stages(double x) {
  float v = static_cast<float>(x);
  pipeline_.all_reduce(Tensor{&v, DType::kF32, Shape{1}, DeviceKind::kCPU}, ReduceOp::kSum);
  return v;
}

}  // namespace primus::train
