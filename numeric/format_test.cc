// Formats: encode/decode round trips (exhaustive for every 8- and 16-bit code),
// rounding on each format's boundaries, and random fp32 inputs against the
// value-domain oracle.
#include "numeric/format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "numeric/testing/value_oracle.h"

namespace lmul {
namespace {

std::vector<Format> AllFormats() {
  std::vector<Format> v = {Format::Fp32(), Format::Bf16(), Format::Fp16(), Format::E5M2(),
                           Format::E4M3()};
  for (int k = 1; k <= 23; ++k) v.push_back(Format::E8M(k));
  return v;
}

TEST(FormatTest, ParseAndName) {
  for (const Format& f : AllFormats()) {
    auto p = Format::Parse(f.Name());
    ASSERT_TRUE(p.ok()) << f.Name();
    EXPECT_EQ(*p, f);
  }
  for (const char* bad : {"", "fp8", "e8m0", "e8m24", "e8m", "e8m07", "E4M3", "bf16 ", "e8m1x"}) {
    auto p = Format::Parse(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_NE(p.error().find("valid formats"), std::string::npos);
    }
  }
}

TEST(FormatTest, Constants) {
  EXPECT_EQ(Format::E4M3().MaxFiniteField(), 0x7Eu);
  EXPECT_EQ(Format::E5M2().MaxFiniteField(), 0x7Bu);
  EXPECT_EQ(Format::Bf16().MaxFiniteField(), 0x7F7Fu);
  EXPECT_EQ(Format::Fp16().MaxFiniteField(), 0x7BFFu);
  EXPECT_EQ(Decode(Format::E4M3(), 0x7E), 448.0f);
  EXPECT_EQ(Decode(Format::E5M2(), 0x7B), 57344.0f);
  EXPECT_EQ(Decode(Format::Fp16(), 0x7BFF), 65504.0f);
  EXPECT_EQ(Decode(Format::E4M3(), 0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(Decode(Format::E5M2(), 0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(Decode(Format::Fp16(), 0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isnan(Decode(Format::E4M3(), 0x7F)));
  EXPECT_TRUE(std::isnan(Decode(Format::E4M3(), 0xFF)));
  EXPECT_EQ(Decode(Format::E4M3(), 0xFE), -448.0f);
  EXPECT_TRUE(std::isinf(Decode(Format::E5M2(), 0x7C)));
}

// Every code of every format of width <= 16 decodes to the oracle's value and
// re-encodes to itself (NaNs to a NaN) under both roundings.
TEST(FormatTest, ExhaustiveDecodeEncodeRoundTrip) {
  for (const Format& f : AllFormats()) {
    if (f.Width() > 16) continue;
    for (uint32_t code = 0; code < (1u << f.Width()); ++code) {
      const float v = Decode(f, code);
      ASSERT_TRUE(oracle::SameValue(oracle::Value(f, code), v)) << f.Name() << " code " << code;
      for (Rounding r : {Rounding::kRne, Rounding::kTrunc}) {
        const uint32_t back = Encode(f, v, r);
        if (f.IsNan(code)) {
          ASSERT_TRUE(f.IsNan(back)) << f.Name() << " code " << code;
        } else {
          ASSERT_EQ(back, code) << f.Name() << " " << RoundingName(r) << " value " << v;
        }
      }
    }
  }
}

// Random fp32 bit patterns (all exponents, specials included) reduce exactly as
// the value-domain oracle rounds them.
TEST(FormatTest, RandomInputsMatchOracle) {
  std::mt19937 rng(12345);
  for (const Format& f : AllFormats()) {
    for (Rounding r : {Rounding::kRne, Rounding::kTrunc}) {
      for (int i = 0; i < 20000; ++i) {
        uint32_t bits = rng();
        if (i % 4 == 0) {
          // Concentrate near the format's range so rounding cases are dense.
          const int e = static_cast<int>(rng() % (2 * f.bias + 40)) - f.bias - 20 + 127;
          bits = (bits & 0x807FFFFFu) | (static_cast<uint32_t>(std::clamp(e, 0, 255)) << 23);
        }
        const float x = BitsFloat(bits);
        const float got = Reduce(f, x, r);
        const double want = oracle::Round(f, static_cast<double>(x), r);
        ASSERT_TRUE(oracle::SameValue(want, got))
            << f.Name() << " " << RoundingName(r) << " x=" << x << " (0x" << std::hex << bits
            << ") got " << got << " want " << want;
      }
    }
  }
}

struct Case {
  const char* format;
  float in;
  Rounding r;
  float want;
};

TEST(FormatTest, RoundingBoundaries) {
  const float inf = INFINITY;
  const Rounding N = Rounding::kRne, T = Rounding::kTrunc;
  const std::vector<Case> cases = {
      // bf16: ulp at 1 is 2^-7. Halfway cases round to even.
      {"bf16", 1.0f + 0x1p-8f, N, 1.0f},
      {"bf16", 1.0f + 3 * 0x1p-8f, N, 1.0f + 0x1p-6f},
      {"bf16", 1.0f + 0x1p-8f + 0x1p-20f, N, 1.0f + 0x1p-7f},
      {"bf16", 1.0f + 0x1p-7f - 0x1p-20f, T, 1.0f},
      {"bf16", -(1.0f + 0x1p-7f - 0x1p-20f), T, -1.0f},
      {"bf16", 0x1.FEp127f, N, 0x1.FEp127f},  // max finite
      {"bf16", 0x1.FFp127f, N, inf},          // halfway above max -> Inf
      {"bf16", 0x1.FFp127f, T, 0x1.FEp127f},  // trunc saturates
      {"bf16", inf, T, inf},
      {"bf16", 0x1p-133f, N, 0x1p-133f},  // smallest subnormal
      {"bf16", 0x1p-134f, N, 0.0f},       // half of it: tie to even 0
      {"bf16", 0x1.8p-134f, N, 0x1p-133f},
      {"bf16", 0x1.8p-134f, T, 0.0f},
      // fp16
      {"fp16", 65504.0f, N, 65504.0f},
      {"fp16", 65519.0f, N, 65504.0f},
      {"fp16", 65520.0f, N, inf},
      {"fp16", 1e6f, T, 65504.0f},
      {"fp16", -1e6f, T, -65504.0f},
      {"fp16", 0x1p-24f, N, 0x1p-24f},
      {"fp16", 0x1p-25f, N, 0.0f},
      {"fp16", 0x1.000002p-25f, N, 0x1p-24f},
      {"fp16", 3 * 0x1p-25f, N, 2 * 0x1p-24f},
      {"fp16", 0x1.FFCp-15f, T, 0x1.FF8p-15f},  // subnormal truncation
      {"fp16", -0x1p-30f, T, -0.0f},
      // e4m3 (FN): no Inf, saturation
      {"e4m3", 448.0f, N, 448.0f},
      {"e4m3", 464.0f, N, 448.0f},  // tie: 448 has even mantissa
      {"e4m3", 470.0f, N, 448.0f},  // would be 480: saturates
      {"e4m3", 1e9f, N, 448.0f},
      {"e4m3", -1e9f, T, -448.0f},
      {"e4m3", 300.0f, N, 288.0f},
      {"e4m3", 0x1p-9f, N, 0x1p-9f},
      {"e4m3", 0x1p-10f, N, 0.0f},
      {"e4m3", 0x1.8p-10f, N, 0x1p-9f},
      {"e4m3", 1.0625f, N, 1.0f},   // tie to even
      {"e4m3", 1.1875f, N, 1.25f},  // tie to even (up)
      {"e4m3", 1.2f, T, 1.125f},
      // e5m2
      {"e5m2", 57344.0f, N, 57344.0f},
      {"e5m2", 61440.0f, N, inf},  // tie above max -> Inf
      {"e5m2", 61439.0f, N, 57344.0f},
      {"e5m2", 1e9f, T, 57344.0f},
      {"e5m2", 0x1p-16f, N, 0x1p-16f},
      {"e5m2", 0x1p-17f, N, 0.0f},
      {"e5m2", 300.0f, T, 256.0f},
      // e8m3
      {"e8m3", 1.5f, T, 1.5f},
      {"e8m3", 1.99f, T, 1.875f},
      {"e8m3", 1.99f, N, 2.0f},
      {"e8m3", 0x1.FFFFFEp127f, N, inf},
      {"e8m3", 0x1.FFFFFEp127f, T, 0x1.Ep127f},
      {"e8m3", 0x1p-149f, T, 0.0f},  // e8m3 smallest subnormal 2^-129
      {"e8m3", 0x1p-129f, T, 0x1p-129f},
      // fp32: identity
      {"fp32", 0x1p-149f, N, 0x1p-149f},
      {"fp32", 0x1.FFFFFEp127f, T, 0x1.FFFFFEp127f},
  };
  for (const Case& c : cases) {
    const Format f = *Format::Parse(c.format);
    const float got = Reduce(f, c.in, c.r);
    EXPECT_TRUE(oracle::SameValue(c.want, got)) << c.format << " " << RoundingName(c.r) << " "
                                                << c.in << ": got " << got << " want " << c.want;
    // The oracle agrees with the hand-written expectation too.
    EXPECT_TRUE(oracle::SameValue(oracle::Round(f, c.in, c.r), c.want)) << c.format << " " << c.in;
  }
}

// The same boundaries derived from each format's parameters, for all 28 formats:
// ties at 1, max finite and the half-ulp above it, the smallest subnormal and
// the ties around it. Expectations are written from the rules, not the oracle.
TEST(FormatTest, RoundingBoundariesEveryFormat) {
  const Rounding N = Rounding::kRne, T = Rounding::kTrunc;
  for (const Format& f : AllFormats()) {
    const int m = f.man_bits;
    const float ulp1 = std::ldexp(1.0f, -m);
    const float maxf = Decode(f, f.MaxFiniteField());
    const float max_ulp = maxf - Decode(f, f.MaxFiniteField() - 1);
    const float sub = std::ldexp(1.0f, 1 - f.bias - m);  // smallest subnormal
    const float over = f.has_inf ? INFINITY : maxf;
    struct C {
      float in;
      Rounding r;
      float want;
    };
    std::vector<C> cases = {
        {1.0f, N, 1.0f},
        {1.0f + ulp1, N, 1.0f + ulp1},
        {-(1.0f + ulp1), T, -(1.0f + ulp1)},
        {maxf, N, maxf},
        {maxf, T, maxf},
        {-maxf, N, -maxf},
        {sub, N, sub},
        {sub, T, sub},
        {-sub, T, -sub},
    };
    if (m < 23) {
      cases.push_back({1.0f + ulp1 / 2, N, 1.0f});                 // tie -> even (down)
      cases.push_back({1.0f + 3 * ulp1 / 2, N, 1.0f + 2 * ulp1});  // tie -> even (up)
      cases.push_back({1.0f + ulp1 / 2, T, 1.0f});
      if (m <= 21) {  // 1 + 3/4 ulp needs m + 2 bits
        cases.push_back({1.0f + ulp1 - ulp1 / 4, T, 1.0f});
        cases.push_back({1.0f + ulp1 - ulp1 / 4, N, 1.0f + ulp1});
      }
      // max finite + half ulp: IEEE overflows (tie goes to the even neighbour,
      // which is 2^(emax+1)); e4m3 saturates. trunc stays at max finite.
      if (std::isfinite(maxf + max_ulp / 2)) {
        cases.push_back({maxf + max_ulp / 2, N, over});
        cases.push_back({-(maxf + max_ulp / 2), N, -over});
        cases.push_back({maxf + max_ulp / 2, T, maxf});
        cases.push_back({maxf + max_ulp / 4, N, maxf});
      }
    }
    if (f.exp_bits < 8 || m < 23) {
      // Below the subnormal grid: ties at half the smallest subnormal.
      cases.push_back({sub / 2, N, 0.0f});  // tie -> even (zero)
      cases.push_back({-sub / 2, N, -0.0f});
      cases.push_back({sub * 1.5f, N, 2 * sub});  // tie -> even (2 sub)
      cases.push_back({sub * 1.5f, T, sub});
      if (sub >= 0x1p-147f) {  // 3/4 of it must be an fp32 value
        cases.push_back({sub * 0.75f, N, sub});
        cases.push_back({sub * 0.75f, T, 0.0f});
        cases.push_back({-sub * 0.75f, T, -0.0f});
      }
    }
    if (maxf < 1e38f) {
      cases.push_back({1e38f, N, over});
      cases.push_back({-1e38f, T, -maxf});
    }
    for (const C& c : cases) {
      const float got = Reduce(f, c.in, c.r);
      EXPECT_TRUE(oracle::SameValue(c.want, got)) << f.Name() << " " << RoundingName(c.r) << " "
                                                  << c.in << ": got " << got << " want " << c.want;
    }
  }
}

TEST(FormatTest, SpecialInputs) {
  for (const Format& f : AllFormats()) {
    for (Rounding r : {Rounding::kRne, Rounding::kTrunc}) {
      EXPECT_TRUE(std::isnan(Reduce(f, NAN, r))) << f.Name();
      EXPECT_TRUE(std::isnan(Reduce(f, -NAN, r))) << f.Name();
      const float pinf = Reduce(f, INFINITY, r), ninf = Reduce(f, -INFINITY, r);
      if (f.has_inf) {
        EXPECT_EQ(pinf, INFINITY) << f.Name();
        EXPECT_EQ(ninf, -INFINITY) << f.Name();
      } else {
        EXPECT_TRUE(std::isnan(pinf) && std::isnan(ninf)) << f.Name() << ": Inf input becomes NaN";
      }
      EXPECT_TRUE(oracle::SameValue(0.0, Reduce(f, 0.0f, r)));
      EXPECT_TRUE(oracle::SameValue(-0.0, Reduce(f, -0.0f, r)));
    }
  }
}

}  // namespace
}  // namespace lmul
