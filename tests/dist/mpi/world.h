// The world communicator shared by the multi-process tests, and small helpers for rank-dependent
// test data (never all zeros, different on every rank, exactly representable in bf16).
#pragma once
#include <vector>

#include "dist/comm.h"

namespace primus::dist::testing {

Comm& world();

// Element i of rank r: small integers and halves, exact in fp32 and bf16 after a few additions.
inline float rank_value(int r, int64_t i) { return static_cast<float>((r + 1) * 3 + (i % 7)) * 0.5f - 2.0f; }

inline Tensor host_tensor(std::vector<float>& v) {
  return Tensor{v.data(), DType::kF32, Shape{static_cast<int64_t>(v.size())}, DeviceKind::kCPU};
}

}  // namespace primus::dist::testing
