// The parity table: every Backend op, odd shapes, for one dtype. Backward ops run after their
// forward op in the same case, so saved statistics are the backend's own. Parameter gradients
// (dweight, dbias, dwte, dwpe) are fp32 in most cases (mixed precision), the case's dtype in a few.
#include <cmath>
#include <string>
#include <vector>

#include "parity.h"

namespace primus::parity {
namespace {

using Ts = std::vector<Tensor>;

void add(std::vector<Case>& cases, DType dt, std::string name, std::vector<Arg> args, OpFn op) {
  cases.push_back(Case{name + (dt == DType::kBF16 ? "_bf16" : "_f32"), dt, std::move(args), std::move(op)});
}

void memory_and_pointwise(std::vector<Case>& c, DType dt) {
  add(c, dt, "fill_copy", {out("filled", {37, 3}), out("copied", {111}), in("src", {111})},
      [](Backend& be, Ts& t) { be.fill(t[0], 1.5f); be.copy(t[1], t[2]); });
  add(c, dt, "convert", {out("to_act", {131}), f32in("src", {131}), stat("to_f32", {131})},
      [](Backend& be, Ts& t) { be.convert(t[0], t[1]); be.convert(t[2], t[0]); });
  add(c, dt, "scale", {acc("t", {1031})}, [](Backend& be, Ts& t) { be.scale(t[0], 0.37f); });
  // GELU and SwiGLU backward write dinp. 16-byte packs with a tail of one element (3 x 347), whole
  // packs only (5 x 1000, FF = 264), and odd FF (29: one element a thread).
  for (Shape s : {Shape{3, 347}, Shape{5, 1000}})
    add(c, dt, "gelu_" + std::to_string(s.numel()), {out("out", s), in("inp", s, randn(s.numel(), 31, 3.0f)),
        out("dinp", s), in("dout", s)},
        [](Backend& be, Ts& t) { be.gelu_forward(t[0], t[1]); be.gelu_backward(t[2], t[3], t[1]); });
  for (int64_t FF : {29, 264})
    add(c, dt, "swiglu_ff" + std::to_string(FF),
        {out("out", {37, FF}), in("inp", {37, 2 * FF}, randn(37 * 2 * FF, 32, 3.0f)), out("dinp", {37, 2 * FF}),
         in("dout", {37, FF})},
        [](Backend& be, Ts& t) { be.swiglu_forward(t[0], t[1]); be.swiglu_backward(t[2], t[3], t[1]); });
  add(c, dt, "residual",
      {out("out", {5, 77}), in("a", {5, 77}), in("b", {5, 77}), acc("da", {5, 77}), acc("db", {5, 77}),
       in("dout", {5, 77})},
      [](Backend& be, Ts& t) { be.residual_forward(t[0], t[1], t[2]); be.residual_backward(t[3], t[4], t[5]); });
  add(c, dt, "residual_inplace_one_grad", {acc("a", {301}), in("b", {301}), acc("db", {301}), in("dout", {301})},
      [](Backend& be, Ts& t) { be.residual_forward(t[0], t[0], t[1]); be.residual_backward(Tensor{}, t[2], t[3]); });
  add(c, dt, "residual_packs", {out("out", {8, 96}), in("a", {8, 96}), in("b", {8, 96}), acc("da", {8, 96}),
       in("dout", {8, 96})},
      [](Backend& be, Ts& t) { be.residual_forward(t[0], t[1], t[2]); be.residual_backward(t[3], Tensor{}, t[4]); });
  add(c, dt, "fill_packs_zero", {out("filled", {1027}), out("zeroed", {333})},
      [](Backend& be, Ts& t) { be.fill(t[0], -2.25f); be.fill(t[1], 0.0f); });
  add(c, dt, "convert_packs", {out("to_act", {4099}), f32in("src", {4099}), stat("to_f32", {4099})},
      [](Backend& be, Ts& t) { be.convert(t[0], t[1]); be.convert(t[2], t[0]); });
}

void encoder(std::vector<Case>& c, DType dt) {
  const int64_t B = 3, T = 7, C = 67, Vp = 53, maxT = 9;
  add(c, dt, "encoder",
      {out("out", {B, T, C}), i32in("tokens", {B, T}, ints(B * T, 50, 7)), in("wte", {Vp, C}), in("wpe", {maxT, C}),
       f32acc("dwte", {Vp, C}), f32acc("dwpe", {maxT, C}), in("dout", {B, T, C})},
      [](Backend& be, Ts& t) { be.encoder_forward(t[0], t[1], t[2], t[3]); be.encoder_backward(t[4], t[5], t[6], t[1]); });
  // Few distinct tokens: long runs of repeats in the backward's sorted order; no position table.
  add(c, dt, "encoder_repeats_no_wpe",
      {out("out", {4, 33, 40}), i32in("tokens", {4, 33}, ints(4 * 33, 3, 8)), in("wte", {5, 40}), f32acc("dwte", {5, 40}),
       in("dout", {4, 33, 40})},
      [](Backend& be, Ts& t) { be.encoder_forward(t[0], t[1], t[2], Tensor{}); be.encoder_backward(t[3], Tensor{}, t[4], t[1]); });
}

void norms(std::vector<Case>& c, DType dt) {
  const int64_t N = 111, C = 67;
  add(c, dt, "layernorm",
      {out("out", {3, 37, C}), stat("mean", {N}), stat("rstd", {N}), in("inp", {3, 37, C}), in("weight", {C}),
       in("bias", {C}), acc("dinp", {3, 37, C}), f32acc("dweight", {C}), f32acc("dbias", {C}), in("dout", {3, 37, C})},
      [](Backend& be, Ts& t) {
        be.layernorm_forward(t[0], t[1], t[2], t[3], t[4], t[5], 1e-5f);
        be.layernorm_backward(t[6], t[7], t[8], t[9], t[3], t[4], t[1], t[2]);
      });
  add(c, dt, "layernorm_wide",
      {out("out", {9, 1100}), stat("mean", {9}), stat("rstd", {9}), in("inp", {9, 1100}), in("weight", {1100}),
       in("bias", {1100}), acc("dinp", {9, 1100}), acc("dweight", {1100}), acc("dbias", {1100}), in("dout", {9, 1100})},
      [](Backend& be, Ts& t) {
        be.layernorm_forward(t[0], t[1], t[2], t[3], t[4], t[5], 1e-5f);
        be.layernorm_backward(t[6], t[7], t[8], t[9], t[3], t[4], t[1], t[2]);
      });
  add(c, dt, "rmsnorm",
      {out("out", {N, C}), stat("rstd", {N}), in("inp", {N, C}), in("weight", {C}), acc("dinp", {N, C}),
       f32acc("dweight", {C}), in("dout", {N, C})},
      [](Backend& be, Ts& t) {
        be.rmsnorm_forward(t[0], t[1], t[2], t[3], 1e-6f);
        be.rmsnorm_backward(t[4], t[5], t[6], t[2], t[3], t[1]);
      });
}

// Fused residual + norm, in place over b as the models use it (res1 = x + res1).
void residual_norms(std::vector<Case>& c, DType dt) {
  const int64_t N = 111, C = 67;
  add(c, dt, "residual_layernorm_inplace",
      {in("a", {N, C}), acc("res", {N, C}), out("out", {N, C}), stat("mean", {N}), stat("rstd", {N}),
       in("weight", {C}), in("bias", {C})},
      [](Backend& be, Ts& t) { be.residual_norm_forward(t[1], t[2], t[3], t[4], t[0], t[1], t[5], t[6], 1e-5f); });
  add(c, dt, "residual_rmsnorm",
      {out("res", {9, 1100}), out("out", {9, 1100}), stat("rstd", {9}), in("a", {9, 1100}), in("b", {9, 1100}),
       in("weight", {1100})},
      [](Backend& be, Ts& t) { be.residual_norm_forward(t[0], t[1], Tensor{}, t[2], t[3], t[4], t[5], Tensor{}, 1e-6f); });
}

void matmuls(std::vector<Case>& c, DType dt) {
  struct Dims { const char* name; int64_t N, C, OC; bool bias; };
  for (Dims d : {Dims{"matmul_odd", 111, 67, 45, true}, Dims{"matmul_aligned", 128, 64, 96, true},
                 Dims{"matmul_nobias", 70, 48, 200, false}}) {
    add(c, dt, d.name,
        {out("out", {d.N, d.OC}), in("inp", {d.N, d.C}), in("weight", {d.OC, d.C}),
         d.bias ? in("bias", {d.OC}) : none("bias"), acc("dinp", {d.N, d.C}), f32acc("dweight", {d.OC, d.C}),
         d.bias ? f32acc("dbias", {d.OC}) : none("dbias"), in("dout", {d.N, d.OC})},
        [](Backend& be, Ts& t) {
          be.matmul_forward(t[0], t[1], t[2], t[3]);
          be.matmul_backward(t[4], t[5], t[6], t[7], t[1], t[2]);
        });
  }
  for (Dims d : {Dims{"matmul_gelu_odd", 37, 40, 45, true}, Dims{"matmul_gelu_aligned", 128, 64, 192, true},
                 Dims{"matmul_gelu_nobias", 64, 32, 96, false}}) {
    add(c, dt, d.name,
        {out("out", {d.N, d.OC}), out("pre", {d.N, d.OC}), in("inp", {d.N, d.C}), in("weight", {d.OC, d.C}),
         d.bias ? in("bias", {d.OC}) : none("bias")},
        [](Backend& be, Ts& t) { be.matmul_gelu_forward(t[0], t[1], t[2], t[3], t[4]); });
  }
  // The GELU in front of a linear layer: dpre written (CUDA: cuBLASLt DGELU epilogue where C is a
  // multiple of 8, else GEMM + gelu_backward); dact is scratch (an input here: not compared).
  for (Dims d : {Dims{"gelu_matmul_backward_aligned", 128, 64, 96, true},
                 Dims{"gelu_matmul_backward_odd", 37, 45, 40, true}, Dims{"gelu_matmul_backward_nobias", 64, 192, 32, false}}) {
    add(c, dt, d.name,
        {in("pre", {d.N, d.C}, randn(d.N * d.C, 33, 2.0f)), out("act", {d.N, d.C}), in("weight", {d.OC, d.C}),
         out("dpre", {d.N, d.C}), in("dact", {d.N, d.C}), f32acc("dweight", {d.OC, d.C}),
         d.bias ? f32acc("dbias", {d.OC}) : none("dbias"), in("dout", {d.N, d.OC})},
        [](Backend& be, Ts& t) {
          be.gelu_forward(t[1], t[0]);
          be.gelu_matmul_backward(t[3], t[4], t[5], t[6], t[7], t[1], t[0], t[2]);
        });
  }
  // dinp written (accumulate_dinp = false): poisoned first, so a GEMM that read it would fail.
  add(c, dt, "matmul_backward_write_dinp",
      {in("inp", {70, 48}), in("weight", {96, 48}), out("dinp", {70, 48}), f32acc("dweight", {96, 48}),
       f32acc("dbias", {96}), in("dout", {70, 96})},
      [](Backend& be, Ts& t) { be.matmul_backward(t[2], t[3], t[4], t[5], t[0], t[1], /*accumulate_dinp=*/false); });
  // Parameter gradients in the activations' dtype (the other cases accumulate them in fp32, as the
  // models do); layernorm_wide does the same for the norms.
  add(c, dt, "matmul_backward_dweight_only",
      {in("inp", {37, 24}), in("weight", {16, 24}), acc("dweight", {16, 24}), in("dout", {37, 16})},
      [](Backend& be, Ts& t) { be.matmul_backward(Tensor{}, t[2], Tensor{}, t[3], t[0], t[1]); });
}

void rope_and_attention(std::vector<Case>& c, DType dt) {
  {
    const int64_t B = 2, T = 11, NH = 4, NKV = 2, HS = 16, W = (NH + 2 * NKV) * HS;
    auto [cs, sn] = rope_tables(T, HS);
    add(c, dt, "rope",
        {out("out", {B, T, W}), in("inp", {B, T, W}), f32in("cos", {T, HS / 2}, cs), f32in("sin", {T, HS / 2}, sn),
         out("dinp", {B, T, W}), in("dout", {B, T, W})},
        [](Backend& be, Ts& t) {
          be.rope_forward(t[0], t[1], t[2], t[3], 4, 2);
          be.rope_backward(t[4], t[5], t[2], t[3], 4, 2);
        });
    add(c, dt, "rope_inplace", {acc("qkv", {B, T, W}), f32in("cos", {T, HS / 2}, cs), f32in("sin", {T, HS / 2}, sn)},
        [](Backend& be, Ts& t) { be.rope_forward(t[0], t[0], t[1], t[2], 4, 2); });
  }
  {  // HS 64: four pairs a thread (packed loads of the tables too)
    const int64_t B = 2, T = 13, NH = 4, NKV = 2, HS = 64, W = (NH + 2 * NKV) * HS;
    auto [cs, sn] = rope_tables(T, HS);
    add(c, dt, "rope_hs64",
        {out("out", {B, T, W}), in("inp", {B, T, W}), f32in("cos", {T, HS / 2}, cs), f32in("sin", {T, HS / 2}, sn),
         out("dinp", {B, T, W}), in("dout", {B, T, W})},
        [](Backend& be, Ts& t) {
          be.rope_forward(t[0], t[1], t[2], t[3], 4, 2);
          be.rope_backward(t[4], t[5], t[2], t[3], 4, 2);
        });
    add(c, dt, "rope_hs64_inplace", {acc("qkv", {B, T, W}), f32in("cos", {T, HS / 2}, cs), f32in("sin", {T, HS / 2}, sn)},
        [](Backend& be, Ts& t) { be.rope_forward(t[0], t[0], t[1], t[2], 4, 2); });
  }
  struct Dims { const char* name; int64_t B, T, NH, NKV, HS; };
  for (Dims d : {Dims{"attention_gqa_hs64", 2, 37, 4, 2, 64}, Dims{"attention_mha_hs128", 1, 70, 2, 2, 128},
                 Dims{"attention_mqa_hs64", 2, 33, 3, 1, 64}, Dims{"attention_gqa_hs128_t1", 3, 1, 4, 1, 128},
                 Dims{"attention_gqa_hs64_long", 1, 200, 4, 2, 64}, Dims{"attention_gqa_hs128_long", 1, 150, 4, 2, 128},
                 Dims{"attention_tiny_hs16", 2, 45, 4, 2, 16}, Dims{"attention_hs48", 1, 40, 2, 1, 48},
                 Dims{"attention_hs80", 1, 35, 2, 2, 80}, Dims{"attention_hs256", 1, 20, 1, 1, 256},
                 // GQA ratios 4 and 8, odd T over several 64-key and 128-query tiles (masked and unmasked)
                 Dims{"attention_gqa4_hs128_long", 2, 261, 8, 2, 128}, Dims{"attention_gqa8_hs64_long", 2, 333, 8, 1, 64},
                 Dims{"attention_gqa4_hs64_t65", 1, 65, 4, 1, 64}, Dims{"attention_gqa8_hs128_t127", 1, 127, 8, 1, 128},
                 // T a multiple of the 64-row tiles (no rows past T)
                 Dims{"attention_gqa2_hs64_t256", 2, 256, 4, 2, 64}, Dims{"attention_gqa2_hs128_t192", 1, 192, 4, 2, 128}}) {
    const int64_t W = (d.NH + 2 * d.NKV) * d.HS;
    add(c, dt, d.name,
        {out("out", {d.B, d.T, d.NH * d.HS}), stat("lse", {d.B, d.NH, d.T}), in("qkv", {d.B, d.T, W}),
         acc("dqkv", {d.B, d.T, W}), in("dout", {d.B, d.T, d.NH * d.HS})},
        [NH = d.NH, NKV = d.NKV](Backend& be, Ts& t) {
          be.attention_forward(t[0], t[1], t[2], NH, NKV);
          be.attention_backward(t[3], t[4], t[2], t[0], t[1], NH, NKV);
        });
  }
}

void loss_and_optimizer(std::vector<Case>& c, DType dt) {
  const int64_t N = 37, Vp = 64, V = 50;
  std::vector<float> targets = ints(N, V, 9);
  targets[3] = targets[20] = -1;  // ignored rows
  std::vector<float> logits = randn(N * Vp, 10, 3.0f);
  add(c, dt, "cross_entropy",
      {stat("losses", {N}), in("logits", {N, Vp}, logits), i32in("targets", {N}, targets), out("dlogits", {N, Vp})},
      [](Backend& be, Ts& t) {
        be.cross_entropy_forward(t[0], t[1], t[2], 50, -1);
        be.cross_entropy_backward(t[3], t[1], t[2], 50, -1, 1.0f / 37);
      });
  add(c, dt, "cross_entropy_odd_vp",
      {stat("losses", {N}), in("logits", {N, 53}, randn(N * 53, 14, 3.0f)), i32in("targets", {N}, targets),
       out("dlogits", {N, 53})},
      [](Backend& be, Ts& t) {
        be.cross_entropy_forward(t[0], t[1], t[2], 50, -1);
        be.cross_entropy_backward(t[3], t[1], t[2], 50, -1, 1.0f / 37);
      });
  // The backward taking each row's log-sum-exp from the forward's losses (one pass over the row).
  add(c, dt, "cross_entropy_saved_losses",
      {stat("losses", {N}), in("logits", {N, 53}, randn(N * 53, 18, 3.0f)), i32in("targets", {N}, targets),
       out("dlogits", {N, 53})},
      [](Backend& be, Ts& t) {
        be.cross_entropy_forward(t[0], t[1], t[2], 50, -1);
        be.cross_entropy_backward(t[3], t[1], t[2], 50, -1, 1.0f / 37, t[0]);
      });
  add(c, dt, "cross_entropy_inplace_saved_losses",
      {stat("losses", {N}), acc("logits", {N, Vp}), i32in("targets", {N}, targets)},
      [](Backend& be, Ts& t) {
        be.cross_entropy_forward(t[0], t[1], t[2], 50, -1);
        be.cross_entropy_backward(t[1], t[1], t[2], 50, -1, 0.5f, t[0]);
      });
  add(c, dt, "cross_entropy_inplace",
      {stat("losses", {N}), acc("logits", {N, Vp}), i32in("targets", {N}, targets)},
      [](Backend& be, Ts& t) {
        be.cross_entropy_forward(t[0], t[1], t[2], 50, -1);
        be.cross_entropy_backward(t[1], t[1], t[2], 50, -1, 0.5f);
      });

  const int64_t P = 1000;
  std::vector<float> p = randn(P, 11);
  for (float& x : p) x = round_bf16(x);
  std::vector<float> v = randn(P, 12, 0.01f);
  for (float& x : v) x = std::fabs(x);
  auto adamw = [](Backend& be, Ts& t) {
    const ParamSegment segs[] = {{0, 300, 0.1f}, {300, 500, 0.0f}, {850, 150, 0.1f}};  // [800, 850) untouched
    AdamWArgs a{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 3, .grad_scale = 0.5f};
    be.adamw_update(t[0], t[1], t[2], t[3], t[4], segs, a);
  };
  add(c, dt, "adamw_master",
      {acc("params", {P}, p), f32acc("master", {P}, p), f32acc("m", {P}, randn(P, 13, 0.1f)), f32acc("v", {P}, v),
       in("grads", {P})},
      adamw);
  add(c, dt, "adamw_no_master",
      {acc("params", {P}, p), none("master"), f32acc("m", {P}, randn(P, 13, 0.1f)), f32acc("v", {P}, v),
       in("grads", {P})},
      adamw);
  // Segments of several 4096-element chunks at odd offsets (packs of 4 plus single elements at both
  // ends), a 3-element segment, a gap left untouched.
  const int64_t PL = 20000;
  std::vector<float> pl = randn(PL, 15);
  for (float& x : pl) x = round_bf16(x);
  std::vector<float> vl = randn(PL, 16, 0.01f);
  for (float& x : vl) x = std::fabs(x);
  auto adamw_large = [](Backend& be, Ts& t) {
    const ParamSegment segs[] = {{0, 3, 0.1f}, {3, 9001, 0.1f}, {9004, 1000, 0.0f}, {10101, 9899, 0.1f}};
    AdamWArgs a{.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 2, .grad_scale = 0.7f};
    be.adamw_update(t[0], t[1], t[2], t[3], t[4], segs, a);
  };
  add(c, dt, "adamw_master_chunks",
      {acc("params", {PL}, pl), f32acc("master", {PL}, pl), f32acc("m", {PL}, randn(PL, 17, 0.1f)),
       f32acc("v", {PL}, vl), in("grads", {PL})},
      adamw_large);
  add(c, dt, "adamw_no_master_chunks",
      {acc("params", {PL}, pl), none("master"), f32acc("m", {PL}, randn(PL, 17, 0.1f)), f32acc("v", {PL}, vl),
       f32in("grads", {PL})},
      adamw_large);
  add(c, dt, "grad_norm_squared", {stat("out", {1}), in("grads", {4099})},
      [](Backend& be, Ts& t) { be.grad_norm_squared(t[0], t[1]); });
}

// Vocabulary-parallel embedding and cross-entropy on one shard: rows [20, 49) of the embedding,
// some tokens outside them; logit columns [40, 93) of which those < V = 70 are real, targets both
// in and outside the shard, one ignored row.
void vocab_shards(std::vector<Case>& c, DType dt) {
  const int64_t B = 3, T = 7, C = 67, Vs = 29, maxT = 9;
  add(c, dt, "encoder_shard",
      {out("out", {B, T, C}), i32in("tokens", {B, T}, ints(B * T, 60, 21)), in("wte", {Vs, C}), in("wpe", {maxT, C}),
       f32acc("dwte", {Vs, C}), f32acc("dwpe", {maxT, C}), in("dout", {B, T, C})},
      [](Backend& be, Ts& t) {
        be.encoder_shard_forward(t[0], t[1], t[2], t[3], 20);
        be.encoder_shard_backward(t[4], t[5], t[6], t[1], 20);
      });
  const int64_t N = 37;
  std::vector<float> targets = ints(N, 100, 22);
  targets[5] = -1;
  add(c, dt, "cross_entropy_shard",
      {stat("row_max", {N}), stat("sums", {2, N}), in("logits", {N, 53}, randn(N * 53, 23, 3.0f)),
       i32in("targets", {N}, targets), out("dlogits", {N, 53})},
      [](Backend& be, Ts& t) {
        be.cross_entropy_shard_max(t[0], t[2], 40, 70);
        be.cross_entropy_shard_sums(t[1], t[2], t[0], t[3], 40, 70, -1);
        be.cross_entropy_shard_backward(t[4], t[2], t[0], t[1].slice(0, {37}), t[3], 40, 70, -1, 1.0f / 36);
      });
}

}  // namespace

std::vector<Case> cases_for(DType dt) {
  std::vector<Case> c;
  memory_and_pointwise(c, dt);
  encoder(c, dt);
  norms(c, dt);
  residual_norms(c, dt);
  matmuls(c, dt);
  rope_and_attention(c, dt);
  loss_and_optimizer(c, dt);
  vocab_shards(c, dt);
  return c;
}

}  // namespace primus::parity
