// A GPT-2 MLP (column-parallel fc, GELU, row-parallel proj) split over the whole world as the
// tensor group reproduces the one-device forward output and every gradient.
#include <gtest/gtest.h>

#include "cpu/cpu_backend.h"
#include "dist/tensor_parallel.h"
#include "world.h"

namespace primus::dist::testing {
namespace {

std::vector<float> values(int64_t n, int seed) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.05f * static_cast<float>((i * 7 + seed * 13) % 19 - 9) + 0.01f * seed;
  return v;
}

Tensor t2(std::vector<float>& v, int64_t rows, int64_t cols) {
  return Tensor{v.data(), DType::kF32, Shape{rows, cols}, DeviceKind::kCPU};
}

TEST(TensorParallel, MlpMatchesOneDevice) {
  Comm& tp = world();
  const int R = tp.size(), r = tp.rank();
  const int64_t N = 6, C = 8, FF = 4 * R * 2, F = FF / R;   // F: this rank's slice of FF
  auto cpu = cpu::make_cpu_backend(1);
  auto x = values(N * C, 1), wfc = values(FF * C, 2), bfc = values(FF, 3), wproj = values(C * FF, 4),
       bproj = values(C, 5), dy = values(N * C, 6);

  // One device.
  std::vector<float> pre(N * FF), h(N * FF), y(N * C), dh(N * FF, 0.0f), dpre(N * FF, 0.0f), dx(N * C, 0.0f),
      dwfc(FF * C, 0.0f), dbfc(FF, 0.0f), dwproj(C * FF, 0.0f), dbproj(C, 0.0f);
  cpu->matmul_forward(t2(pre, N, FF), t2(x, N, C), t2(wfc, FF, C), host_tensor(bfc));
  cpu->gelu_forward(host_tensor(h), host_tensor(pre));
  cpu->matmul_forward(t2(y, N, C), t2(h, N, FF), t2(wproj, C, FF), host_tensor(bproj));
  cpu->matmul_backward(t2(dh, N, FF), t2(dwproj, C, FF), host_tensor(dbproj), t2(dy, N, C), t2(h, N, FF),
                       t2(wproj, C, FF));
  cpu->gelu_backward(host_tensor(dpre), host_tensor(dh), host_tensor(pre));
  cpu->matmul_backward(t2(dx, N, C), t2(dwfc, FF, C), host_tensor(dbfc), t2(dpre, N, FF), t2(x, N, C),
                       t2(wfc, FF, C));

  // This rank's shards: fc rows [r*F, (r+1)*F), proj columns [r*F, (r+1)*F).
  std::vector<float> wfc_s(wfc.begin() + r * F * C, wfc.begin() + (r + 1) * F * C);
  std::vector<float> bfc_s(bfc.begin() + r * F, bfc.begin() + (r + 1) * F);
  std::vector<float> wproj_s(C * F);
  for (int64_t o = 0; o < C; ++o)
    for (int64_t k = 0; k < F; ++k) wproj_s[o * F + k] = wproj[o * FF + r * F + k];
  std::vector<float> pre_s(N * F), h_s(N * F), y_tp(N * C, -999.0f), dh_s(N * F, 0.0f), dpre_s(N * F, 0.0f),
      dx_tp(N * C, -999.0f), dwfc_s(F * C, 0.0f), dbfc_s(F, 0.0f), dwproj_s(C * F, 0.0f), dbproj_tp(C, 0.0f);
  column_parallel_forward(*cpu, t2(pre_s, N, F), t2(x, N, C), t2(wfc_s, F, C), host_tensor(bfc_s));
  cpu->gelu_forward(host_tensor(h_s), host_tensor(pre_s));
  row_parallel_forward(*cpu, tp, t2(y_tp, N, C), t2(h_s, N, F), t2(wproj_s, C, F), host_tensor(bproj));
  row_parallel_backward(*cpu, t2(dh_s, N, F), t2(dwproj_s, C, F), host_tensor(dbproj_tp), t2(dy, N, C), t2(h_s, N, F),
                        t2(wproj_s, C, F));
  cpu->gelu_backward(host_tensor(dpre_s), host_tensor(dh_s), host_tensor(pre_s));
  column_parallel_backward(*cpu, tp, t2(dx_tp, N, C), t2(dwfc_s, F, C), host_tensor(dbfc_s), t2(dpre_s, N, F),
                           t2(x, N, C), t2(wfc_s, F, C));

  for (int64_t i = 0; i < N * C; ++i) {
    ASSERT_NEAR(y_tp[i], y[i], 1e-5f) << "y " << i;
    ASSERT_NEAR(dx_tp[i], dx[i], 1e-5f) << "dx " << i;
  }
  for (int64_t i = 0; i < F * C; ++i) ASSERT_NEAR(dwfc_s[i], dwfc[r * F * C + i], 1e-5f) << "dwfc " << i;
  for (int64_t i = 0; i < F; ++i) ASSERT_NEAR(dbfc_s[i], dbfc[r * F + i], 1e-5f) << "dbfc " << i;
  for (int64_t o = 0; o < C; ++o)
    for (int64_t k = 0; k < F; ++k) ASSERT_NEAR(dwproj_s[o * F + k], dwproj[o * FF + r * F + k], 1e-5f) << o << "," << k;
  for (int64_t o = 0; o < C; ++o) ASSERT_NEAR(dbproj_tp[o], dbproj[o], 1e-5f) << "dbproj " << o;
}

}  // namespace
}  // namespace primus::dist::testing
