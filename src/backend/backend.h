// The Backend interface: memory plus one entry point per op, identical on every backend.
// Conventions (every backend implements exactly these semantics; tests/cpu is the reference):
//  - Arguments: outputs first, then inputs, then scalars. Shapes in comments use B, T, C, V, Vp,
//    NH, NKV, HS, FF, N (= B*T rows).
//  - Every backward output named d* ACCUMULATES (+=) into what is there, except where noted.
//  - Tensors are contiguous, row-major. Activations are fp32 on the CPU; a backend that supports
//    bf16 accepts bf16 activations/weights wherever supports(op, kBF16) is true.
//  - Mixed precision: parameter-gradient outputs (matmul dweight/dbias, norm dweight/dbias,
//    encoder dwte/dwpe) may be fp32 while the op's activations and weights are bf16; the op then
//    accumulates its fp32-computed gradient straight into the fp32 buffer (no bf16 rounding, no
//    staging copy). They may also share the activations' dtype. Activation gradients (dinp, dout,
//    dqkv, ...) always have the activations' dtype.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"

namespace primus {

enum class Op {
  kEncoder, kLayerNorm, kRmsNorm, kMatmul, kRope, kAttention, kGelu, kSwiglu, kResidual,
  kCrossEntropy, kAdamW, kGradNorm, kConvert,
};

// A contiguous range of the flat parameter buffer that shares one weight decay.
struct ParamSegment {
  int64_t offset = 0;   // in elements
  int64_t size = 0;     // in elements
  float weight_decay = 0.0f;
};

struct AdamWArgs {
  float lr = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  int64_t step = 1;          // 1-based, for bias correction
  float grad_scale = 1.0f;   // gradients are multiplied by this first (clipping, loss scaling)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;             // "cpu", "cuda:0"
  virtual DeviceKind device() const = 0;
  virtual bool supports(Op op, DType dtype) const = 0;   // asked for every op before step 0

  // ---- memory ----
  virtual Buffer alloc(size_t bytes) = 0;                // zero-filled
  virtual void copy_from_host(Tensor dst, const void* src) = 0;   // dst.nbytes() bytes
  virtual void copy_to_host(void* dst, Tensor src) = 0;
  virtual void copy(Tensor dst, Tensor src) = 0;                  // same dtype and numel
  virtual void fill(Tensor dst, float value) = 0;
  virtual void convert(Tensor dst, Tensor src) = 0;       // dtype cast (fp32 <-> bf16), same numel
  // dst (n) fp32 = the next n Rng(rng_state).normal(0, stddev) values, in order (initial weights).
  // A device draws them itself from Rng::run_starts(); its logf/cosf may differ from the host's by
  // an ulp or two.
  virtual void fill_normal(Tensor dst, uint64_t rng_state, float stddev) = 0;
  virtual void synchronize() = 0;
  // The stream ops are queued on, as an opaque handle (cudaStream_t on CUDA; null on the host), so
  // communicators can order collectives after the work that produced their tensors.
  virtual void* native_stream() { return nullptr; }
  virtual size_t peak_memory_bytes() const = 0;           // high-water mark of alloc() so far

  // ---- ops ----
  // out (B,T,C) = wte[tokens] + wpe[t]; wpe may be empty (RoPE models). tokens int32 (B,T).
  virtual void encoder_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe) = 0;
  // dwte (Vp,C), dwpe (maxT,C) (may be empty) accumulate from dout (B,T,C).
  virtual void encoder_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens) = 0;

  // out (N,C); mean, rstd (N) fp32 saved for backward.
  virtual void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight,
                                 Tensor bias, float eps) = 0;
  virtual void layernorm_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp,
                                  Tensor weight, Tensor mean, Tensor rstd) = 0;
  // out (N,C); rstd (N) fp32 saved for backward.
  virtual void rmsnorm_forward(Tensor out, Tensor rstd, Tensor inp, Tensor weight, float eps) = 0;
  virtual void rmsnorm_backward(Tensor dinp, Tensor dweight, Tensor dout, Tensor inp, Tensor weight,
                                Tensor rstd) = 0;

  // Linear layer: out (N,OC) = inp (N,C) @ weight(OC,C)^T + bias (OC); bias may be empty.
  virtual void matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias) = 0;
  // dinp (N,C), dweight (OC,C), dbias (OC) accumulate; any of them may be empty (not needed).
  // accumulate_dinp = false WRITES dinp instead (no need to zero it first; on CUDA the GEMM then
  // does not read it either).
  virtual void matmul_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp,
                               Tensor weight, bool accumulate_dinp = true) = 0;
  // Linear + GELU (tanh) in one: pre (N,OC) = inp @ weight^T + bias (kept for gelu_backward) and
  // out (N,OC) = gelu(pre). Backends may fuse it (CUDA: a cuBLASLt epilogue); the default runs both.
  virtual void matmul_gelu_forward(Tensor out, Tensor pre, Tensor inp, Tensor weight, Tensor bias) {
    matmul_forward(pre, inp, weight, bias);
    gelu_forward(out, pre);
  }
  // fp8 GEMM in the forward layout (benchmarks; not used by models): out (N,OC) bf16 =
  // (inp_scale * inp (N,C)) @ (weight_scale * weight (OC,C))^T; inp, weight E4M3 bytes (kU8);
  // inp_scale, weight_scale (1) fp32 per-tensor scales in backend memory.
  // fp8_matmul_unavailable() is empty where it runs, else says why (naming the device).
  virtual std::string fp8_matmul_unavailable() const { return std::string(name()) + " has no fp8 (E4M3) GEMM"; }
  virtual void matmul_fp8_forward(Tensor out, Tensor inp, Tensor weight, Tensor inp_scale, Tensor weight_scale) {
    throw Error(fp8_matmul_unavailable(), "fp8 GEMMs need an NVIDIA GPU of compute capability 8.9 or newer");
  }

  // Rotary embedding, rotate-half convention (Hugging Face Llama: element i pairs with i+HS/2 in
  // each head, so HF q_proj/k_proj weights load unpermuted), on the q and k parts of packed qkv (B,T,(NH+2*NKV)*HS); v is copied through.
  // cos, sin (T,HS/2) fp32 tables for positions [0,T) (built by models/rope.h); out may alias inp.
  virtual void rope_forward(Tensor out, Tensor inp, Tensor cos, Tensor sin, int64_t NH, int64_t NKV) = 0;
  // dinp is WRITTEN (not accumulated) = the inverse rotation of dout (v part passed through).
  virtual void rope_backward(Tensor dinp, Tensor dout, Tensor cos, Tensor sin, int64_t NH, int64_t NKV) = 0;

  // Causal self-attention with grouped-query heads over packed qkv (B,T,(NH+2*NKV)*HS) laid out
  // [q heads | k heads | v heads] per token. out (B,T,NH*HS); lse (B,NH,T) fp32 log-sum-exp of
  // each softmax row, saved for backward. Scale 1/sqrt(HS).
  virtual void attention_forward(Tensor out, Tensor lse, Tensor qkv, int64_t NH, int64_t NKV) = 0;
  // dqkv (B,T,(NH+2*NKV)*HS) accumulates.
  virtual void attention_backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor lse,
                                  int64_t NH, int64_t NKV) = 0;

  // GELU, tanh approximation. out, inp (N). dinp is WRITTEN (not accumulated): its producer is
  // the only one, so the models need not zero it first.
  virtual void gelu_forward(Tensor out, Tensor inp) = 0;
  virtual void gelu_backward(Tensor dinp, Tensor dout, Tensor inp) = 0;
  // Backward through the GELU in front of a linear layer, out (N,OC) = gelu(pre) (N,C) @ weight^T +
  // bias (the MLP projection after matmul_gelu_forward): dpre (N,C) WRITTEN = gelu'(pre) * (dout @
  // weight); dweight, dbias accumulate as in matmul_backward; act = gelu(pre), the linear's input.
  // dact (N,C) is scratch for dout @ weight (contents undefined afterwards). Backends may fuse it
  // (CUDA: cuBLASLt's DGELU epilogue reads pre); the default runs matmul_backward + gelu_backward.
  virtual void gelu_matmul_backward(Tensor dpre, Tensor dact, Tensor dweight, Tensor dbias, Tensor dout,
                                    Tensor act, Tensor pre, Tensor weight) {
    matmul_backward(dact, dweight, dbias, dout, act, weight, /*accumulate_dinp=*/false);
    gelu_backward(dpre, dact, pre);
  }
  // SwiGLU: inp (N,2*FF) = [gate | up] per row; out (N,FF) = silu(gate) * up. dinp is WRITTEN.
  virtual void swiglu_forward(Tensor out, Tensor inp) = 0;
  virtual void swiglu_backward(Tensor dinp, Tensor dout, Tensor inp) = 0;
  // out = a + b, all the same shape. out may alias a or b.
  virtual void residual_forward(Tensor out, Tensor a, Tensor b) = 0;
  // Fused residual + norm: res (N,C) = a + b (res may alias a or b), then out (N,C) = norm(res)
  // saving mean, rstd (N) fp32 as the norm's forward does; mean empty selects RMSNorm (no bias).
  // Its backward is the norm's backward (dinp accumulates into the residual gradient). Backends may
  // fuse it (CUDA: one kernel, res read back from registers' rounding); the default runs both ops.
  virtual void residual_norm_forward(Tensor res, Tensor out, Tensor mean, Tensor rstd, Tensor a, Tensor b,
                                     Tensor weight, Tensor bias, float eps) {
    residual_forward(res, a, b);
    if (mean.empty()) {
      rmsnorm_forward(out, rstd, res, weight, eps);
    } else {
      layernorm_forward(out, mean, rstd, res, weight, bias, eps);
    }
  }
  // da += dout; db += dout (either may be empty).
  virtual void residual_backward(Tensor da, Tensor db, Tensor dout) = 0;

  // Softmax cross-entropy over logits (N,Vp), of which only the first V columns are real.
  // losses (N) fp32 per-row loss (0 where target == ignore_index). targets int32 (N).
  virtual void cross_entropy_forward(Tensor losses, Tensor logits, Tensor targets, int64_t V,
                                     int64_t ignore_index) = 0;
  // dlogits (N,Vp) is WRITTEN (not accumulated) = grad_scale * (softmax - onehot) on real columns,
  // 0 on padded columns and ignored rows. dlogits may alias logits (the classifier's in-place trick).
  // losses (N) fp32, optional: what cross_entropy_forward wrote for these logits and targets; a
  // backend may rebuild each row's log-sum-exp from it (loss + logit[target]) instead of a second
  // pass over the row (CUDA does).
  virtual void cross_entropy_backward(Tensor dlogits, Tensor logits, Tensor targets, int64_t V,
                                      int64_t ignore_index, float grad_scale, Tensor losses = {}) = 0;

  // ---- vocabulary-parallel embedding and cross-entropy (tensor parallelism) ----
  // This rank holds rows [vocab_begin, vocab_begin + Vs) of the padded vocabulary: wte (Vs,C),
  // logits (N,Vs) (columns >= V of the full vocabulary are padding).
  // out (B,T,C) WRITTEN = (token in this rank's rows ? wte[token - vocab_begin] : 0) + wpe[t]; wpe
  // may be empty. The caller sums out over the tensor group.
  virtual void encoder_shard_forward(Tensor out, Tensor tokens, Tensor wte, Tensor wpe, int64_t vocab_begin) = 0;
  // dwte (Vs,C) accumulates the rows of this rank's tokens; dwpe (maxT,C) (may be empty) every position.
  virtual void encoder_shard_backward(Tensor dwte, Tensor dwpe, Tensor dout, Tensor tokens, int64_t vocab_begin) = 0;
  // row_max (N) fp32 WRITTEN = max of each row over this rank's real columns (-inf if none); the
  // caller then takes the max over the tensor group.
  virtual void cross_entropy_shard_max(Tensor row_max, Tensor logits, int64_t vocab_begin, int64_t V) = 0;
  // sums (2,N) fp32 WRITTEN: [0] = sum over real columns of exp(logit - row_max), [1] = the target's
  // logit if this rank holds it, else 0 (also for ignored rows). The caller sums over the group;
  // then loss = log(sums[0]) + row_max - sums[1].
  virtual void cross_entropy_shard_sums(Tensor sums, Tensor logits, Tensor row_max, Tensor targets,
                                        int64_t vocab_begin, int64_t V, int64_t ignore_index) = 0;
  // dlogits (N,Vs) WRITTEN = grad_scale * (exp(logit - row_max) / sum_exp - onehot) on real columns,
  // 0 on padding and ignored rows; row_max, sum_exp (N) are the group-wide values. May alias logits.
  virtual void cross_entropy_shard_backward(Tensor dlogits, Tensor logits, Tensor row_max, Tensor sum_exp,
                                            Tensor targets, int64_t vocab_begin, int64_t V, int64_t ignore_index,
                                            float grad_scale) = 0;

  // AdamW with decoupled weight decay over the segments of flat buffers (P): params, grads, m, v.
  // master (P) fp32 may be empty; when present it is updated and params receive its cast.
  virtual void adamw_update(Tensor params, Tensor master, Tensor m, Tensor v, Tensor grads,
                            std::span<const ParamSegment> segments, const AdamWArgs& args) = 0;
  // out (1) fp32 WRITTEN = sum of squares of grads (any dtype), accumulated in fp32.
  virtual void grad_norm_squared(Tensor out, Tensor grads) = 0;
  // t *= s in place.
  virtual void scale(Tensor t, float s) = 0;
  // out (1) fp32 += scale * sum of inp (n) fp32, summed in a fixed order: a loss that stays on the
  // device across micro-batches (read once per step).
  virtual void sum_accumulate(Tensor out, Tensor inp, float scale) = 0;

  // ---- graphs: record a static sequence of ops once, replay it many times (CUDA graphs) ----
  // Between graph_begin() and graph_end() ops are recorded, not run: no alloc(), no copy_to_host(),
  // no synchronize(), and copy_from_host() only from alloc_host() memory (its address is recorded;
  // its contents are read at each replay). Size every workspace with one eager run first.
  virtual bool supports_graphs() const { return false; }
  virtual void graph_begin() {
    throw Error(std::string(name()) + " cannot record graphs", "set backend.cuda_graphs=false");
  }
  virtual void graph_end() {}
  // false (nothing run) when there is no recorded graph, e.g. after the backend dropped it because
  // a workspace the graph used had to move: record again.
  virtual bool graph_replay() { return false; }
  virtual void graph_reset() {}      // drops the recorded graph
  // Host memory for copy_from_host() sources (pinned on a GPU), zero-filled.
  virtual Buffer alloc_host(size_t bytes) {
    void* p = std::calloc(std::max<size_t>(bytes, 1), 1);
    if (!p) throw Error("out of host memory", "use a smaller micro-batch");
    return Buffer(p, bytes, DeviceKind::kCPU, [](void* q) { std::free(q); });
  }
};

}  // namespace primus
