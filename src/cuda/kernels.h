// Launchers of the CUDA kernels: raw device pointers, sizes and a stream; no fmt, no Tensor, so
// that .cu files compile under nvcc. Shapes are checked by the caller (cuda_backend.cpp).
// `dt` is the dtype (fp32 or bf16) of the op's activation and weight arguments; saved statistics
// (mean, rstd, lse, losses), rope tables and optimizer state are always fp32. d* outputs
// accumulate unless noted. Launchers check the launch and throw primus::Error on failure.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace primus::cuda {

// ---- elementwise (elementwise.cu) ----
void fill_launch(void* dst, DType dt, int64_t n, float value, cudaStream_t s);
void convert_launch(void* dst, DType dst_dt, const void* src, DType src_dt, int64_t n, cudaStream_t s);
void scale_launch(void* t, DType dt, int64_t n, float value, cudaStream_t s);
void gelu_forward_launch(void* out, const void* inp, DType dt, int64_t n, cudaStream_t s);
// dinp WRITTEN (gelu_backward and swiglu_backward).
void gelu_backward_launch(void* dinp, const void* dout, const void* inp, DType dt, int64_t n,
                          cudaStream_t s);
// inp (N, 2*FF) = [gate | up]; out (N, FF).
void swiglu_forward_launch(void* out, const void* inp, DType dt, int64_t N, int64_t FF, cudaStream_t s);
void swiglu_backward_launch(void* dinp, const void* dout, const void* inp, DType dt, int64_t N,
                            int64_t FF, cudaStream_t s);
void residual_forward_launch(void* out, const void* a, const void* b, DType dt, int64_t n, cudaStream_t s);
// dst += src (the residual backward, once per non-empty gradient).
void accumulate_launch(void* dst, const void* src, DType dt, int64_t n, cudaStream_t s);
// qkv (B,T,(NH+2*NKV)*HS); cos, sin (T, HS/2) fp32. out may alias inp; the backward WRITES dinp.
void rope_forward_launch(void* out, const void* inp, const float* cos, const float* sin, DType dt,
                         int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s);
void rope_backward_launch(void* dinp, const void* dout, const float* cos, const float* sin, DType dt,
                          int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s);

// ---- initial weights (init_normal.cu) ----
// out (n) fp32: run k (elements [k*per_run, (k+1)*per_run)) is the sequence of Rng normals (two
// draws each, mean 0) that starts from state starts[k]; ceil(n / per_run) runs.
void normal_fill_launch(float* out, const uint64_t* starts, int64_t n, int64_t per_run, float stddev, cudaStream_t s);

// ---- encoder (encoder.cu) ----
// out (N,C) = wte[tokens] + wpe[n % T]; wpe may be null.
void encoder_forward_launch(void* out, const int32_t* tokens, const void* wte, const void* wpe, DType dt,
                            int64_t N, int64_t T, int64_t C, cudaStream_t s);
size_t encoder_backward_workspace_bytes(int64_t N);
// dwte (Vp,C) and dwpe (maxT,C) (may be null) accumulate; deterministic (tokens are sorted).
// grad_dt: dtype of dwte and dwpe (fp32 or dt).
void encoder_backward_launch(void* dwte, void* dwpe, const void* dout, const int32_t* tokens, DType dt,
                             DType grad_dt, int64_t N, int64_t T, int64_t C, void* workspace, size_t workspace_bytes,
                             cudaStream_t s);

// ---- norms (norm.cu) and column reductions (column_sums.cu, declared with their helpers in column_sums.h) ----
void layernorm_forward_launch(void* out, float* mean, float* rstd, const void* inp, const void* weight,
                              const void* bias, DType dt, int64_t N, int64_t C, float eps, cudaStream_t s);
void rmsnorm_forward_launch(void* out, float* rstd, const void* inp, const void* weight, DType dt,
                            int64_t N, int64_t C, float eps, cudaStream_t s);
// res = a + b (may alias a or b), then out = norm(res); mean == null selects RMSNorm.
void residual_norm_forward_launch(void* res, void* out, float* mean, float* rstd, const void* a, const void* b,
                                  const void* weight, const void* bias, DType dt, int64_t N, int64_t C, float eps,
                                  cudaStream_t s);
// Workspace for the column sums of the backward passes (dweight, dbias).
size_t column_sum_workspace_bytes(int64_t N, int64_t C);
// mean == null selects RMSNorm. dweight/dbias may be null; grad_dt is their dtype (fp32 or dt).
void norm_backward_launch(void* dinp, void* dweight, void* dbias, const void* dout, const void* inp,
                          const void* weight, const float* mean, const float* rstd, DType dt, DType grad_dt,
                          int64_t N, int64_t C, float* workspace, cudaStream_t s);
// dbias (C, grad_dt) += sum over rows of dout (N,C).
void bias_backward_launch(void* dbias, const void* dout, DType dt, DType grad_dt, int64_t N, int64_t C,
                          float* workspace, cudaStream_t s);

// ---- attention (attention.cu) ----
bool attention_supports_head_size(int64_t HS);
// Bytes of the workspace attention_backward_launch needs (fp32 dq accumulator and D).
size_t attention_backward_workspace_bytes(int64_t B, int64_t T, int64_t NH, int64_t HS);
// PRIMUS_ATTENTION_LEGACY=1: the earlier tensor-core kernels (for comparisons), read once.
bool attention_legacy_kernels();
void attention_forward_launch(void* out, float* lse, const void* qkv, DType dt, int64_t B, int64_t T,
                              int64_t NH, int64_t NKV, int64_t HS, cudaStream_t s);
void attention_backward_launch(void* dqkv, const void* dout, const void* qkv, const void* out,
                               const float* lse, DType dt, int64_t B, int64_t T, int64_t NH,
                               int64_t NKV, int64_t HS, void* workspace, cudaStream_t s);

// Tensor-core variants (attention_forward_mma.cu, attention_backward_mma.cu): bf16, HS 64 or 128,
// 16-byte aligned pointers; the launchers above pick them when they apply.
void attention_forward_mma_launch(void* out, float* lse, const void* qkv, int64_t B, int64_t T, int64_t NH,
                                  int64_t NKV, int64_t HS, cudaStream_t s);
// One-pass backward (attention_backward_onepass.cu): workspace = fp32 dq_acc (B,T,NH,HS) then D
// (B,NH,T), attention_backward_onepass_workspace_bytes long, 16-byte aligned.
size_t attention_backward_onepass_workspace_bytes(int64_t B, int64_t T, int64_t NH, int64_t HS);
void attention_backward_onepass_launch(void* dqkv, const void* dout, const void* qkv, const void* out,
                                       const float* lse, float* workspace, int64_t B, int64_t T, int64_t NH,
                                       int64_t NKV, int64_t HS, cudaStream_t s);
// Hopper kernels (attention_wgmma_forward.cu, attention_wgmma_backward.cu; wgmma, sm_90a): used
// when attention_wgmma_kernels() (compute capability 9.x, PRIMUS_ATTENTION_WGMMA not 0, not legacy).
bool attention_wgmma_device();
bool attention_wgmma_kernels();
void attention_forward_wgmma_launch(void* out, float* lse, const void* qkv, int64_t B, int64_t T, int64_t NH,
                                    int64_t NKV, int64_t HS, cudaStream_t s);
// The one-pass backward's main kernel on wgmma: dq_acc (zeroed) and D as
// attention_backward_onepass_launch prepares them (it calls this one after its prepare kernel).
// Returns true when it also added dq into dqkv (its bulk-reduction dq_acc layout), false when
// the one-pass dq kernel must follow (PRIMUS_ATTENTION_WGMMA_DQ=atomic).
bool attention_backward_wgmma_main_launch(void* dqkv, float* dq_acc, const void* dout, const void* qkv,
                                          const float* lse, const float* D, int64_t B, int64_t T, int64_t NH,
                                          int64_t NKV, int64_t HS, cudaStream_t s);
// D (B,NH,T) fp32 is a workspace the dq kernel fills with rowsum(dout * out).
void attention_backward_mma_launch(void* dqkv, const void* dout, const void* qkv, const void* out, const float* lse,
                                   float* D, int64_t B, int64_t T, int64_t NH, int64_t NKV, int64_t HS,
                                   cudaStream_t s);

// ---- loss and optimizer (loss_optim.cu) ----
void cross_entropy_forward_launch(float* losses, const void* logits, const int32_t* targets, DType dt,
                                  int64_t N, int64_t Vp, int64_t V, int64_t ignore_index, cudaStream_t s);
// dlogits WRITTEN; may alias logits. losses (N) may be null; else the rows' log-sum-exp is
// losses[row] + logits[row, target] (one pass over the row instead of two).
void cross_entropy_backward_launch(void* dlogits, const void* logits, const int32_t* targets, const float* losses,
                                   DType dt,
                                   int64_t N, int64_t Vp, int64_t V, int64_t ignore_index,
                                   float grad_scale, cudaStream_t s);

struct AdamWSegment {
  int64_t offset;
  int64_t size;
  float weight_decay;
  int64_t first_chunk;   // sum of adamw_chunks(size) over the segments before this one
};
struct AdamWHyper {
  float lr, beta1, beta2, eps, grad_scale;
  float bias_correction1, bias_correction2;   // 1 - beta^step
};
// Blocks adamw_launch gives a segment of `size` elements (at least one).
int64_t adamw_chunks(int64_t size);
// segments: device array of n_segments, in increasing first_chunk; total_chunks: the sum of their
// chunks (< 2^31). master may be null (params then hold the fp32 math's result); with master,
// params (fp32 or bf16) receive its cast in the same pass.
void adamw_launch(void* params, DType params_dt, float* master, float* m, float* v, const void* grads,
                  DType grads_dt, const AdamWSegment* segments, int n_segments, int64_t total_chunks,
                  const AdamWHyper& h, cudaStream_t s);
size_t sum_squares_workspace_bytes();
// out (1) fp32 += scale * sum of x (n), deterministic.
void sum_accumulate_launch(float* out, const float* x, int64_t n, float scale, cudaStream_t s);
// out (1) fp32 WRITTEN = sum of squares of x (n), deterministic.
void sum_squares_launch(float* out, const void* x, DType dt, int64_t n, float* workspace, cudaStream_t s);

// ---- vocabulary-parallel embedding and cross-entropy (vocab_shard.cu) ----
// This rank holds vocabulary rows [vb, vb + Vs): wte (Vs,C), logits (N,Vs). See backend.h.
void encoder_shard_forward_launch(void* out, const int32_t* tokens, const void* wte, const void* wpe, DType dt,
                                  int64_t N, int64_t T, int64_t C, int64_t vb, int64_t Vs, cudaStream_t s);
size_t encoder_shard_backward_workspace_bytes(int64_t N);
void encoder_shard_backward_launch(void* dwte, void* dwpe, const void* dout, const int32_t* tokens, DType dt,
                                   DType grad_dt, int64_t N, int64_t T, int64_t C, int64_t vb, int64_t Vs,
                                   void* workspace, size_t workspace_bytes, cudaStream_t s);
void cross_entropy_shard_max_launch(float* row_max, const void* logits, DType dt, int64_t N, int64_t Vs, int64_t vb,
                                    int64_t V, cudaStream_t s);
void cross_entropy_shard_sums_launch(float* sums, const void* logits, const float* row_max, const int32_t* targets,
                                     DType dt, int64_t N, int64_t Vs, int64_t vb, int64_t V, int64_t ignore_index,
                                     cudaStream_t s);
void cross_entropy_shard_backward_launch(void* dlogits, const void* logits, const float* row_max, const float* sum_exp,
                                         const int32_t* targets, DType dt, int64_t N, int64_t Vs, int64_t vb, int64_t V,
                                         int64_t ignore_index, float grad_scale, cudaStream_t s);

}  // namespace primus::cuda
