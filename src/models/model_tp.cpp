// Tensor and sequence parallelism inside Model (Megatron-LM's layout, see model.h ModelShard):
// this rank's widths, the collectives around the column-/row-parallel linears, the
// vocabulary-parallel embedding and cross-entropy (the full logits are never gathered), the
// sequence-parallel norm-gradient sum and the gradient norm of the full model.
// Sequence parallel splits the residual stream's N = B*T rows into tp contiguous chunks: norms and
// residuals are row-wise, so any row split is exact; attention sees all rows after the all-gather.
#include <cmath>
#include <fmt/format.h>

#include "core/error.h"
#include "models/arena.h"
#include "models/model.h"
#include "models/shard.h"

namespace primus::models {

Model::LocalDims Model::local_dims() const {
  const ModelDims& d = dims_;
  LocalDims ld;
  ld.tp = shard_.tp_size();
  ld.rank = shard_.tp_rank();
  ld.sp = shard_.sequence_parallel && ld.tp > 1;
  const int64_t N = B_ * T_;
  if (ld.tp > 1 && (d.NH % ld.tp || d.NKV % ld.tp || d.FF % ld.tp || d.Vp % ld.tp))
    throw usage_error(fmt::format("tensor parallel size {} must divide the attention heads {}, KV heads {}, FFN "
                                  "size {} and padded vocabulary {}", ld.tp, d.NH, d.NKV, d.FF, d.Vp),
                      "choose parallel.tensor accordingly");
  if (ld.sp && N % ld.tp != 0)
    throw usage_error(fmt::format("sequence parallelism splits the {} x {} = {} rows of a micro-batch over {} "
                                  "tensor-parallel ranks: not divisible", B_, T_, N, ld.tp),
                      "make train.seq_len a multiple of parallel.tensor");
  ld.NH = d.NH / ld.tp;
  ld.NKV = d.NKV / ld.tp;
  ld.A = ld.NH * d.HS;
  ld.QKV = (ld.NH + 2 * ld.NKV) * d.HS;
  ld.FF = d.FF / ld.tp;
  ld.FC = d.llama ? 2 * ld.FF : ld.FF;
  ld.Vs = d.Vp / ld.tp;
  ld.vocab_begin = ld.rank * ld.Vs;
  ld.rows = ld.sp ? N / ld.tp : N;
  return ld;
}

void Model::plan_tp(ArenaPlan& plan) {
  const int64_t N = B_ * T_;
  if (ld_.sp) {
    plan.add(&seq_full_, compute_, {N, dims_.C});
    plan.add(&seq_partial_, compute_, {N, dims_.C});
  }
  plan.add(&ce_max_, DType::kF32, {N});
  plan.add(&ce_sums_, DType::kF32, {2, N});
  plan.add(&grad_sq_, DType::kF32, {static_cast<int64_t>(infos_.size())});
}

Tensor Model::gather_rows(Tensor local) {
  if (!ld_.sp) return local;
  shard_.tensor->all_gather(seq_full_.view({seq_full_.numel()}), local.view({local.numel()}));
  return seq_full_;
}

Tensor Model::row_partial(Tensor out) { return ld_.sp ? seq_partial_ : out; }

void Model::reduce_rows(Tensor out, Tensor partial) {
  if (ld_.sp) {
    shard_.tensor->reduce_scatter(out.view({out.numel()}), partial.view({partial.numel()}), ReduceOp::kSum);
  } else if (ld_.tp > 1) {
    shard_.tensor->all_reduce(out.view({out.numel()}), ReduceOp::kSum);
  }
}

Tensor Model::row_bias(int index) { return ld_.rank == 0 ? p(index) : Tensor{}; }

void Model::copy_from_full(int index, std::span<const float> full) {
  const ParamInfo& info = infos_.at(static_cast<size_t>(index));
  if (!info.slice.split()) {
    backend_.copy_from_host(param(index), full.data());
    return;
  }
  std::vector<float> local(static_cast<size_t>(info.shape.numel()));   // (shape)
  shard_extract(local, full, info);
  backend_.copy_from_host(param(index), local.data());
}

void Model::encoder_forward_tp() {
  // Each rank looks up the tokens of its vocabulary rows (others give 0); rank 0 adds the
  // positions; the sum over the group is the embedding (SP: each rank keeps its rows of it).
  Tensor partial = row_partial(encoded_);  // (N,C)
  backend_.encoder_shard_forward(partial.view({B_, T_, dims_.C}), tokens_, p(emb_), row_bias(pos_), ld_.vocab_begin);
  reduce_rows(encoded_, partial);
}

void Model::encoder_backward_tp() {
  Tensor dout = gather_rows(scratch_.dres);  // (N,C) the full gradient on every rank
  backend_.encoder_shard_backward(g(emb_), g(pos_), dout.view({B_, T_, dims_.C}), tokens_, ld_.vocab_begin);
}

void Model::head_forward_tp() {
  const int64_t N = B_ * T_;
  backend_.matmul_forward(logits_.view({N, ld_.Vs}), gather_rows(normf_), p(head_), Tensor{});
}

void Model::cross_entropy_stats_tp() {
  const int64_t N = B_ * T_;
  Tensor logits = logits_.view({N, ld_.Vs});
  backend_.cross_entropy_shard_max(ce_max_, logits, ld_.vocab_begin, dims_.V);
  shard_.tensor->all_reduce(ce_max_, ReduceOp::kMax);
  backend_.cross_entropy_shard_sums(ce_sums_, logits, ce_max_, targets_, ld_.vocab_begin, dims_.V, ignore_index_);
  shard_.tensor->all_reduce(ce_sums_.view({2 * N}), ReduceOp::kSum);
}

void Model::cross_entropy_forward_tp(const int32_t* targets) {
  const auto N = static_cast<size_t>(B_ * T_);
  cross_entropy_stats_tp();
  std::vector<float> mx(N), sums(2 * N), losses(N);   // (N), (2,N), (N)
  backend_.copy_to_host(mx.data(), ce_max_);
  backend_.copy_to_host(sums.data(), ce_sums_);
  for (size_t i = 0; i < N; ++i)
    losses[i] = targets[i] == ignore_index_ ? 0.0f : std::log(sums[i]) + mx[i] - sums[N + i];
  backend_.copy_from_host(losses_, losses.data());
}

void Model::head_backward_tp(float grad_scale) {
  const int64_t N = B_ * T_;
  // The statistics are recomputed from this slot's logits: a pipeline may run other forwards in between.
  cross_entropy_stats_tp();
  Tensor dlogits = logits_.view({N, ld_.Vs});  // in place over the logits
  backend_.cross_entropy_shard_backward(dlogits, dlogits, ce_max_, ce_sums_.slice(0, {N}), targets_, ld_.vocab_begin,
                                        dims_.V, ignore_index_, grad_scale);
  Tensor dnorm = row_partial(scratch_.dnorm);  // (N,C)
  backend_.matmul_backward(dnorm, g(head_), Tensor{}, dlogits, gather_rows(normf_), p(head_), /*accumulate_dinp=*/false);
  reduce_rows(scratch_.dnorm, dnorm);
}

void Model::reduce_tp_grads() {
  if (!ld_.sp) return;
  for (size_t i = 0; i < infos_.size(); ++i)
    if (infos_[i].is_norm) shard_.tensor->all_reduce(grad(static_cast<int>(i)), ReduceOp::kSum);
}

double Model::grad_norm_squared_tp() {
  PRIMUS_CHECK(ld_.tp > 1, "grad_norm_squared_tp() without tensor parallelism");
  const auto n = static_cast<int64_t>(infos_.size());
  for (int64_t i = 0; i < n; ++i) backend_.grad_norm_squared(grad_sq_.slice(i, {1}), grad(static_cast<int>(i)));
  std::vector<float> sq(static_cast<size_t>(n));   // (params)
  backend_.copy_to_host(sq.data(), grad_sq_);
  double split = 0.0, replicated = 0.0;
  for (int64_t i = 0; i < n; ++i) (infos_[i].slice.split() ? split : replicated) += sq[i];
  float split_sum = static_cast<float>(split);
  shard_.tensor->all_reduce(Tensor{&split_sum, DType::kF32, Shape{1}, DeviceKind::kCPU}, ReduceOp::kSum);
  return static_cast<double>(split_sum) + replicated;
}

}  // namespace primus::models
