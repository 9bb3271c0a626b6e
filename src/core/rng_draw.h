// One step of Primus's random generator (xorshift64*) and the transforms of its output to uniform
// and normal numbers, written once for the host (core::Rng) and the CUDA kernels that draw the
// initial weights on the device, so both walk the same sequence. Plain C++ plus <cmath>: this
// header compiles under nvcc.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define PRIMUS_HOST_DEVICE __host__ __device__
#else
#define PRIMUS_HOST_DEVICE
#endif

namespace primus {

// Advances `state` one step and returns the next 32 random bits.
PRIMUS_HOST_DEVICE inline uint32_t rng_next_u32(uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
}

// Uniform in [0, 1) from 32 random bits (their top 24).
PRIMUS_HOST_DEVICE inline float rng_uniform(uint32_t bits) { return static_cast<float>(bits >> 8) / 16777216.0f; }

// Box-Muller from two uniforms (the cosine branch). u1 and u2 are exact on both sides; sqrtf is
// correctly rounded on both; logf and cosf may differ by an ulp or two between the host's libm
// and the device's.
PRIMUS_HOST_DEVICE inline float rng_normal(float u1, float u2, float mean, float stddev) {
  if (u1 < 1e-12f) u1 = 1e-12f;
  return mean + stddev * sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

}  // namespace primus
