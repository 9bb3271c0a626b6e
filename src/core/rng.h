// Deterministic random numbers whose whole state is one 64-bit word, so checkpoints can save and
// restore it exactly (xorshift64*, as in llm.c, plus Box-Muller normals). fill_normal() splits a
// long run of normals over threads by jumping ahead, with the serial values; run_starts() gives the
// states at which equal runs of one long sequence start, for drawing it on a device.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/rng_draw.h"

namespace primus {

class Rng {
 public:
  explicit Rng(uint64_t seed = 1337) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

  uint32_t next_u32() { return rng_next_u32(state_); }
  uint64_t next_u64() { return (static_cast<uint64_t>(next_u32()) << 32) | next_u32(); }
  // Uniform in [0, 1).
  float uniform() { return rng_uniform(next_u32()); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return next_u64() % n; }
  float normal(float mean = 0.0f, float stddev = 1.0f) {
    const float u1 = uniform(), u2 = uniform();
    return rng_normal(u1, u2, mean, stddev);
  }
  // Advances the state as `steps` calls of next_u32() would (xorshift is linear over GF(2): the
  // step matrix raised to `steps` by squaring, 64x64 bits).
  void jump(uint64_t steps) { state_ = apply(power(steps), state_); }
  // The states at which `count` consecutive runs of `steps` next_u32() calls each begin, the first
  // being the current state (which is left unchanged): runs[k] == the state after k * steps calls.
  std::vector<uint64_t> run_starts(uint64_t steps, int64_t count) const;
  // out[i] = normal(mean, stddev) for i in [0, n): exactly the values and final state of n calls
  // of normal(), computed by up to `threads` threads, each jumping to its part of the sequence.
  void fill_normal(float* out, int64_t n, float mean, float stddev, int threads);

 private:
  using Matrix = std::array<uint64_t, 64>;   // column j: the image of bit j
  static uint64_t apply(const Matrix& m, uint64_t v) {
    uint64_t r = 0;
    for (int j = 0; j < 64; ++j)
      if (v >> j & 1) r ^= m[j];
    return r;
  }
  static Matrix multiply(const Matrix& a, const Matrix& b) {   // a * b: b first
    Matrix r{};
    for (int j = 0; j < 64; ++j) r[j] = apply(a, b[j]);
    return r;
  }
  // The matrix of `steps` generator steps (the one-step matrix raised to `steps` by squaring).
  static Matrix power(uint64_t steps) {
    Matrix step{}, acc{};
    for (int j = 0; j < 64; ++j) {
      uint64_t s = uint64_t{1} << j;
      s ^= s >> 12;
      s ^= s << 25;
      s ^= s >> 27;
      step[j] = s;
      acc[j] = uint64_t{1} << j;
    }
    for (; steps > 0; steps >>= 1) {
      if (steps & 1) acc = multiply(step, acc);
      step = multiply(step, step);
    }
    return acc;
  }
  uint64_t state_;
};

inline std::vector<uint64_t> Rng::run_starts(uint64_t steps, int64_t count) const {
  // Applying the jump matrix one byte of the state at a time: 8 table lookups a run.
  const Matrix m = power(steps);
  std::vector<std::array<uint64_t, 256>> table(8);
  for (int b = 0; b < 8; ++b)
    for (uint64_t x = 0; x < 256; ++x) table[static_cast<size_t>(b)][x] = apply(m, x << (8 * b));
  std::vector<uint64_t> starts(static_cast<size_t>(std::max<int64_t>(count, 0)));
  uint64_t s = state_;
  for (uint64_t& start : starts) {
    start = s;
    uint64_t next = 0;
    for (int b = 0; b < 8; ++b) next ^= table[static_cast<size_t>(b)][(s >> (8 * b)) & 0xff];
    s = next;
  }
  return starts;
}

inline void Rng::fill_normal(float* out, int64_t n, float mean, float stddev, int threads) {
  constexpr int64_t kMinPerThread = int64_t{1} << 20;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, n / kMinPerThread));
  if (parts == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = normal(mean, stddev);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n + parts - 1) / parts;
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t begin = p * chunk, end = std::min(n, begin + chunk);
    Rng part(*this);
    part.jump(2 * static_cast<uint64_t>(begin));   // normal() takes two draws
    pool.emplace_back([part, out, begin, end, mean, stddev]() mutable {
      for (int64_t i = begin; i < end; ++i) out[i] = part.normal(mean, stddev);
    });
  }
  for (std::thread& t : pool) t.join();
  jump(2 * static_cast<uint64_t>(n));
}

}  // namespace primus
