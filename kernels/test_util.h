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
#include "numeric/bits.h"

namespace lmul::kernels::testing {

// Short names for the bit views of numeric/bits.h (used on every line of the tests).
constexpr uint32_t B(float x) { return FloatBits(x); }
constexpr float F(uint32_t u) { return BitsFloat(u); }

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

// Kinds of GEMM operand data.
enum class Data {
  kNormal,              // N(0, 1)
  kZeros,               // a quarter zeros of either sign
  kExtreme,             // products overflow and underflow, for every format; some +0
  kSpecial,             // a few Inf, NaN, subnormals, extremes (SpecialValues)
  kNoZeros,             // N(0, 1) without zeros
  kWide,                // finite, products overflow and underflow the fp8/fp16 formats
  kTiny,                // magnitudes near 2^-63: products in [2^-126, 2^-124), sums cancel into
                        // subnormals (the FTZ of Accum::kBf16Dot); zeros and subnormal operands
  kExtremeSignedZeros,  // kExtreme with zeros of either sign
};

// Matrix of `rows x cols` with leading dimension ld (padding filled with NaN
// so that reading it shows up in the results).
inline std::vector<float> MakeMatrix(int rows, int cols, int ld, Data d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(1.0f, 2.0f);
  std::vector<float> m(static_cast<size_t>(rows) * ld, F(0x7FC00001u));
  const auto specials = SpecialValues();
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      float v = normal(rng);
      switch (d) {
        case Data::kNormal:
          break;
        case Data::kNoZeros:
          if (v == 0.0f) v = 1.0f;
          break;
        case Data::kZeros:
          if (rng() % 4 == 0) v = (rng() % 2) ? 0.0f : -0.0f;
          break;
        case Data::kExtreme:
        case Data::kExtremeSignedZeros:
          if (rng() % 3 == 0) v = std::ldexp(v, static_cast<int>(rng() % 120) - 60);
          if (rng() % 10 == 0) v = std::ldexp(v, (rng() % 2) ? 100 : -100);
          if (rng() % 10 == 0) {
            v = d == Data::kExtreme ? 0.0f : ((rng() % 2) ? 0.0f : -0.0f);
          }
          break;
        case Data::kSpecial:
          if (rng() % 50 == 0) v = specials[rng() % specials.size()];
          break;
        case Data::kWide:
          if (rng() % 3 == 0) v = std::ldexp(v, static_cast<int>(rng() % 40) - 20);
          if (rng() % 10 == 0) v = 0.0f;
          break;
        case Data::kTiny:
          v = std::ldexp(unit(rng), -63) * ((rng() % 2) ? 1.0f : -1.0f);
          if (rng() % 8 == 0) v = (rng() % 2) ? 0.0f : -0.0f;
          if (rng() % 16 == 0) v = F((rng() % 2 ? 0x80000000u : 0u) | 0x1234u);  // subnormal
          break;
      }
      m[static_cast<size_t>(r) * ld + c] = v;
    }
  }
  return m;
}

}  // namespace lmul::kernels::testing

#endif  // LMUL_KERNELS_TEST_UTIL_H_
