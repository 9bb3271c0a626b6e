// How to split the GEMMs of a GPT-2 124M step (B=4, T=64: N=256 rows) over the OpenMP threads:
// each strategy computes the same product as the backend's current column split and is checked
// against it before it is timed. Prints wall and process CPU milliseconds per call (best of the
// repetitions: the machine is shared). Usage: bench_gemm_split [reps=5] [threads=2]
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/timer.h"
#include "cpu/kernels_matmul.h"

namespace {

using primus::cpu::gemm_row_major;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<float> random_vec(size_t n, uint64_t seed) {
  primus::Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform() - 0.5f;
  return v;
}

// Calls f(part, parts) once per OpenMP thread.
void parallel(const std::function<void(int, int)>& f) {
#pragma omp parallel
  f(omp_get_thread_num(), omp_get_num_threads());
}

int64_t block_lo(int64_t n, int part, int parts) {
  const int64_t block = ((n + parts - 1) / parts + 15) / 16 * 16;
  return std::min(n, part * block);
}

struct Strategy {
  std::string name;
  std::function<void()> run;
};

// Times each strategy (after checking it against the first) on C (rows, cols), which every
// strategy overwrites (beta = 0 or a reset before each call).
void compare(const std::string& title, double gflop, std::vector<float>& C, const std::vector<Strategy>& strategies,
             int reps) {
  std::vector<float> want;
  for (size_t s = 0; s < strategies.size(); ++s) {
    std::fill(C.begin(), C.end(), 0.0f);
    strategies[s].run();
    if (s == 0) {
      want = C;
      continue;
    }
    double err = 0, mag = 0;
    for (size_t i = 0; i < C.size(); ++i) err = std::max(err, double(std::fabs(C[i] - want[i]))), mag = std::max(mag, double(std::fabs(want[i])));
    if (!(err <= 1e-4 * mag)) {
      std::printf("%s: %s differs (%.3g of %.3g)\n", title.c_str(), strategies[s].name.c_str(), err, mag);
      std::exit(1);
    }
  }
  for (const auto& s : strategies) {
    double best_wall = 1e30, best_cpu = 1e30;
    for (int r = 0; r < reps; ++r) {
      std::fill(C.begin(), C.end(), 0.0f);
      const double c0 = cpu_seconds();
      primus::Timer t;
      s.run();
      best_wall = std::min(best_wall, t.seconds());
      best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    }
    std::printf("  %-14s %-22s wall %7.2f ms (%5.1f GFLOP/s)  CPU %7.2f ms (%5.1f GFLOP/s per core)\n", title.c_str(),
                s.name.c_str(), best_wall * 1e3, gflop / best_wall, best_cpu * 1e3, gflop / best_cpu);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  omp_set_num_threads(threads);
  openblas_set_num_threads(1);
  const int64_t N = 256;
  struct Shape { const char* name; int64_t C, OC; };
  const Shape shapes[] = {{"qkv", 768, 2304}, {"attproj", 768, 768}, {"fc", 768, 3072}, {"fcproj", 3072, 768},
                          {"classifier", 768, 50304}};
  for (const Shape& sh : shapes) {
    const int64_t C = sh.C, OC = sh.OC;
    std::vector<float> inp = random_vec(N * C, 1), W = random_vec(OC * C, 2), dout = random_vec(N * OC, 3);
    std::vector<float> out(N * OC), dinp(N * C), dW(OC * C), tmp(std::max(N * OC, N * C));
    const double gflop = 2.0 * N * C * OC / 1e9;
    std::printf("%s: N=%lld C=%lld OC=%lld, %.2f GFLOP per GEMM\n", sh.name, (long long)N, (long long)C, (long long)OC, gflop);
    // Forward: out (N,OC) = inp (N,C) @ W (OC,C)^T.
    compare("forward", gflop, out, {
        {"columns (now)", [&] { parallel([&](int p, int ps) {
           const int64_t o0 = block_lo(OC, p, ps), o1 = block_lo(OC, p + 1, ps);
           if (o1 > o0) gemm_row_major<float>(false, true, N, o1 - o0, C, 1.f, inp.data(), C, W.data() + o0 * C, C, 0.f, out.data() + o0, OC);
         }); }},
        {"rows", [&] { parallel([&](int p, int ps) {
           const int64_t n0 = N * p / ps, n1 = N * (p + 1) / ps;
           gemm_row_major<float>(false, true, n1 - n0, OC, C, 1.f, inp.data() + n0 * C, C, W.data(), C, 0.f, out.data() + n0 * OC, OC);
         }); }},
        {"columns x 512", [&] {
#pragma omp parallel for schedule(static)
           for (int64_t o0 = 0; o0 < OC; o0 += 512) {
             const int64_t o1 = std::min(OC, o0 + 512);
             gemm_row_major<float>(false, true, N, o1 - o0, C, 1.f, inp.data(), C, W.data() + o0 * C, C, 0.f, out.data() + o0, OC);
           } }},
        {"openblas threads", [&] {
           openblas_set_num_threads(threads);
           gemm_row_major<float>(false, true, N, OC, C, 1.f, inp.data(), C, W.data(), C, 0.f, out.data(), OC);
           openblas_set_num_threads(1); }},
    }, reps);
    // Input gradient: dinp (N,C) = dout (N,OC) @ W (OC,C).
    compare("dinp", gflop, dinp, {
        {"columns (now)", [&] { parallel([&](int p, int ps) {
           const int64_t c0 = block_lo(C, p, ps), c1 = block_lo(C, p + 1, ps);
           if (c1 > c0) gemm_row_major<float>(false, false, N, c1 - c0, OC, 1.f, dout.data(), OC, W.data() + c0, C, 1.f, dinp.data() + c0, C);
         }); }},
        {"rows", [&] { parallel([&](int p, int ps) {
           const int64_t n0 = N * p / ps, n1 = N * (p + 1) / ps;
           gemm_row_major<float>(false, false, n1 - n0, C, OC, 1.f, dout.data() + n0 * OC, OC, W.data(), C, 1.f, dinp.data() + n0 * C, C);
         }); }},
        {"inner split + add", [&] {
           parallel([&](int p, int ps) {
             const int64_t k0 = block_lo(OC, p, ps), k1 = block_lo(OC, p + 1, ps);
             float* dst = p == 0 ? dinp.data() : tmp.data();
             gemm_row_major<float>(false, false, N, C, k1 - k0, 1.f, dout.data() + k0, OC, W.data() + k0 * C, C, p == 0 ? 1.f : 0.f, dst, C);
           });
#pragma omp parallel for simd schedule(static)
           for (int64_t i = 0; i < N * C; ++i) dinp[i] += tmp[i]; }},
        {"openblas threads", [&] {
           openblas_set_num_threads(threads);
           gemm_row_major<float>(false, false, N, C, OC, 1.f, dout.data(), OC, W.data(), C, 1.f, dinp.data(), C);
           openblas_set_num_threads(1); }},
    }, reps);
    // Weight gradient: dW (OC,C) += dout^T (OC,N) @ inp (N,C).
    compare("dweight", gflop, dW, {
        {"rows (now)", [&] { parallel([&](int p, int ps) {
           const int64_t o0 = block_lo(OC, p, ps), o1 = block_lo(OC, p + 1, ps);
           if (o1 > o0) gemm_row_major<float>(true, false, o1 - o0, C, N, 1.f, dout.data() + o0, OC, inp.data(), C, 1.f, dW.data() + o0 * C, C);
         }); }},
        {"columns", [&] { parallel([&](int p, int ps) {
           const int64_t c0 = block_lo(C, p, ps), c1 = block_lo(C, p + 1, ps);
           if (c1 > c0) gemm_row_major<float>(true, false, OC, c1 - c0, N, 1.f, dout.data(), OC, inp.data() + c0, C, 1.f, dW.data() + c0, C);
         }); }},
        {"rows x 512", [&] {
#pragma omp parallel for schedule(static)
           for (int64_t o0 = 0; o0 < OC; o0 += 512) {
             const int64_t o1 = std::min(OC, o0 + 512);
             gemm_row_major<float>(true, false, o1 - o0, C, N, 1.f, dout.data() + o0, OC, inp.data(), C, 1.f, dW.data() + o0 * C, C);
           } }},
        {"openblas threads", [&] {
           openblas_set_num_threads(threads);
           gemm_row_major<float>(true, false, OC, C, N, 1.f, dout.data(), OC, inp.data(), C, 1.f, dW.data(), C);
           openblas_set_num_threads(1); }},
    }, reps);
  }
  return 0;
}
