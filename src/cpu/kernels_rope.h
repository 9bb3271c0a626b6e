// CPU rotary embedding, rotate-half convention (Hugging Face Llama): in each q and k head, element
// i pairs with i + HS/2 and the pair turns by the angle of its position; v is passed through.
// cos, sin (T,HS/2) come from the model (base, Llama 3 frequency scaling). Backward writes dinp.
#pragma once
#include <cstdint>

#include "cpu/kernels_common.h"

namespace primus::cpu {

template <typename Real>
void rope_forward_kernel(Real* out, const Real* inp, const Real* cos, const Real* sin, int64_t B,
                         int64_t T, int64_t NH, int64_t NKV, int64_t HS) {
  // out, inp (B,T,(NH+2*NKV)*HS), may alias; cos, sin (T,HS/2)
  const int64_t C3 = (NH + 2 * NKV) * HS, half = HS / 2;
#pragma omp parallel for collapse(2) schedule(static) if (B * T * C3 >= kParallelMinWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const Real* x = inp + (b * T + t) * C3;
      Real* o = out + (b * T + t) * C3;
      const Real* cs = cos + t * half;
      const Real* sn = sin + t * half;
      for (int64_t h = 0; h < NH + NKV; ++h) {
        const Real* xh = x + h * HS;
        Real* oh = o + h * HS;
        for (int64_t i = 0; i < half; ++i) {
          const Real x1 = xh[i], x2 = xh[i + half];
          oh[i] = x1 * cs[i] - x2 * sn[i];
          oh[i + half] = x2 * cs[i] + x1 * sn[i];
        }
      }
      if (o != x)
        for (int64_t c = (NH + NKV) * HS; c < C3; ++c) o[c] = x[c];
    }
  }
}

template <typename Real>
void rope_backward_kernel(Real* dinp, const Real* dout, const Real* cos, const Real* sin, int64_t B,
                          int64_t T, int64_t NH, int64_t NKV, int64_t HS) {
  // dinp, dout (B,T,(NH+2*NKV)*HS); cos, sin (T,HS/2)
  const int64_t C3 = (NH + 2 * NKV) * HS, half = HS / 2;
#pragma omp parallel for collapse(2) schedule(static) if (B * T * C3 >= kParallelMinWork)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const Real* d = dout + (b * T + t) * C3;
      Real* di = dinp + (b * T + t) * C3;
      const Real* cs = cos + t * half;
      const Real* sn = sin + t * half;
      for (int64_t h = 0; h < NH + NKV; ++h) {
        const Real* dh = d + h * HS;
        Real* dih = di + h * HS;
        for (int64_t i = 0; i < half; ++i) {
          const Real d1 = dh[i], d2 = dh[i + half];
          dih[i] = d1 * cs[i] + d2 * sn[i];
          dih[i + half] = d2 * cs[i] - d1 * sn[i];
        }
      }
      for (int64_t c = (NH + NKV) * HS; c < C3; ++c) di[c] = d[c];
    }
  }
}

}  // namespace primus::cpu
