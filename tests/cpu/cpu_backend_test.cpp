// The fp32 CPU backend against the double-precision kernels, op by op through the Backend
// interface (argument order, shape handling, accumulate vs write), with outputs poisoned first;
// plus memory, fill/copy/convert, supports() and the invariant checks on bad arguments.
#include <gtest/gtest.h>

#include "cpu/cpu_backend.h"
#include "cpu/kernels_attention.h"
#include "cpu/kernels_rope.h"
#include "cpu/kernels_loss.h"
#include "cpu/kernels_matmul.h"
#include "cpu/kernels_norm.h"
#include "cpu/kernels_optim.h"
#include "cpu/kernels_pointwise.h"
#include "gradcheck.h"

namespace primus::cpu::testing {
namespace {

constexpr int64_t B = 2, T = 5, C = 7, N = B * T, V = 11, Vp = 16, NH = 3, NKV = 1, HS = 4;
constexpr int64_t C3 = (NH + 2 * NKV) * HS;
constexpr double kTol = 2e-5;  // fp32 against fp64 on these small shapes

class CpuBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> be = make_cpu_backend();
  Rand r{71};
};

TEST_F(CpuBackendTest, EncoderMatchesDoubleKernel) {
  Vec wte = r.normal(Vp * C), wpe = r.normal(T * C), dout = r.normal(N * C);
  std::vector<int32_t> tok = r.ints(N, 0, Vp);
  Vec out(N * C), dwte = r.normal(Vp * C), dwpe = r.normal(T * C);
  auto fwte = to_float(wte), fwpe = to_float(wpe), fdout = to_float(dout), fout = poisoned_float(N * C);
  auto fdwte = to_float(dwte), fdwpe = to_float(dwpe);
  encoder_forward_kernel(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
  encoder_backward_kernel(dwte.data(), dwpe.data(), dout.data(), tok.data(), B, T, C);
  be->encoder_forward(view(fout, {B, T, C}), view(tok, {B, T}), view(fwte, {Vp, C}), view(fwpe, {T, C}));
  be->encoder_backward(view(fdwte, {Vp, C}), view(fdwpe, {T, C}), view(fdout, {B, T, C}), view(tok, {B, T}));
  EXPECT_TRUE(all_close(fout, out, kTol));
  EXPECT_TRUE(all_close(fdwte, dwte, kTol));
  EXPECT_TRUE(all_close(fdwpe, dwpe, kTol));
}

TEST_F(CpuBackendTest, LayerNormMatchesDoubleKernel) {
  Vec inp = r.normal(N * C), w = r.normal(C), b = r.normal(C), dout = r.normal(N * C);
  Vec out(N * C), mean(N), rstd(N), dinp = r.normal(N * C), dw = r.normal(C), db = r.normal(C);
  auto finp = to_float(inp), fw = to_float(w), fb = to_float(b), fdout = to_float(dout);
  auto fout = poisoned_float(N * C), fmean = poisoned_float(N), frstd = poisoned_float(N);
  auto fdinp = to_float(dinp), fdw = to_float(dw), fdb = to_float(db);
  layernorm_forward_kernel(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5);
  layernorm_backward_kernel(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(),
                            rstd.data(), N, C);
  be->layernorm_forward(view(fout, {B, T, C}), view(fmean, {B, T}), view(frstd, {B, T}), view(finp, {B, T, C}),
                        view(fw, {C}), view(fb, {C}), 1e-5f);
  be->layernorm_backward(view(fdinp, {B, T, C}), view(fdw, {C}), view(fdb, {C}), view(fdout, {B, T, C}),
                         view(finp, {B, T, C}), view(fw, {C}), view(fmean, {B, T}), view(frstd, {B, T}));
  EXPECT_TRUE(all_close(fout, out, kTol));
  EXPECT_TRUE(all_close(fmean, mean, kTol));
  EXPECT_TRUE(all_close(frstd, rstd, kTol));
  EXPECT_TRUE(all_close(fdinp, dinp, kTol));
  EXPECT_TRUE(all_close(fdw, dw, kTol));
  EXPECT_TRUE(all_close(fdb, db, kTol));
}

TEST_F(CpuBackendTest, RmsNormMatchesDoubleKernel) {
  Vec inp = r.normal(N * C), w = r.normal(C), dout = r.normal(N * C);
  Vec out(N * C), rstd(N), dinp = r.normal(N * C), dw = r.normal(C);
  auto finp = to_float(inp), fw = to_float(w), fdout = to_float(dout);
  auto fout = poisoned_float(N * C), frstd = poisoned_float(N), fdinp = to_float(dinp), fdw = to_float(dw);
  rmsnorm_forward_kernel(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-6);
  rmsnorm_backward_kernel(dinp.data(), dw.data(), dout.data(), inp.data(), w.data(), rstd.data(), N, C);
  be->rmsnorm_forward(view(fout, {N, C}), view(frstd, {N}), view(finp, {N, C}), view(fw, {C}), 1e-6f);
  be->rmsnorm_backward(view(fdinp, {N, C}), view(fdw, {C}), view(fdout, {N, C}), view(finp, {N, C}),
                       view(fw, {C}), view(frstd, {N}));
  EXPECT_TRUE(all_close(fout, out, kTol));
  EXPECT_TRUE(all_close(frstd, rstd, kTol));
  EXPECT_TRUE(all_close(fdinp, dinp, kTol));
  EXPECT_TRUE(all_close(fdw, dw, kTol));
}

TEST_F(CpuBackendTest, MatmulMatchesDoubleKernel) {
  const int64_t OC = 9;
  Vec inp = r.normal(N * C), w = r.normal(OC * C), b = r.normal(OC), dout = r.normal(N * OC);
  const Vec dw0 = r.normal(OC * C);
  Vec out(N * OC), dinp = r.normal(N * C), dw = dw0, db = r.normal(OC);
  auto finp = to_float(inp), fw = to_float(w), fb = to_float(b), fdout = to_float(dout);
  auto fout = poisoned_float(N * OC), fdinp = to_float(dinp), fdw = to_float(dw), fdb = to_float(db);
  matmul_forward_kernel(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  matmul_backward_kernel(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  be->matmul_forward(view(fout, {B, T, OC}), view(finp, {B, T, C}), view(fw, {OC, C}), view(fb, {OC}));
  be->matmul_backward(view(fdinp, {B, T, C}), view(fdw, {OC, C}), view(fdb, {OC}), view(fdout, {B, T, OC}),
                      view(finp, {B, T, C}), view(fw, {OC, C}));
  EXPECT_TRUE(all_close(fout, out, kTol));
  EXPECT_TRUE(all_close(fdinp, dinp, kTol));
  EXPECT_TRUE(all_close(fdw, dw, kTol));
  EXPECT_TRUE(all_close(fdb, db, kTol));
  // Skipped gradients are empty tensors; no bias in the forward.
  auto fout2 = poisoned_float(N * OC);
  be->matmul_forward(view(fout2, {N, OC}), view(finp, {N, C}), view(fw, {OC, C}), Tensor{});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) EXPECT_NEAR(fout2[n * OC + o], out[n * OC + o] - b[o], 1e-4);
  auto fdw2 = fdw;
  be->matmul_backward(Tensor{}, view(fdw2, {OC, C}), Tensor{}, view(fdout, {N, OC}), view(finp, {N, C}),
                      view(fw, {OC, C}));
  for (int64_t i = 0; i < OC * C; ++i) EXPECT_NEAR(fdw2[i] - fdw[i], dw[i] - dw0[i], 1e-4);
}

// The default gelu_matmul_backward: dpre written = gelu'(pre) * (dout @ W), dweight/dbias accumulated.
TEST_F(CpuBackendTest, GeluMatmulBackwardMatchesDoubleKernels) {
  const int64_t OC = 9;
  Vec pre = r.normal(N * C), w = r.normal(OC * C), dout = r.normal(N * OC), act(N * C), dact(N * C, 0.0);
  Vec dpre(N * C), dw = r.normal(OC * C), db = r.normal(OC);
  auto fpre = to_float(pre), fw = to_float(w), fdout = to_float(dout), fdw = to_float(dw), fdb = to_float(db);
  gelu_forward_kernel(act.data(), pre.data(), N * C);
  matmul_backward_kernel(dact.data(), dw.data(), db.data(), dout.data(), act.data(), w.data(), N, C, OC);
  gelu_backward_kernel(dpre.data(), dact.data(), pre.data(), N * C);
  auto fact = to_float(act), fdpre = poisoned_float(N * C), fscratch = poisoned_float(N * C);
  be->gelu_matmul_backward(view(fdpre, {N, C}), view(fscratch, {N, C}), view(fdw, {OC, C}), view(fdb, {OC}),
                           view(fdout, {N, OC}), view(fact, {N, C}), view(fpre, {N, C}), view(fw, {OC, C}));
  EXPECT_TRUE(all_close(fdpre, dpre, kTol));
  EXPECT_TRUE(all_close(fdw, dw, kTol));
  EXPECT_TRUE(all_close(fdb, db, kTol));
}

TEST_F(CpuBackendTest, RopeAndAttentionMatchDoubleKernels) {
  Vec qkv = r.normal(B * T * C3), cos = r.uniform(T * HS / 2, -1, 1), sin = r.uniform(T * HS / 2, -1, 1);
  Vec dout = r.normal(B * T * NH * HS), drope = r.normal(B * T * C3);
  Vec roped(B * T * C3), out(B * T * NH * HS), lse(B * NH * T), dqkv = r.normal(B * T * C3), dinp = r.normal(B * T * C3);
  auto fqkv = to_float(qkv), fcos = to_float(cos), fsin = to_float(sin), fdout = to_float(dout);
  auto fdrope = to_float(drope), fdqkv = to_float(dqkv), fdinp = poisoned_float(B * T * C3);   // rope writes dinp
  rope_forward_kernel(roped.data(), qkv.data(), cos.data(), sin.data(), B, T, NH, NKV, HS);
  attention_forward_kernel(out.data(), lse.data(), roped.data(), B, T, NH, NKV, HS);
  attention_backward_kernel(dqkv.data(), dout.data(), roped.data(), out.data(), lse.data(), B, T, NH, NKV, HS);
  rope_backward_kernel(dinp.data(), drope.data(), cos.data(), sin.data(), B, T, NH, NKV, HS);
  auto froped = poisoned_float(B * T * C3), fout = poisoned_float(B * T * NH * HS), flse = poisoned_float(B * NH * T);
  const Shape qs{B, T, C3}, tab{T, HS / 2};
  be->rope_forward(view(froped, qs), view(fqkv, qs), view(fcos, tab), view(fsin, tab), NH, NKV);
  be->attention_forward(view(fout, {B, T, NH * HS}), view(flse, {B, NH, T}), view(froped, qs), NH, NKV);
  be->attention_backward(view(fdqkv, qs), view(fdout, {B, T, NH * HS}), view(froped, qs),
                         view(fout, {B, T, NH * HS}), view(flse, {B, NH, T}), NH, NKV);
  be->rope_backward(view(fdinp, qs), view(fdrope, qs), view(fcos, tab), view(fsin, tab), NH, NKV);
  EXPECT_TRUE(all_close(froped, roped, kTol));
  EXPECT_TRUE(all_close(fout, out, kTol));
  EXPECT_TRUE(all_close(flse, lse, kTol));
  EXPECT_TRUE(all_close(fdqkv, dqkv, kTol));
  EXPECT_TRUE(all_close(fdinp, dinp, kTol));
}

TEST_F(CpuBackendTest, PointwiseOpsMatchDoubleKernels) {
  const int64_t FF = 6;
  Vec inp = r.normal(N * 2 * FF), dout = r.normal(N * 2 * FF), dout_half = r.normal(N * FF);
  Vec gelu(N * 2 * FF), dgelu = r.normal(N * 2 * FF), swiglu(N * FF), dswiglu = r.normal(N * 2 * FF);
  auto finp = to_float(inp), fdout = to_float(dout), fdout_half = to_float(dout_half);
  // The GELU and SwiGLU backward write dinp: start the backend's from NaN.
  auto fgelu = poisoned_float(N * 2 * FF), fdgelu = poisoned_float(N * 2 * FF), fswiglu = poisoned_float(N * FF);
  auto fdswiglu = poisoned_float(N * 2 * FF);
  gelu_forward_kernel(gelu.data(), inp.data(), N * 2 * FF);
  gelu_backward_kernel(dgelu.data(), dout.data(), inp.data(), N * 2 * FF);
  swiglu_forward_kernel(swiglu.data(), inp.data(), N, FF);
  swiglu_backward_kernel(dswiglu.data(), dout_half.data(), inp.data(), N, FF);
  const Shape wide{N, 2 * FF};
  be->gelu_forward(view(fgelu, wide), view(finp, wide));
  be->gelu_backward(view(fdgelu, wide), view(fdout, wide), view(finp, wide));
  be->swiglu_forward(view(fswiglu, {B, T, FF}), view(finp, {B, T, 2 * FF}));
  be->swiglu_backward(view(fdswiglu, {B, T, 2 * FF}), view(fdout_half, {B, T, FF}), view(finp, {B, T, 2 * FF}));
  EXPECT_TRUE(all_close(fgelu, gelu, kTol));
  EXPECT_TRUE(all_close(fdgelu, dgelu, kTol));
  EXPECT_TRUE(all_close(fswiglu, swiglu, kTol));
  EXPECT_TRUE(all_close(fdswiglu, dswiglu, kTol));

  auto fa = to_float(r.normal(N * C)), fb = to_float(r.normal(N * C)), fsum = poisoned_float(N * C);
  be->residual_forward(view(fsum, {N, C}), view(fa, {N, C}), view(fb, {N, C}));
  for (int64_t i = 0; i < N * C; ++i) EXPECT_EQ(fsum[i], fa[i] + fb[i]);
  const auto fa0 = fa;
  be->residual_backward(view(fa, {N, C}), Tensor{}, view(fb, {N, C}));
  for (int64_t i = 0; i < N * C; ++i) EXPECT_EQ(fa[i], fa0[i] + fb[i]);
  be->scale(view(fa, {N, C}), 2.0f);
  for (int64_t i = 0; i < N * C; ++i) EXPECT_EQ(fa[i], 2.0f * (fa0[i] + fb[i]));
}

TEST_F(CpuBackendTest, CrossEntropyMatchesDoubleKernel) {
  Vec logits = r.normal(N * Vp, 2.0), losses(N), dlogits(N * Vp);
  std::vector<int32_t> tgt = r.ints(N, 0, V);
  tgt[3] = -1;
  cross_entropy_forward_kernel(losses.data(), logits.data(), tgt.data(), N, Vp, V, -1);
  cross_entropy_backward_kernel(dlogits.data(), logits.data(), tgt.data(), N, Vp, V, -1, 0.25);
  auto flogits = to_float(logits), flosses = poisoned_float(N);
  be->cross_entropy_forward(view(flosses, {B, T}), view(flogits, {B, T, Vp}), view(tgt, {B, T}), V, -1);
  be->cross_entropy_backward(view(flogits, {B, T, Vp}), view(flogits, {B, T, Vp}), view(tgt, {B, T}), V, -1,
                             0.25f);  // in place, as the classifier does
  EXPECT_TRUE(all_close(flosses, losses, kTol));
  EXPECT_TRUE(all_close(flogits, dlogits, kTol));
}

// The trainer detects a diverged step by a NaN loss: the vectorized exp must not hide one.
TEST_F(CpuBackendTest, NaNPropagatesThroughLossAndActivations) {
  auto logits = to_float(r.normal(N * Vp)), losses = poisoned_float(N);
  std::vector<int32_t> tgt = r.ints(N, 0, V);
  logits[3 * Vp + 5] = std::numeric_limits<float>::quiet_NaN();
  be->cross_entropy_forward(view(losses, {N}), view(logits, {N, Vp}), view(tgt, {N}), V, -1);
  EXPECT_TRUE(std::isnan(losses[3]));
  EXPECT_TRUE(std::isfinite(losses[2]));
  auto x = to_float(r.normal(64)), y = poisoned_float(64), z = poisoned_float(32);
  x[7] = std::numeric_limits<float>::quiet_NaN();
  be->gelu_forward(view(y, {64}), view(x, {64}));
  EXPECT_TRUE(std::isnan(y[7]));
  be->swiglu_forward(view(z, {1, 32}), view(x, {1, 64}));
  EXPECT_TRUE(std::isnan(z[7]));
}

// AdamW through the interface: two steps, two segments with different decay, against the double
// kernel; the same update with fp32 master weights copies master into params.
TEST_F(CpuBackendTest, AdamWMatchesDoubleKernel) {
  const int64_t P = 29;
  const ParamSegment segs[] = {{.offset = 0, .size = 13, .weight_decay = 0.1f},
                               {.offset = 13, .size = 16, .weight_decay = 0.0f}};
  Vec p = r.normal(P), m(P, 0.0), v(P, 0.0);
  auto fp = to_float(p), fm = std::vector<float>(P, 0.0f), fv = fm;
  auto fmaster = fp, fparams2 = poisoned_float(P), fm2 = fm, fv2 = fm;
  for (int step = 1; step <= 2; ++step) {
    const Vec g = r.normal(P);
    auto fg = to_float(g);
    const AdamWArgs args{.lr = 3e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = step, .grad_scale = 0.7f};
    for (const ParamSegment& s : segs) {
      const AdamWStep<double> a{args.lr, args.beta1, args.beta2, args.eps, s.weight_decay, args.grad_scale,
                                1 - std::pow(double(args.beta1), step), 1 - std::pow(double(args.beta2), step)};
      adamw_update_kernel<double>(p.data() + s.offset, nullptr, m.data() + s.offset, v.data() + s.offset,
                                  g.data() + s.offset, s.size, a);
    }
    be->adamw_update(view(fp, {P}), Tensor{}, view(fm, {P}), view(fv, {P}), view(fg, {P}), segs, args);
    be->adamw_update(view(fparams2, {P}), view(fmaster, {P}), view(fm2, {P}), view(fv2, {P}), view(fg, {P}), segs,
                     args);
  }
  EXPECT_TRUE(all_close(fp, p, kTol));
  EXPECT_TRUE(all_close(fm, m, kTol));
  EXPECT_TRUE(all_close(fv, v, kTol));
  EXPECT_EQ(fmaster, fp);
  EXPECT_EQ(fparams2, fp);
}

TEST_F(CpuBackendTest, GradNormSquaredWritesSumOfSquares) {
  const int64_t n = 100003;
  const Vec g = r.normal(n);
  auto fg = to_float(g);
  double want = 0;
  for (float x : fg) want += double(x) * x;
  std::vector<float> out = {123.0f};  // written, not accumulated
  be->grad_norm_squared(view(out, {1}), view(fg, {n}));
  EXPECT_NEAR(out[0], want, 1e-6 * want);

  std::vector<uint16_t> bf(n);
  double want_bf = 0;
  for (int64_t i = 0; i < n; ++i) {
    bf[i] = bf16_from_float(fg[i]);
    want_bf += double(bf16_to_float(bf[i])) * bf16_to_float(bf[i]);
  }
  be->grad_norm_squared(view(out, {1}), Tensor{bf.data(), DType::kBF16, Shape{n}});
  EXPECT_NEAR(out[0], want_bf, 1e-6 * want_bf);
}

// Large enough that every GEMM is split over the threads, with an odd thread count whose blocks
// end mid-way: the blocks must tile the output exactly.
TEST(CpuBackendThreads, SplitMatmulMatchesDoubleKernel) {
  auto be = make_cpu_backend(3);
  Rand r(72);
  const int64_t n = 67, c = 131, oc = 301;  // n * c * oc > kGemmParallelMinWork
  ASSERT_GE(n * c * oc, kGemmParallelMinWork);
  Vec inp = r.normal(n * c), w = r.normal(oc * c), b = r.normal(oc), dout = r.normal(n * oc);
  Vec out(n * oc), dinp = r.normal(n * c), dw = r.normal(oc * c), db = r.normal(oc);
  auto finp = to_float(inp), fw = to_float(w), fb = to_float(b), fdout = to_float(dout);
  auto fout = poisoned_float(n * oc), fdinp = to_float(dinp), fdw = to_float(dw), fdb = to_float(db);
  matmul_forward_kernel(out.data(), inp.data(), w.data(), b.data(), n, c, oc);
  matmul_backward_kernel(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), n, c, oc);
  be->matmul_forward(view(fout, {n, oc}), view(finp, {n, c}), view(fw, {oc, c}), view(fb, {oc}));
  be->matmul_backward(view(fdinp, {n, c}), view(fdw, {oc, c}), view(fdb, {oc}), view(fdout, {n, oc}),
                      view(finp, {n, c}), view(fw, {oc, c}));
  // Sums of up to 301 products of unit normals in fp32: errors relative to magnitudes of ~10.
  EXPECT_TRUE(all_close(fout, out, 1e-4, 1.0));
  EXPECT_TRUE(all_close(fdinp, dinp, 1e-4, 1.0));
  EXPECT_TRUE(all_close(fdw, dw, 1e-4, 1.0));
  EXPECT_TRUE(all_close(fdb, db, 1e-4, 1.0));
}

}  // namespace
}  // namespace primus::cpu::testing
