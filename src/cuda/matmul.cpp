// cuBLASLt GEMMs (see matmul.h). Descriptors are cheap and built per call; the heuristic query is
// not, so its answer is cached per (shape, layout, dtypes, epilogue, beta, pointer alignment).
#include "cuda/matmul.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "cuda/cuda_check.h"

namespace primus::cuda {
namespace {

int alignment_of(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  int al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

struct LayoutGuard {
  cublasLtMatrixLayout_t layout = nullptr;
  ~LayoutGuard() { if (layout) cublasLtMatrixLayoutDestroy(layout); }
};

}  // namespace

bool gemm_autotune_from_env() {
  const char* v = std::getenv("PRIMUS_GEMM_AUTOTUNE");
  return v && std::strcmp(v, "0") != 0 && *v != '\0';
}

GemmRunner::GemmRunner(cudaStream_t stream) : stream_(stream), autotune_(gemm_autotune_from_env()) {
  PRIMUS_CUBLAS_CHECK(cublasLtCreate(&handle_));
  PRIMUS_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

GemmRunner::~GemmRunner() {
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(handle_);
}

void GemmRunner::run(void* D, const void* A, const void* B, const void* bias, DType dt, const GemmShape& g,
                     float beta, Epilogue epilogue, void* aux) {
  if (!try_run(D, A, B, bias, dt, g, beta, epilogue, aux))
    throw Error(fmt::format("cuBLASLt has no algorithm for a {} GEMM m={} n={} k={}", dtype_name(dt), g.m, g.n, g.k),
                "use sizes that are multiples of 8 for bf16 GEMMs");
}

bool GemmRunner::try_run(void* D, const void* A, const void* B, const void* bias, DType dt, const GemmShape& g,
                         float beta, Epilogue epilogue, void* aux) {
  if (g.m == 0 || g.n == 0) return true;
  const cudaDataType_t type = dt == DType::kBF16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasLtMatmulDesc_t desc = nullptr;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  struct DescGuard {
    cublasLtMatmulDesc_t d;
    ~DescGuard() { cublasLtMatmulDescDestroy(d); }
  } desc_guard{desc};
  cublasOperation_t ta = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (epilogue == Epilogue::kBias) epi = CUBLASLT_EPILOGUE_BIAS;
  if (epilogue == Epilogue::kGeluAux) epi = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
  if (epilogue == Epilogue::kDGelu) epi = CUBLASLT_EPILOGUE_DGELU;
  if (epilogue == Epilogue::kDGeluBgrad) epi = CUBLASLT_EPILOGUE_DGELU_BGRAD;
  if (epilogue == Epilogue::kBias && !bias) epi = CUBLASLT_EPILOGUE_DEFAULT;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  if (bias) {
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    cudaDataType_t bias_type = epilogue == Epilogue::kDGeluBgrad ? CUDA_R_32F : type;
    PRIMUS_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
  }
  if (epilogue == Epilogue::kGeluAux || epilogue == Epilogue::kDGelu || epilogue == Epilogue::kDGeluBgrad) {
    const int64_t ld_aux = g.ldd;
    PRIMUS_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)));
    PRIMUS_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld_aux, sizeof(ld_aux)));
  }
  LayoutGuard la, lb, ld;
  PRIMUS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la.layout, type, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda));
  PRIMUS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb.layout, type, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb));
  const cudaDataType_t type_d = g.d_f32 ? CUDA_R_32F : type;
  PRIMUS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ld.layout, type_d, g.m, g.n, g.ldd));

  const int al_a = alignment_of(A), al_b = alignment_of(B);
  const int al_d = aux ? std::min(alignment_of(D), alignment_of(aux)) : alignment_of(D);
  const Key key{g.m, g.n, g.k, g.lda, g.ldb, g.ldd, (g.trans_a ? 1 : 0) | (g.trans_b ? 2 : 0) | (beta != 0.0f ? 4 : 0) | (g.d_f32 ? 8 : 0),
                static_cast<int>(dt), static_cast<int>(epi), al_a, al_b, al_d};
  auto it = algos_.find(key);
  if (it == algos_.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    struct PrefGuard {
      cublasLtMatmulPreference_t p;
      ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
    } pref_guard{pref};
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                             &workspace_bytes_, sizeof(workspace_bytes_)));
    uint32_t ua = al_a, ub = al_b, ud = al_d;
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &ua, sizeof(ua)));
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ub, sizeof(ub)));
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ud, sizeof(ud)));
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ud, sizeof(ud)));
    std::array<cublasLtMatmulHeuristicResult_t, kAutotuneCandidates> results{};
    int found = 0;
    const int wanted = autotune_ ? kAutotuneCandidates : 1;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, desc, la.layout, lb.layout, ld.layout, ld.layout,
                                                       pref, wanted, results.data(), &found);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0) return false;  // this shape/epilogue is not implemented
    int best = 0;
    if (found > 1) {
      const size_t d_bytes = static_cast<size_t>(g.ldd) * static_cast<size_t>(g.n) * (g.d_f32 || dt == DType::kF32 ? 4 : 2);
      best = fastest(std::span(results.data(), static_cast<size_t>(found)), desc, A, la.layout, B, lb.layout, D,
                     ld.layout, beta, d_bytes);
    }
    it = algos_.emplace(key, results[static_cast<size_t>(best)].algo).first;
  }
  const float alpha = 1.0f;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmul(handle_, desc, &alpha, A, la.layout, B, lb.layout, &beta, D, ld.layout, D,
                                     ld.layout, &it->second, workspace_, workspace_bytes_, stream_));
  return true;
}

int GemmRunner::fastest(std::span<const cublasLtMatmulHeuristicResult_t> candidates, cublasLtMatmulDesc_t desc,
                        const void* A, cublasLtMatrixLayout_t la, const void* B, cublasLtMatrixLayout_t lb, void* D,
                        cublasLtMatrixLayout_t ld, float beta, size_t d_bytes) {
  // Not while a graph is being recorded (nothing may be timed or allocated then): the heuristic's pick.
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  PRIMUS_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
  if (capture != cudaStreamCaptureStatusNone) return 0;
  // A GEMM that accumulates (beta != 0) is timed on a scratch D so the real one is not added to
  // several times; one that overwrites D is timed in place (the real run rewrites it). An aux output
  // (GELU_AUX) is rewritten with the same values; an aux input (DGELU) is only read.
  void* target = D;
  void* scratch = nullptr;
  if (beta != 0.0f) {
    PRIMUS_CUDA_CHECK(cudaMalloc(&scratch, d_bytes));
    PRIMUS_CUDA_CHECK(cudaMemsetAsync(scratch, 0, d_bytes, stream_));
    target = scratch;
  }
  cudaEvent_t start = nullptr, stop = nullptr;
  PRIMUS_CUDA_CHECK(cudaEventCreate(&start));
  PRIMUS_CUDA_CHECK(cudaEventCreate(&stop));
  const float alpha = 1.0f;
  int best = 0;
  float best_ms = 0.0f;
  for (size_t i = 0; i < candidates.size(); ++i) {
    auto launch = [&] {
      return cublasLtMatmul(handle_, desc, &alpha, A, la, B, lb, &beta, target, ld, target, ld, &candidates[i].algo,
                            workspace_, workspace_bytes_, stream_);
    };
    if (launch() != CUBLAS_STATUS_SUCCESS) continue;   // warm-up; an algorithm that cannot run is skipped
    PRIMUS_CUDA_CHECK(cudaEventRecord(start, stream_));
    constexpr int kReps = 3;
    for (int r = 0; r < kReps; ++r) PRIMUS_CUBLAS_CHECK(launch());
    PRIMUS_CUDA_CHECK(cudaEventRecord(stop, stream_));
    PRIMUS_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    PRIMUS_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (i == 0 || ms < best_ms) best = static_cast<int>(i), best_ms = ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (scratch) PRIMUS_CUDA_CHECK(cudaFree(scratch));
  return best;
}

}  // namespace primus::cuda
