// Deterministic random numbers whose whole state is one 64-bit word, so checkpoints can save and
// restore it exactly (xorshift64*, as in llm.c, plus Box-Muller normals).
#pragma once
#include <cmath>
#include <cstdint>

namespace primus {

class Rng {
 public:
  explicit Rng(uint64_t seed = 1337) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

  uint32_t next_u32() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
  }
  uint64_t next_u64() { return (static_cast<uint64_t>(next_u32()) << 32) | next_u32(); }
  // Uniform in [0, 1).
  float uniform() { return static_cast<float>(next_u32() >> 8) / 16777216.0f; }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return next_u64() % n; }
  float normal(float mean = 0.0f, float stddev = 1.0f) {
    float u1 = uniform(), u2 = uniform();
    if (u1 < 1e-12f) u1 = 1e-12f;
    return mean + stddev * std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853071795864f * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace primus
