// Test helpers shared by the kernels tests: arithmetic lists and input generators.
#ifndef LMUL_KERNELS_TEST_UTIL_H_
#define LMUL_KERNELS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "numeric/arith.h"

namespace lmul::kernels::testing {

inline uint32_t B(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float F(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// Every op x format x rounding (x wide for exact); e8mK sampled unless `all_e8m`.
inline std::vector<Arith> AllAriths(bool all_e8m = false) {
  std::vector<std::string> formats = {"fp32", "bf16", "fp16", "e5m2", "e4m3"};
  for (int k = 1; k <= 22; ++k) {
    if (all_e8m || k <= 5 || k == 7 || k == 10 || k == 15 || k == 22) {
      formats.push_back("e8m" + std::to_string(k));
    }
  }
  std::vector<Arith> out;
  for (const char* op : {"lmul", "mitchell", "exact"}) {
    for (const auto& f : formats) {
      for (const char* r : {"rne", "trunc"}) {
        out.push_back(*Arith::Parse(std::string(op) + "/" + f + "," + r));
        if (std::string(op) == "exact") {
          out.push_back(*Arith::Parse(std::string(op) + "/" + f + "," + r + ",wide"));
        }
      }
    }
  }
  return out;
}

inline std::vector<float> SpecialValues() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f,           -0.0f,          1.0f,
                          -1.0f,          1.5f,           -1.75f,
                          2.0f,           0.5f,           inf,
                          -inf,           F(0x7FC00000u), F(0xFFC00000u),
                          F(0x7F800001u), F(0xFFBFFFFFu), F(0x00000001u),
                          F(0x80000001u), F(0x007FFFFFu), F(0x00800000u),
                          F(0x80800000u), F(0x7F7FFFFFu), F(0xFF7FFFFFu),
                          448.0f,         464.0f,         -480.0f,
                          57344.0f,       61440.0f,       65504.0f,
                          65520.0f,       -65536.0f,      1e-5f,
                          6.1e-5f,        5.96e-8f,       2.98e-8f,
                          1.5258789e-05f, 0.001953125f,   0.0009765625f,
                          1e30f,          -1e-30f,        3e38f,
                          1e-38f,         1e-39f,         1e-45f,
                          0.99999994f,    1.0000001f,     F(0x3FBFFFFFu),
                          F(0x3FC00000u), F(0x3F7F8000u), F(0x3F808000u)};
  return v;
}

// A mix of: random bit patterns, values of moderate magnitude, and specials.
inline std::vector<float> RandomInputs(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto special = SpecialValues();
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t kind = rng() % 8;
    if (kind == 0) {
      v[i] = F(static_cast<uint32_t>(rng()));
    } else if (kind == 1) {
      v[i] = special[rng() % special.size()];
    } else {
      // sign, exponent in [-20, 20], random mantissa
      const uint32_t e = 127 - 20 + rng() % 41;
      v[i] = F((rng() & 0x80000000u) | (e << 23) | (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
    }
  }
  return v;
}

// GEMM outputs C (M x N, row stride ldc) bit-exact, except that a NaN matches any NaN
// (NaN payloads after fp32 adds are not specified: the compiler may commute an add); the
// padding between rows (filled with 0xDEADBEEF by the caller) must be untouched.
inline void ExpectSame(const std::vector<float>& got, const std::vector<float>& want, int M, int N,
                       int ldc, const std::string& what) {
  long bad = 0;
  for (int i = 0; i < M; ++i) {
    for (int n = 0; n < N; ++n) {
      const float g = got[static_cast<size_t>(i) * ldc + n],
                  w = want[static_cast<size_t>(i) * ldc + n];
      if (std::isnan(g) && std::isnan(w)) continue;
      if (B(g) != B(w) && ++bad <= 3) {
        ADD_FAILURE() << what << " C(" << i << "," << n << ") got " << g << " (0x" << std::hex
                      << B(g) << ") want " << w << " (0x" << B(w) << ")" << std::dec;
      }
    }
    for (int n = N; n < ldc; ++n) {
      ASSERT_EQ(B(got[static_cast<size_t>(i) * ldc + n]), 0xDEADBEEFu) << what << " padding";
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

}  // namespace lmul::kernels::testing

#endif  // LMUL_KERNELS_TEST_UTIL_H_
