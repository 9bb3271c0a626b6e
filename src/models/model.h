// GPT-2 and Llama decoder-only models as single-device code over Backend& ops: one flat parameter
// buffer, one flat gradient buffer, activations planned up front for a fixed micro-batch (B,T).
// Contract: backward() ACCUMULATES into grads_buffer(); call zero_grads() between optimizer steps.
// Compute dtype bf16 (mixed precision): params_buffer()/grads_buffer() stay fp32 (master weights,
// what optimizers and checkpoints see); forward casts them to a bf16 copy, activations are bf16, and
// backward's ops accumulate parameter gradients straight into the fp32 grads_buffer().
// logits() holds the last forward's logits until backward(), which overwrites them with dlogits.
// Hugging Face names/layouts (GPT2LMHeadModel, LlamaForCausalLM) come from hf_tensors().
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/comm.h"
#include "config/experiment.h"

namespace primus::models {

// The part of a full-model tensor that this rank holds under tensor parallelism: the local tensor
// is the concatenation, along `dim` of the full tensor, of the half-open `ranges`, in this order
// (the fused QKV of a rank is [its q heads | its k heads | its v heads]: three ranges of rows).
// No ranges: the whole tensor, replicated on every tensor-parallel rank.
struct ShardSlice {
  int dim = 0;                                       // 0: rows, 1: columns (of a 2-D tensor)
  std::vector<std::pair<int64_t, int64_t>> ranges;   // [begin, end) along dim of the full tensor
  bool split() const { return !ranges.empty(); }
};

// One named parameter tensor inside the flat parameter buffer.
struct ParamInfo {
  std::string name;        // full-model name, e.g. "h.3.attn.qkv.weight" (the same on every rank)
  Shape shape;             // our layout, e.g. (3*C, C) for the fused QKV linear (out, in); this rank's slice under TP
  int64_t offset = 0;      // element offset in the flat buffer
  bool decay = true;       // weight decay applies (false for norms, biases, embeddings by default; OptimConfig flags override)
  bool is_embedding = false, is_norm = false, is_bias = false;
  Shape full_shape;        // shape in the full model (== shape when not split)
  ShardSlice slice;        // which part of the full tensor this rank holds
};

// How one Hugging Face tensor maps onto our parameters (for safetensors export/import).
struct HfTensor {
  std::string hf_name;     // e.g. "transformer.h.0.attn.c_attn.weight" or "model.layers.0.self_attn.q_proj.weight"
  int param_index;         // index into Model::params()
  int64_t row_begin, row_end;  // rows [begin,end) of our parameter (dim 0) that form this tensor (fused qkv / gate_up split)
  bool transpose;          // GPT-2's Conv1D stores (in, out): transpose our (out, in) rows
  Shape hf_shape;          // shape as stored in the safetensors file
};

// Dimensions derived from a ModelConfig (defaults resolved: NKV = NH when 0, FF, Vp).
struct ModelDims {
  bool llama = false;      // arch == "llama" (rmsnorm, RoPE, SwiGLU, GQA); else GPT-2
  int64_t L = 0, C = 0, NH = 0, NKV = 0, HS = 0, FF = 0, V = 0, Vp = 0, maxT = 0;
  int64_t qkv_dim() const { return (NH + 2 * NKV) * HS; }  // rows of the fused QKV linear
};

// Resolves and checks the model shape; throws primus::usage_error listing every problem.
ModelDims model_dims(const config::ModelConfig& cfg);
// The parameter layout without allocating anything (preflight memory projection uses it too).
// With tp_size > 1: the slices of tensor-parallel rank tp_rank (see ModelShard), full names kept.
std::vector<ParamInfo> plan_params(const config::ModelConfig& cfg, int tp_size = 1, int tp_rank = 0);
// Parameters as Hugging Face counts them: V (not Vp) embedding rows, a tied head counted once,
// position embeddings included (gpt2-124m: 124,439,808).
int64_t count_params_hf(const config::ModelConfig& cfg);
// The MFU formula (ANCHORS.md): 6 * params (V rows, no position embeddings) + 12 * L * NH * HS * T.
double flops_per_token(const config::ModelConfig& cfg, int64_t T);

// The Hugging Face tensors of the whole model, param_index into plan_params(cfg) (the full layout
// a checkpoint gathers any layout into; model_stage.cpp).
std::vector<HfTensor> hf_tensors_full(const config::ModelConfig& cfg);

// Where this model sits in a parallel layout; the default is the whole model on one device.
//  - Tensor parallel (Megatron): query and KV heads, FFN columns and the padded vocabulary are split
//    over the `tensor` group; this rank's parameters are its slices (column-parallel QKV and
//    fc/gate_up, row-parallel attention and MLP projections, vocabulary-parallel embedding, head and
//    cross-entropy). `sequence_parallel` also splits the norm/residual regions along T.
//  - Pipeline parallel: this model holds blocks [layer_begin, layer_end) of the full model; the
//    chunk with layer_begin == 0 holds the embeddings, the one ending at L the final norm and the
//    head (a tied head keeps its own copy of the embedding, synchronized by the trainer).
struct ModelShard {
  Comm* tensor = nullptr;          // tensor-parallel group; null or size 1: no tensor parallelism
  bool sequence_parallel = false;
  int64_t layer_begin = 0;
  int64_t layer_end = -1;          // -1: through the last block
  // Interleaved pipeline: chunk c holds blocks [layer_begin + c*chunk_stride, layer_end + c*chunk_stride).
  int chunks = 1;
  int64_t chunk_stride = 0;
  int activation_slots = 1;        // micro-batches in flight per chunk (one set of activations each)
  int tp_size() const { return tensor ? tensor->size() : 1; }
  int tp_rank() const { return tensor ? tensor->rank() : 0; }
};

// Activation recompute (Megatron's meaning), model_recompute.cpp. kSelective: the norms' outputs
// and the MLP activation (gelu/swiglu output) are recomputed in backward from what blocks keep;
// kFull: a block keeps only its output and reruns its forward before its backward.
enum class Recompute { kNone, kSelective, kFull };
// "none" | "selective" | "full" (config backend.recompute); throws usage_error otherwise.
Recompute parse_recompute(const std::string& name);

class Model {
 public:
  // Plans parameters, gradients and activations for micro-batch B, sequence T, compute dtype (fp32 on CPU).
  Model(const config::ModelConfig& cfg, Backend& backend, int64_t B, int64_t T, DType compute = DType::kF32,
        const ModelShard& shard = {}, Recompute recompute = Recompute::kNone);
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const config::ModelConfig& config() const { return cfg_; }
  const ModelDims& dims() const { return dims_; }
  const ModelShard& shard() const { return shard_; }
  Backend& backend() const { return backend_; }
  int64_t batch_size() const { return B_; }
  int64_t seq_len() const { return T_; }
  std::span<const ParamInfo> params() const { return infos_; }
  std::vector<HfTensor> hf_tensors() const;          // GPT2LMHeadModel / LlamaForCausalLM names & layouts
  nlohmann::json hf_config() const;                  // transformers config.json content
  // (P) flat, backend memory (fp32 master on CPU). Asking for it (or for param()) marks the bf16
  // compute copy stale: the caller may write the parameters, and the next forward recasts them.
  // Write through the returned tensor before that forward (or ask again after it).
  Tensor params_buffer() {
    cparams_current_ = false;
    return params_;
  }
  // bf16 compute mode: the (P) bf16 copy of params_buffer() that forward() reads; empty in fp32.
  Tensor compute_params_buffer() { return cparams_; }
  // The caller has just written compute_params_buffer() as the cast of params_buffer() (AdamW does
  // both in one pass): forwards skip their cast until params_buffer() or param() is asked for again.
  // A recorded graph of forwards (train/step_graph) holds no cast when recorded after this call.
  void compute_params_written() { cparams_current_ = compute_ != DType::kF32; }
  Tensor grads_buffer() { return grads_; }           // (P) flat
  Tensor param(int index);                           // view of one parameter in params_buffer()
  Tensor grad(int index);                            // view of one parameter's gradient
  int64_t num_params() const { return num_params_; } // P: elements of the flat buffer (Vp rows)
  void init_weights(uint64_t seed);                  // GPT-2 style: normal(0, init_std), residual projections scaled by 1/sqrt(2L)
  // inputs, targets: host int32 (B,T) (targets may hold ignore_index). Returns mean loss over non-ignored targets.
  // If targets is null, only logits are computed (inference) and 0 is returned.
  float forward(const int32_t* inputs, const int32_t* targets, int64_t ignore_index = -100);
  // The training forward without a host synchronisation: loss_sum (1) fp32 on the backend +=
  // weight * mean loss. Inputs and targets from Backend::alloc_host memory may be recorded in a
  // graph (model_step.cpp).
  void forward_accumulate(const int32_t* inputs, const int32_t* targets, Tensor loss_sum, float weight,
                          int64_t ignore_index = -100);
  // Non-ignored targets of a micro-batch (what scales its gradients); throws for ids outside [0, V).
  int64_t count_targets(const int32_t* targets, int64_t ignore_index) const;
  // Accumulates parameter gradients (grads_buffer +=) of loss * loss_scale (e.g. 1/grad_accum_steps). Call after forward.
  void backward(float loss_scale = 1.0f);
  void zero_grads();
  // Called during backward() as soon as grads_buffer()[offset, offset + size) holds its final value
  // for this backward: the final norm and an untied head first, then each block from the last, then
  // the embeddings (a tied head with them). A backward reports each parameter it touches exactly
  // once (one model chunk: all of [0, P)). Data parallelism starts bucket all-reduces from it.
  using GradReadyHook = std::function<void(int64_t offset, int64_t size)>;
  void set_grad_ready_hook(GradReadyHook hook) { grad_ready_ = std::move(hook); }
  // Tensor parallel (model_tp.cpp). Collective over the tensor group, once per optimizer step after
  // the last backward and before the data-parallel sync: with sequence parallelism, sums the norms'
  // weight and bias gradients (each rank's come from its own rows) over the group; else a no-op.
  void reduce_tp_grads();
  // Collective over the tensor group: the squared L2 norm of grads_buffer() as the full model's
  // (split parameters summed over the group, replicated ones counted once).
  double grad_norm_squared_tp();
  Tensor logits() { return logits_; }  // (B,T,Vp) compute dtype, of the last forward (valid until backward)
  // No-cache inference: logits (V) after the last of tokens (1 <= size <= T), from a full forward of
  // row 0 padded to T (causal attention makes the padding irrelevant).
  std::vector<float> forward_last_logits(std::span<const int32_t> tokens);
  double flops_per_token() const { return models::flops_per_token(cfg_, T_); }
  size_t activation_bytes() const { return activation_bytes_; }

  // Pipeline stages (model_stage.cpp). forward()/backward() run on the current chunk and activation
  // slot. A chunk without the embedding reads its input from stage_input() (filled by the caller)
  // and ignores `inputs`; a chunk without the head ignores `targets`, returns 0, and its backward
  // starts from stage_output_grad() (filled by the caller); after the backward of a chunk without
  // the embedding, stage_input_grad() holds d(input).
  void select(int chunk, int slot);
  int num_chunks() const { return shard_.chunks; }
  bool chunk_has_embedding(int chunk) const { return chunk_begin(chunk) == 0; }
  bool chunk_has_head(int chunk) const { return chunk_begin(chunk) + layers_per_chunk_ == dims_.L; }
  Tensor stage_input() { return encoded_; }                    // (N,C)
  Tensor stage_output();                                      // (N,C) last block's output
  Tensor stage_output_grad() { return scratch_.dres; }        // (N,C)
  Tensor stage_input_grad() { return scratch_.dres; }         // (N,C)
  // A last stage's own copy of the tied embedding (-1 when there is none): the trainer keeps it
  // equal to the first stage's by summing their gradients.
  int tied_copy_index() const;

 private:
  friend class InferenceSession;
  // Indices into infos_ for one block; -1 where the architecture has no such tensor.
  struct LayerParams {
    int norm1_w = -1, norm1_b = -1, qkv_w = -1, qkv_b = -1, attn_proj_w = -1, attn_proj_b = -1;
    int norm2_w = -1, norm2_b = -1, fc_w = -1, fc_b = -1, proj_w = -1, proj_b = -1;
  };
  // Activations of one block, kept for backward (N = B*T rows).
  struct LayerActs {
    Tensor norm1, norm1_mean, norm1_rstd;  // (N,C), (N), (N); mean only for layernorm
    Tensor qkv;                            // (B,T,QKV), after RoPE for llama
    Tensor atty, lse;                      // (B,T,NH*HS), (B,NH,T)
    Tensor res1;                           // (N,C) = x + attention branch
    Tensor norm2, norm2_mean, norm2_rstd;  // (N,C), (N), (N)
    Tensor fch, fch_act;                   // (N,FF) gelu input or (N,2*FF) [gate|up]; (N,FF)
    Tensor res2;                           // (N,C) = res1 + MLP branch: the block's output
  };
  // Backward scratch shared by every block.
  struct Scratch {
    Tensor dres;                // (N,C) gradient of the residual stream, flows down the blocks
    Tensor dnorm;               // (N,C)
    Tensor dqkv, dqkv_rot;      // (B,T,QKV) before / after RoPE
    Tensor datty;               // (B,T,NH*HS)
    Tensor dfch, dfch_act;      // (N,FF or 2*FF), (N,FF)
  };
  // View of parameter `index` in the compute dtype (the fp32 buffer in fp32 mode, the bf16 copy
  // otherwise); g: its fp32 gradient, which the ops accumulate into directly. Empty where index < 0.
  Tensor p(int index);
  Tensor g(int index);
  void check_backend_support() const;
  void plan_activations();
  // Tensor parallel (model_tp.cpp). This rank's widths; the full ones when tp == 1.
  struct LocalDims {
    int tp = 1, rank = 0;
    bool sp = false;   // sequence parallel: the residual stream (norms, residuals) holds N/tp rows
    int64_t NH = 0, NKV = 0, A = 0, QKV = 0, FF = 0, FC = 0;   // heads, NH*HS, qkv rows, FFN, fc rows
    int64_t Vs = 0, vocab_begin = 0;                            // vocabulary rows [vocab_begin, +Vs)
    int64_t rows = 0;                                           // rows of the residual stream
  };
  LocalDims local_dims() const;
  void plan_tp(class ArenaPlan& plan);
  // local (rows,C) -> (N,C): all-gathered under SP, else local itself.
  Tensor gather_rows(Tensor local);
  // Where a row-parallel linear writes its partial sums: out itself, or (N,C) scratch under SP.
  Tensor row_partial(Tensor out);
  // out (rows,C) = sum over the tensor group of partial: all-reduce, or reduce-scatter under SP.
  void reduce_rows(Tensor out, Tensor partial);
  Tensor row_bias(int index);   // a row-parallel linear's replicated bias: added by tensor rank 0 only
  void copy_from_full(int index, std::span<const float> full);   // this rank's part of a full tensor
  void encoder_forward_tp();
  void encoder_backward_tp();
  void head_forward_tp();
  void cross_entropy_stats_tp();   // ce_max_, ce_sums_ of logits_ over the whole vocabulary
  void cross_entropy_forward_tp(const int32_t* targets);   // losses_
  void head_backward_tp(float grad_scale);                 // scratch_.dnorm = d normf_
  // Activations of one micro-batch in one chunk (the views select() installs).
  struct Slot {
    Tensor tokens, targets, encoded, normf, normf_mean, normf_rstd, logits, losses;
    std::vector<LayerActs> acts;     // (layers per chunk)
    int64_t valid_targets = 0, ignore_index = -100;
    bool have_targets = false;
  };
  int64_t chunk_begin(int chunk) const { return shard_.layer_begin + chunk * shard_.chunk_stride; }
  int64_t global_layer(int64_t h) const {   // held block index -> model layer
    return chunk_begin(static_cast<int>(h / layers_per_chunk_)) + h % layers_per_chunk_;
  }
  void plan_stage();                 // resolves the shard's layer range and filters infos_
  void forward_block(int64_t l, Tensor x);
  void backward_block(int64_t l, Tensor x);
  // The gradients of these parameters (indices into infos_, -1 skipped) are final for this
  // backward: calls the hook once per contiguous run of them.
  void grads_ready(std::initializer_list<int> params);
  void block_grads_ready(int64_t l);
  std::function<Tensor*(const Tensor*)> recompute_sharing();   // for ArenaPlan::shared
  void recompute_block(int64_t l, Tensor x);                    // before backward_block's work

  config::ModelConfig cfg_;
  ModelDims dims_;
  ModelShard shard_;
  Backend& backend_;
  int64_t B_, T_;
  DType compute_;
  Recompute recompute_ = Recompute::kNone;
  std::vector<ParamInfo> infos_;
  std::vector<LayerParams> layer_params_;   // (held blocks: chunks x layers per chunk), see global_layer()
  int emb_ = -1, pos_ = -1, normf_w_ = -1, normf_b_ = -1, head_ = -1;  // head_ == emb_ when tied
  int64_t num_params_ = 0;
  GradReadyHook grad_ready_;
  Buffer params_mem_, grads_mem_, acts_mem_;
  Tensor params_, grads_;            // (P) flat fp32: master weights and accumulated gradients
  // bf16 compute mode only: params_ cast by forward unless current. Gradients stay fp32 (grads_) in every mode.
  Buffer compute_mem_;
  Tensor cparams_;                   // (P) bf16
  bool cparams_current_ = false;     // cparams_ == cast(params_): forward skips the cast
  Tensor logits_row_;                // (Vp) fp32 staging for forward_last_logits
  size_t activation_bytes_ = 0;
  Tensor tokens_, targets_;          // (B,T) int32, backend memory
  Tensor rope_cos_, rope_sin_;       // (T,HS/2), llama only
  Tensor encoded_;                   // (N,C)
  std::vector<LayerActs> acts_;      // (held blocks): the current slot's views for the current chunk
  std::vector<Slot> slots_;          // (chunks * activation_slots)
  int64_t layers_per_chunk_ = 0;
  int chunk_ = 0, slot_ = 0;         // current
  Tensor normf_, normf_mean_, normf_rstd_;  // (N,C), (N), (N)
  Tensor logits_;                    // (B,T,Vp)
  Tensor losses_;                    // (N)
  Scratch scratch_;
  LocalDims ld_;
  Tensor seq_full_, seq_partial_;    // (N,C) sequence-parallel gather / partial-sum scratch
  Tensor ce_max_, ce_sums_;          // (N), (2,N) fp32 vocabulary-parallel softmax statistics
  Tensor grad_sq_;                   // (params) fp32 per-parameter sums of squares
  int64_t valid_targets_ = 0;        // non-ignored targets of the last forward
  Tensor loss_sum_;                  // (1) fp32 during forward_accumulate, else empty
  float loss_weight_ = 1.0f;
  int64_t ignore_index_ = -100;
  bool have_targets_ = false;
};

}  // namespace primus::models
