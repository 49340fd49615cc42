// Arith: spec parsing, the spec's expected values, a special-value matrix for
// every format and operation, and algebraic properties.
#include "numeric/arith.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "numeric/testing/value_oracle.h"

namespace lmul {
namespace {

Arith A(const char* spec) {
  auto a = Arith::Parse(spec);
  EXPECT_TRUE(a.ok()) << spec << ": " << (a.ok() ? "" : a.error());
  return *a;
}

TEST(ArithTest, Offsets) {
  EXPECT_EQ(LMulOffset(Format::Fp32()), 0x3F780000u);
  EXPECT_EQ(LMulOffset(Format::Bf16()), 0x3F78u);
  EXPECT_EQ(LMulOffset(Format::Fp16()), 0x3BC0u);
  EXPECT_EQ(LMulOffset(Format::E4M3()), 55u);
  EXPECT_EQ(LMulOffset(Format::E5M2()), 59u);
  EXPECT_EQ(LMulOffset(Format::E8M(3)), (127u << 3) - 1);
  EXPECT_EQ(LMulOffset(Format::E8M(4)), (127u << 4) - 2);
  EXPECT_EQ(LMulOffset(Format::E8M(1)), (127u << 1) - 1);
  EXPECT_EQ(MitchellOffset(Format::Bf16()), 0x3F80u);
  const int want_l[] = {0, 1, 2, 3, 3, 4, 4, 4};
  for (int m = 1; m <= 7; ++m) EXPECT_EQ(LMulOffsetShift(m), want_l[m]) << m;
}

TEST(ArithTest, ParseSpecs) {
  Arith a = A("lmul/bf16");
  EXPECT_EQ(a.op, Op::kLMul);
  EXPECT_EQ(a.format, Format::Bf16());
  EXPECT_EQ(a.reduce, Rounding::kTrunc);
  EXPECT_FALSE(a.wide);
  a = A("exact/e4m3,wide");
  EXPECT_EQ(a.op, Op::kExact);
  EXPECT_EQ(a.reduce, Rounding::kRne);
  EXPECT_TRUE(a.wide);
  EXPECT_EQ(a.OutputFormat(), Format::Fp32());
  a = A("lmul/e8m4,rne");
  EXPECT_EQ(a.reduce, Rounding::kRne);
  EXPECT_EQ(a.format, Format::E8M(4));
  a = A("exact/bf16,trunc");
  EXPECT_EQ(a.reduce, Rounding::kTrunc);
  EXPECT_EQ(A("mitchell/fp32").op, Op::kMitchell);
  for (const char* s : {"lmul/bf16", "lmul/e8m4,rne", "exact/e4m3,wide", "exact/bf16,trunc",
                        "mitchell/e8m7", "exact/fp32", "lmul/e5m2"}) {
    EXPECT_EQ(A(s).Name(), s);
    EXPECT_EQ(*Arith::Parse(A(s).Name()), A(s));
  }
  EXPECT_EQ(A("lmul/bf16,trunc").Name(), "lmul/bf16");
  EXPECT_EQ(A("exact/fp16,rne").Name(), "exact/fp16");
  for (const char* bad : {"", "lmul", "lmul/", "mul/bf16", "lmul/bf17", "lmul/bf16,wide",
                          "exact/bf16,rne,trunc", "exact/bf16,fast", "LMUL/bf16", "lmul/bf16,"}) {
    auto p = Arith::Parse(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_NE(p.error().find("lmul, mitchell, exact"), std::string::npos) << p.error();
      EXPECT_NE(p.error().find("e8m1..e8m23"), std::string::npos) << p.error();
    }
  }
}

// The expected values written in the spec (issue #2 / docs/numerics.md).
TEST(ArithTest, SpecExamples) {
  EXPECT_EQ(A("lmul/fp32").Mul(1.5f, 1.5f), 2.125f);
  EXPECT_EQ(A("lmul/fp32").Mul(1.0f, 1.0f), 1.0625f);
  EXPECT_EQ(A("lmul/e8m3").Mul(1.5f, 1.5f), 2.25f);
  EXPECT_EQ(A("lmul/e4m3").Mul(300.0f, 300.0f), 448.0f);
  EXPECT_EQ(A("exact/e4m3").Mul(300.0f, 300.0f), 448.0f);
  EXPECT_EQ(A("exact/e4m3,wide").Mul(300.0f, 300.0f), 82944.0f);
  EXPECT_EQ(A("mitchell/bf16").Mul(1.5f, 1.5f), 2.0f);
  EXPECT_EQ(A("lmul/e5m2").Mul(300.0f, 300.0f), INFINITY);
  // The carry into the exponent (never the literal formula): 1.75 * 1.75.
  // t = .75 + .75 + 1/16 = 1.5625 >= 1 -> 2t = 3.125 (literal formula: 2.5625).
  EXPECT_EQ(A("lmul/fp32").Mul(1.75f, 1.75f), 3.125f);
  EXPECT_EQ(A("lmul/fp32").Mul(-1.5f, 1.5f), -2.125f);
  EXPECT_EQ(A("exact/fp32").Mul(3.0f, 7.0f), 21.0f);
}

// Special values for every format and every operation, against the oracle and
// against explicit rules.
TEST(ArithTest, SpecialValueMatrix) {
  std::vector<std::string> formats = {"fp32", "bf16", "fp16", "e5m2", "e4m3",
                                      "e8m1", "e8m3", "e8m4", "e8m10"};
  for (const std::string& fmt : formats) {
    const Format f = *Format::Parse(fmt);
    const float maxf = Decode(f, f.MaxFiniteField());
    const float minsub = Decode(f, 1);
    const float minnorm = Decode(f, 1u << f.man_bits);
    const std::vector<float> specials = {0.0f,     -0.0f,     minsub, -minsub,  minnorm,   -minnorm,
                                         1.0f,     -1.0f,     1.5f,   -0.75f,   maxf,      -maxf,
                                         INFINITY, -INFINITY, NAN,    2 * maxf, minsub / 4};
    for (const char* op : {"lmul/", "mitchell/", "exact/"}) {
      for (const char* opt : {"", ",rne", ",trunc", ",wide"}) {
        if (std::string(opt) == ",wide" && std::string(op) != "exact/") continue;
        const Arith a = A((std::string(op) + fmt + opt).c_str());
        for (float x : specials) {
          for (float y : specials) {
            const float got = a.Mul(x, y);
            const double xr = oracle::Round(f, x, a.reduce), yr = oracle::Round(f, y, a.reduce);
            const double want = oracle::MulValues(a, xr, yr);
            ASSERT_TRUE(oracle::SameValue(want, got))
                << a.Name() << " " << x << " * " << y << ": got " << got << " want " << want;
            // Explicit rules.
            if (std::isnan(x) || std::isnan(y)) {
              EXPECT_TRUE(std::isnan(got));
            }
            if (std::isinf(xr) && yr == 0) {
              EXPECT_TRUE(std::isnan(got)) << a.Name();
            }
            if (a.op != Op::kExact && !std::isnan(got) &&
                (std::fabs(xr) < minnorm || std::fabs(yr) < minnorm) && !std::isinf(xr) &&
                !std::isinf(yr)) {
              EXPECT_EQ(got, 0.0f)
                  << a.Name() << " " << x << "*" << y << ": subnormal counts as zero";
              EXPECT_EQ(std::signbit(got), std::signbit(x) != std::signbit(y));
            }
          }
        }
      }
    }
  }
}

TEST(ArithTest, OverflowAndUnderflow) {
  // Underflow: field sum below 2^M gives a signed zero.
  EXPECT_TRUE(oracle::SameValue(0.0, A("lmul/fp32").Mul(1e-30f, 1e-30f)));
  EXPECT_TRUE(oracle::SameValue(-0.0, A("lmul/fp32").Mul(-1e-30f, 1e-30f)));
  EXPECT_TRUE(oracle::SameValue(-0.0, A("lmul/bf16").Mul(0x1p-70f, -0x1p-70f)));
  // Overflow: Inf, or saturation for e4m3.
  EXPECT_EQ(A("lmul/fp32").Mul(1e30f, 1e30f), INFINITY);
  EXPECT_EQ(A("lmul/fp32").Mul(-1e30f, 1e30f), -INFINITY);
  EXPECT_EQ(A("lmul/e4m3").Mul(-300.0f, 300.0f), -448.0f);
  EXPECT_EQ(A("mitchell/e4m3").Mul(448.0f, 448.0f), 448.0f);
  EXPECT_EQ(A("lmul/fp16").Mul(300.0f, 300.0f), INFINITY);
  // Just below / just above the smallest normal result of lmul/e4m3: field 8 = 2^-6.
  // 0.125 (field 4<<3=32) * 0.125: s = 64 - 55 = 9 -> 2^-6 * (1 + 1/8).
  EXPECT_EQ(A("lmul/e4m3").Mul(0.125f, 0.125f), 0x1.2p-6f);
  // 0.0625 * 0.125: s = 24 + 32 - 55 = 1 < 8 -> zero.
  EXPECT_EQ(A("lmul/e4m3").Mul(0.0625f, 0.125f), 0.0f);
}

TEST(ArithTest, Properties) {
  std::mt19937 rng(7);
  std::normal_distribution<float> gauss(0.0f, 4.0f);
  for (const char* spec :
       {"lmul/fp32", "lmul/bf16", "lmul/fp16", "lmul/e4m3", "lmul/e5m2", "lmul/e8m3",
        "mitchell/bf16", "exact/e4m3", "exact/bf16,wide", "lmul/e8m4,rne"}) {
    const Arith a = A(spec);
    for (int i = 0; i < 20000; ++i) {
      const float x = gauss(rng), y = gauss(rng);
      const float xy = a.Mul(x, y);
      // Commutativity (bit-exact).
      ASSERT_EQ(FloatBits(xy), FloatBits(a.Mul(y, x))) << spec << " " << x << " " << y;
      // Sign symmetry: |(-x) y| = |x y| with flipped sign.
      ASSERT_EQ(FloatBits(a.Mul(-x, y)), FloatBits(xy) ^ 0x80000000u) << spec;
      ASSERT_EQ(FloatBits(a.Mul(-x, -y)), FloatBits(xy)) << spec;
    }
  }
  // Mitchell is exact when one operand is a power of two (mantissa 0).
  for (const char* spec : {"mitchell/fp32", "mitchell/bf16", "mitchell/fp16", "mitchell/e8m3"}) {
    const Arith a = A(spec);
    for (int i = 0; i < 20000; ++i) {
      const float x = a.Reduce(gauss(rng));
      const float p = std::ldexp(1.0f, static_cast<int>(rng() % 20) - 10);
      const float want = a.Reduce(x * p);
      if (std::fabs(want) < Decode(a.format, 1u << a.format.man_bits)) continue;  // underflow
      ASSERT_EQ(a.Mul(x, p), want) << spec << " " << x << " * " << p;
    }
  }
  // lmul never returns x for x * 1: the offset 2^-l is always added to the
  // mantissa sum, so |lmul(x, 1)| > |x| for normal x (3 = 1.5 * 2: 1.5625 * 2).
  const Arith l = A("lmul/fp32");
  EXPECT_EQ(l.Mul(3.0f, 1.0f), 3.125f);
  // Two carries into the exponent: bf16 mantissas 127/128 + 127/128 + 1/16 >= 2.
  // 0x7F7F (max finite) * 0x3F7F (1.9921875): field sum 0x7F7F + 0x3F7F - 0x3F78
  // = 0x7F86 > 0x7F7F -> Inf, while exact is finite (6.7e38): L-Mul overflows early.
  EXPECT_EQ(A("lmul/bf16").Mul(0x1.FEp127f, 1.9921875f), INFINITY);
  // 1.9921875^2: t = 2 * 127/128 + 1/16 = 2.046875 -> 4 * (t - 1) = 4.1875.
  EXPECT_EQ(A("lmul/bf16").Mul(1.9921875f, 1.9921875f), 4.1875f);
}

}  // namespace
}  // namespace lmul
