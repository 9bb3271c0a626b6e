// Parity cases for the norms' row-resident kernels (src/cuda/norm.cu) and the column sums
// (column_sums.cu): widths of real models (768, 2048, 4096) with rows not a multiple of a block's
// rows, enough rows that each block of the backward strides over several row groups, widths one
// warp cannot hold in registers, and the generic path (a width not a multiple of 16 bytes).
#include <string>
#include <vector>

#include "parity.h"

namespace primus::parity {
namespace {

using Ts = std::vector<Tensor>;

void add(std::vector<Case>& cases, DType dt, std::string name, std::vector<Arg> args, OpFn op) {
  cases.push_back(Case{name + (dt == DType::kBF16 ? "_bf16" : "_f32"), dt, std::move(args), std::move(op)});
}

// LayerNorm forward + backward; bias and dbias when `bias`.
void layernorm_case(std::vector<Case>& c, DType dt, const std::string& name, int64_t N, int64_t C, bool bias) {
  add(c, dt, name,
      {out("out", {N, C}), stat("mean", {N}), stat("rstd", {N}), in("inp", {N, C}, randn(N * C, 41, 2.0f)),
       in("weight", {C}), bias ? in("bias", {C}) : none("bias"), acc("dinp", {N, C}), f32acc("dweight", {C}),
       bias ? f32acc("dbias", {C}) : none("dbias"), in("dout", {N, C})},
      [](Backend& be, Ts& t) {
        be.layernorm_forward(t[0], t[1], t[2], t[3], t[4], t[5], 1e-5f);
        be.layernorm_backward(t[6], t[7], t[8], t[9], t[3], t[4], t[1], t[2]);
      });
}

void rmsnorm_case(std::vector<Case>& c, DType dt, const std::string& name, int64_t N, int64_t C) {
  add(c, dt, name,
      {out("out", {N, C}), stat("rstd", {N}), in("inp", {N, C}), in("weight", {C}), acc("dinp", {N, C}),
       f32acc("dweight", {C}), in("dout", {N, C})},
      [](Backend& be, Ts& t) {
        be.rmsnorm_forward(t[0], t[1], t[2], t[3], 1e-6f);
        be.rmsnorm_backward(t[4], t[5], t[6], t[2], t[3], t[1]);
      });
}

}  // namespace

std::vector<Case> norm_cases_for(DType dt) {
  std::vector<Case> c;
  // 2503 rows of 768: more row groups than the backward's blocks (each strides over several).
  layernorm_case(c, dt, "layernorm_c768_many_rows", 2503, 768, true);
  layernorm_case(c, dt, "layernorm_c2048_nobias", 37, 2048, false);
  layernorm_case(c, dt, "layernorm_c8192", 5, 8192, true);    // bf16: 8 warps a row; fp32: generic
  layernorm_case(c, dt, "layernorm_c200", 13, 200, true);     // a row of 25 bf16 vectors: lanes idle
  layernorm_case(c, dt, "layernorm_c1002_generic", 9, 1002, true);  // neither 8 nor 4 divides 1002
  rmsnorm_case(c, dt, "rmsnorm_c2048", 1030, 2048);
  rmsnorm_case(c, dt, "rmsnorm_c4096", 11, 4096);
  rmsnorm_case(c, dt, "rmsnorm_c3072", 7, 3072);  // bf16: 3 and 6 warps a row (not a power of two)
  // Parameter gradients only (no dinp), in the activations' dtype.
  add(c, dt, "layernorm_params_only_c768",
      {out("out", {21, 768}), stat("mean", {21}), stat("rstd", {21}), in("inp", {21, 768}), in("weight", {768}),
       in("bias", {768}), acc("dweight", {768}), acc("dbias", {768}), in("dout", {21, 768})},
      [](Backend& be, Ts& t) {
        be.layernorm_forward(t[0], t[1], t[2], t[3], t[4], t[5], 1e-5f);
        be.layernorm_backward(Tensor{}, t[6], t[7], t[8], t[3], t[4], t[1], t[2]);
      });
  // Fused residual + norm: in place over b (as the models use it) and into a third tensor.
  add(c, dt, "residual_layernorm_c768_inplace",
      {in("a", {45, 768}), acc("res", {45, 768}), out("out", {45, 768}), stat("mean", {45}), stat("rstd", {45}),
       in("weight", {768}), in("bias", {768})},
      [](Backend& be, Ts& t) { be.residual_norm_forward(t[1], t[2], t[3], t[4], t[0], t[1], t[5], t[6], 1e-5f); });
  add(c, dt, "residual_rmsnorm_c2048",
      {out("res", {19, 2048}), out("out", {19, 2048}), stat("rstd", {19}), in("a", {19, 2048}), in("b", {19, 2048}),
       in("weight", {2048})},
      [](Backend& be, Ts& t) { be.residual_norm_forward(t[0], t[1], Tensor{}, t[2], t[3], t[4], t[5], Tensor{}, 1e-6f); });
  // The matmul's bias gradient alone (column sums of dout): 16-byte loads, and one element a lane.
  for (int64_t OC : {int64_t{2304}, int64_t{1001}})
    add(c, dt, "matmul_dbias_only_oc" + std::to_string(OC),
        {in("inp", {300, 8}), in("weight", {OC, 8}), f32acc("dbias", {OC}), in("dout", {300, OC})},
        [](Backend& be, Ts& t) { be.matmul_backward(Tensor{}, Tensor{}, t[2], t[3], t[0], t[1]); });
  return c;
}

}  // namespace primus::parity
