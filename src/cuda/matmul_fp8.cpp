// fp8 (E4M3) GEMMs through cuBLASLt (see matmul_fp8.h). The heuristic's algorithm is cached per
// shape; the scale pointers are read by the kernel, so the cache does not depend on them.
#include "cuda/matmul_fp8.h"

#include <fmt/format.h>

#include <cstdint>

#include "core/error.h"
#include "cuda/cuda_check.h"

namespace primus::cuda {
namespace {

struct DescGuard {
  cublasLtMatmulDesc_t desc = nullptr;
  ~DescGuard() { if (desc) cublasLtMatmulDescDestroy(desc); }
};
struct LayoutGuard {
  cublasLtMatrixLayout_t layout = nullptr;
  ~LayoutGuard() { if (layout) cublasLtMatrixLayoutDestroy(layout); }
};
struct PrefGuard {
  cublasLtMatmulPreference_t pref = nullptr;
  ~PrefGuard() { if (pref) cublasLtMatmulPreferenceDestroy(pref); }
};

}  // namespace

std::string fp8_gemm_unavailable(int index, const std::string& backend_name) {
  int major = 0, minor = 0;
  PRIMUS_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, index));
  PRIMUS_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, index));
  if (major * 10 + minor >= 89) return {};
  cudaDeviceProp prop{};
  PRIMUS_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return fmt::format("{} ({}, compute capability {}.{}) has no fp8 tensor cores: fp8 GEMMs need compute capability "
                     "8.9 or newer (Ada, Hopper)",
                     backend_name, prop.name, major, minor);
}

Fp8GemmRunner::Fp8GemmRunner(cudaStream_t stream) : stream_(stream) {
  PRIMUS_CUBLAS_CHECK(cublasLtCreate(&handle_));
  PRIMUS_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

Fp8GemmRunner::~Fp8GemmRunner() {
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(handle_);
}

void Fp8GemmRunner::forward(Tensor out, Tensor inp, Tensor weight, Tensor inp_scale, Tensor weight_scale) {
  const int64_t C = inp.dim(-1), N = inp.numel() / C, OC = weight.numel() / C;
  PRIMUS_CHECK(inp.dtype == DType::kU8 && weight.dtype == DType::kU8, "matmul_fp8_forward: inp and weight must be "
               "E4M3 bytes (uint8), not {} and {}", dtype_name(inp.dtype), dtype_name(weight.dtype));
  PRIMUS_CHECK(weight.dim(-1) == C && OC * C == weight.numel(), "matmul_fp8_forward: weight {} for input {}",
               weight.shape.str(), inp.shape.str());
  PRIMUS_CHECK(out.dtype == DType::kBF16 && out.numel() == N * OC, "matmul_fp8_forward: out must be bf16 ({}x{}), is {} {}",
               N, OC, dtype_name(out.dtype), out.shape.str());
  PRIMUS_CHECK(inp_scale.dtype == DType::kF32 && inp_scale.numel() == 1 && weight_scale.dtype == DType::kF32 &&
               weight_scale.numel() == 1, "matmul_fp8_forward: scales must be one fp32 each");
  for (const Tensor* t : {&out, &inp, &weight, &inp_scale, &weight_scale}) {
    PRIMUS_CHECK(t->device == DeviceKind::kCUDA, "matmul_fp8_forward: a tensor is not on the GPU");
    PRIMUS_CHECK(reinterpret_cast<uintptr_t>(t->data) % 16 == 0, "matmul_fp8_forward: cuBLASLt's fp8 kernels need "
                 "16-byte aligned matrices (scales are held to the same)");
  }
  if (N % 16 || C % 16 || OC % 16)
    throw Error(fmt::format("fp8 GEMM {}x{}x{}: cuBLASLt's fp8 kernels need every size a multiple of 16", N, OC, C),
                "round the sizes up to multiples of 16");
  if (N == 0 || OC == 0) return;

  DescGuard d;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // Column-major: out^T (OC,N) = W (OC,C) * inp^T (C,N); W is stored (C,OC) column-major, so op(A) = T.
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  const void* a_scale = weight_scale.data;
  const void* b_scale = inp_scale.data;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof(a_scale)));
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof(b_scale)));
  const int8_t fast_accum = 0;  // fp32 accumulation throughout, as torch._scaled_mm's default
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast_accum, sizeof(fast_accum)));
  LayoutGuard la, lb, lc;
  PRIMUS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la.layout, CUDA_R_8F_E4M3, C, OC, C));
  PRIMUS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb.layout, CUDA_R_8F_E4M3, C, N, C));
  PRIMUS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc.layout, CUDA_R_16BF, OC, N, OC));

  const float alpha = 1.0f, beta = 0.0f;
  auto matmul = [&](const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(handle_, d.desc, &alpha, weight.data, la.layout, inp.data, lb.layout, &beta, out.data,
                          lc.layout, out.data, lc.layout, &algo, workspace_, workspace_bytes_, stream_);
  };
  const auto key = std::make_tuple(N, C, OC);
  if (auto it = algos_.find(key); it != algos_.end()) {
    PRIMUS_CUBLAS_CHECK(matmul(it->second));
    return;
  }
  // First call of this shape: the heuristic's candidates in order; the first that runs is kept (a
  // GPU run once got CUBLAS_STATUS_NOT_SUPPORTED from cublasLtMatmul for the heuristic's first).
  PrefGuard p;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&p.pref));
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &workspace_bytes_, sizeof(workspace_bytes_)));
  cublasLtMatmulHeuristicResult_t results[8] = {};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, d.desc, la.layout, lb.layout, lc.layout, lc.layout,
                                                     p.pref, 8, results, &found);
  for (int i = 0; st == CUBLAS_STATUS_SUCCESS && i < found; ++i) {
    const cublasStatus_t run = matmul(results[i].algo);
    if (run == CUBLAS_STATUS_SUCCESS) {
      algos_.emplace(key, results[i].algo);
      return;
    }
    if (run != CUBLAS_STATUS_NOT_SUPPORTED) PRIMUS_CUBLAS_CHECK(run);
    st = run;
  }
  throw Error(fmt::format("cuBLASLt has no fp8 (E4M3) algorithm that runs a GEMM of {}x{}x{} ({} candidates, status {})",
                          N, OC, C, found, static_cast<int>(st)),
              "fp8 GEMMs need a GPU of compute capability 8.9 or newer and a cuBLASLt that supports them");
}

}  // namespace primus::cuda
