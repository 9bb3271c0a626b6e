// cuBLASLt GEMMs (see matmul.h). Descriptors are cheap and built per call; the heuristic query is
// not, so its answer is cached per (shape, layout, dtypes, epilogue, beta, pointer alignment).
#include "cuda/matmul.h"

#include <fmt/format.h>

#include <algorithm>

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

GemmRunner::GemmRunner(cudaStream_t stream) : stream_(stream) {
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
  if (epilogue == Epilogue::kBias && !bias) epi = CUBLASLT_EPILOGUE_DEFAULT;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  if (bias) {
    PRIMUS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    cudaDataType_t bias_type = type;
    PRIMUS_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
  }
  if (epilogue == Epilogue::kGeluAux || epilogue == Epilogue::kDGelu) {
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
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, desc, la.layout, lb.layout, ld.layout, ld.layout,
                                                       pref, 1, &result, &found);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0) return false;  // this shape/epilogue is not implemented
    it = algos_.emplace(key, result.algo).first;
  }
  const float alpha = 1.0f;
  PRIMUS_CUBLAS_CHECK(cublasLtMatmul(handle_, desc, &alpha, A, la.layout, B, lb.layout, &beta, D, ld.layout, D,
                                     ld.layout, &it->second, workspace_, workspace_bytes_, stream_));
  return true;
}

}  // namespace primus::cuda
