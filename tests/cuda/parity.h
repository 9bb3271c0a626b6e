// The parity table's vocabulary: a case lists its tensors and one function that runs the op(s)
// on any Backend (see parity_test.cpp). Cases live in parity_cases.cpp.
#pragma once
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"

namespace primus::parity {

enum class Kind { kAct, kF32, kI32 };  // dtype on the GPU: the case's dtype, fp32, int32
enum class Role { kIn, kOut, kAcc };   // input; written output; accumulated output

struct Arg {
  std::string name;
  Shape shape;
  Kind kind = Kind::kAct;
  Role role = Role::kIn;
  std::vector<float> init;  // empty: random normal (or filled by the case)
};

using OpFn = std::function<void(Backend&, std::vector<Tensor>&)>;

struct Case {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<Arg> args;
  OpFn op;
};

struct Tolerance {
  double rtol, atol;  // |gpu - cpu| <= rtol*|cpu| + atol*max|cpu|
};
inline Tolerance tolerance_for(DType dt) { return dt == DType::kBF16 ? Tolerance{2e-2, 1e-2} : Tolerance{2e-4, 2e-5}; }

inline float round_bf16(float x) { return bf16_to_float(bf16_from_float(x)); }

inline std::vector<float> randn(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

inline std::vector<float> ints(int64_t n, int64_t hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, hi - 1);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(dist(gen));
  return v;
}

// Arguments shorthand.
inline Arg in(std::string n, Shape s, std::vector<float> init = {}) { return {std::move(n), s, Kind::kAct, Role::kIn, std::move(init)}; }
inline Arg out(std::string n, Shape s) { return {std::move(n), s, Kind::kAct, Role::kOut, {}}; }
inline Arg acc(std::string n, Shape s, std::vector<float> init = {}) { return {std::move(n), s, Kind::kAct, Role::kAcc, std::move(init)}; }
inline Arg stat(std::string n, Shape s) { return {std::move(n), s, Kind::kF32, Role::kOut, {}}; }
inline Arg f32in(std::string n, Shape s, std::vector<float> init = {}) { return {std::move(n), s, Kind::kF32, Role::kIn, std::move(init)}; }
inline Arg f32acc(std::string n, Shape s, std::vector<float> init = {}) { return {std::move(n), s, Kind::kF32, Role::kAcc, std::move(init)}; }
inline Arg i32in(std::string n, Shape s, std::vector<float> init) { return {std::move(n), s, Kind::kI32, Role::kIn, std::move(init)}; }
inline Arg none(std::string n) { return {std::move(n), Shape{0}, Kind::kAct, Role::kIn, {}}; }

// cos, sin (T, HS/2) for rope, base 10000.
inline std::pair<std::vector<float>, std::vector<float>> rope_tables(int64_t T, int64_t HS) {
  std::vector<float> c, s;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < HS / 2; ++i) {
      double theta = t * std::pow(10000.0, -2.0 * i / HS);
      c.push_back(static_cast<float>(std::cos(theta)));
      s.push_back(static_cast<float>(std::sin(theta)));
    }
  return {c, s};
}

// The table: every op for one dtype.
std::vector<Case> cases_for(DType dt);
// The norms' cases at model widths (norm_parity_cases.cpp).
std::vector<Case> norm_cases_for(DType dt);

}  // namespace primus::parity
