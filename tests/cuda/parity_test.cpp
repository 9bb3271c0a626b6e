// Parity of every CUDA op against the CPU reference backend: one table of cases (op x dtype x odd
// shapes). Each case lists its tensors (inputs; written outputs, poisoned with NaN first;
// accumulated outputs, starting from random values) and one function that runs the op(s) on a
// Backend; the same function runs on both backends and every output is compared with per-dtype
// tolerances. bf16 inputs are rounded to bf16 on both sides. Skipped where no GPU is present.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cuda/cuda_backend.h"
#include "parity.h"

namespace primus::parity {

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

namespace {

struct Prepared {
  std::vector<Buffer> buffers;
  std::vector<Tensor> tensors;
};

// Allocates and fills every argument on `be` (dtype per Kind; the CPU gets fp32 for kAct).
Prepared prepare(Backend& be, const Case& c, const std::vector<std::vector<float>>& values, bool gpu) {
  Prepared r;
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Arg& a = c.args[i];
    if (a.shape.numel() == 0) {
      r.tensors.push_back(Tensor{});
      r.buffers.emplace_back();
      continue;
    }
    DType dt = a.kind == Kind::kI32 ? DType::kI32 : (a.kind == Kind::kAct && gpu ? c.dtype : DType::kF32);
    Buffer buf = be.alloc(static_cast<size_t>(a.shape.numel()) * dtype_size(dt));
    Tensor t = buf.as(dt, a.shape);
    const std::vector<float>& v = values[i];
    if (dt == DType::kI32) {
      std::vector<int32_t> iv(v.begin(), v.end());
      be.copy_from_host(t, iv.data());
    } else if (dt == DType::kBF16) {
      std::vector<uint16_t> hv(v.size());
      for (size_t k = 0; k < v.size(); ++k) hv[k] = bf16_from_float(v[k]);
      be.copy_from_host(t, hv.data());
    } else {
      be.copy_from_host(t, v.data());
    }
    if (a.role == Role::kOut) be.fill(t, std::nanf(""));
    r.tensors.push_back(t);
    r.buffers.push_back(std::move(buf));
  }
  return r;
}

std::vector<float> download(Backend& be, const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (t.dtype == DType::kBF16) {
    std::vector<uint16_t> h(v.size());
    be.copy_to_host(h.data(), t);
    for (size_t k = 0; k < v.size(); ++k) v[k] = bf16_to_float(h[k]);
  } else if (t.dtype == DType::kI32) {
    std::vector<int32_t> h(v.size());
    be.copy_to_host(h.data(), t);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(h[k]);
  } else {
    be.copy_to_host(v.data(), t);
  }
  return v;
}

bool gpu_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

class CudaParity : public ::testing::TestWithParam<Case> {};

TEST_P(CudaParity, MatchesCpu) {
  if (!gpu_present()) GTEST_SKIP() << "no CUDA GPU on this machine";
  const Case& c = GetParam();
  std::vector<std::vector<float>> values;
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Arg& a = c.args[i];
    std::vector<float> v = a.init.empty() ? randn(a.shape.numel(), 1000 + static_cast<uint32_t>(i)) : a.init;
    ASSERT_EQ(static_cast<int64_t>(v.size()), a.shape.numel()) << a.name;
    if (a.kind == Kind::kAct && c.dtype == DType::kBF16)
      for (float& x : v) x = round_bf16(x);
    values.push_back(std::move(v));
  }
  auto cpu = cpu::make_cpu_backend(1);
  auto gpu = cuda::make_cuda_backend(0);
  Prepared rc = prepare(*cpu, c, values, false);
  Prepared rg = prepare(*gpu, c, values, true);
  c.op(*cpu, rc.tensors);
  c.op(*gpu, rg.tensors);
  gpu->synchronize();
  const Tolerance tol = tolerance_for(c.dtype);
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Arg& a = c.args[i];
    if (a.role == Role::kIn || rc.tensors[i].empty()) continue;
    std::vector<float> want = download(*cpu, rc.tensors[i]), got = download(*gpu, rg.tensors[i]);
    double scale = 0;
    for (float x : want) scale = std::max(scale, std::fabs(double(x)));
    int bad = 0;
    for (size_t k = 0; k < want.size(); ++k) {
      const double w = want[k], g = got[k];
      if (!(std::fabs(g - w) <= tol.rtol * std::fabs(w) + tol.atol * std::max(scale, 1e-3))) {  // NaN fails
        if (++bad <= 5) ADD_FAILURE() << c.name << ": " << a.name << "[" << k << "] gpu " << g << " cpu " << w;
      }
    }
    EXPECT_EQ(bad, 0) << c.name << ": " << a.name << " has " << bad << " of " << want.size() << " elements off";
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

std::vector<Case> all_cases() {
  std::vector<Case> all = cases_for(DType::kF32), bf = cases_for(DType::kBF16);
  all.insert(all.end(), bf.begin(), bf.end());
  for (DType dt : {DType::kF32, DType::kBF16}) {
    std::vector<Case> norms = norm_cases_for(dt);
    all.insert(all.end(), norms.begin(), norms.end());
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaParity, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace primus::parity
