// Uniform-mantissa theory: known values, and agreement with a deterministic
// fine-grid quadrature of the spec (lmul::Arith::Mul) — an independent method.
#include "analysis/precision/theory.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "numeric/arith.h"

namespace lmul::precision {
namespace {

TheoryStats TheoryOf(const char* spec) {
  auto a = Arith::Parse(spec);
  EXPECT_TRUE(a.ok()) << spec;
  auto m = TheoryModelFor(*a);
  EXPECT_TRUE(m.has_value()) << spec;
  return UniformMantissaTheory(*m);
}

// Known values (issue 6, dossier §1.4/§3.3): continuous uniform mantissas,
// fp32 L-Mul mean |e| ~ 2.65%, bias ~ +0.4%, max ~ 7.29%; Mitchell bias ~ -3.85%.
TEST(Theory, KnownValuesFp32) {
  const TheoryStats l = TheoryOf("lmul/fp32");
  const TheoryStats m = TheoryOf("mitchell/fp32");
  std::printf("lmul/fp32: mean %.6f%% bias %+.6f%% rms %.6f%% max %.4f%%\n", 100 * l.mean_rel,
              100 * l.bias, 100 * l.rms_rel, 100 * l.max_rel);
  std::printf("mitchell/fp32: mean %.6f%% bias %+.6f%%\n", 100 * m.mean_rel, 100 * m.bias);
  EXPECT_NEAR(l.mean_rel, 0.02655, 0.00010);
  EXPECT_NEAR(l.bias, 0.00408, 0.00010);
  EXPECT_NEAR(l.max_rel, 0.0729, 0.0002);
  EXPECT_NEAR(m.bias, -0.03849, 0.00010);
  // Mitchell never overestimates: (1+a)(1+b) >= 1+a+b and >= 2(a+b) on its pieces.
  EXPECT_DOUBLE_EQ(m.mean_rel, -m.bias);
}

// Dossier §1.5 (200k-sample Monte Carlo there; exact here).
TEST(Theory, KnownValuesReducedK) {
  EXPECT_NEAR(TheoryOf("lmul/e8m3").mean_rel, 0.0483, 0.0002);
  EXPECT_NEAR(TheoryOf("lmul/e8m4").mean_rel, 0.0296, 0.0002);
  EXPECT_NEAR(TheoryOf("lmul/e8m3,rne").mean_rel, 0.0575, 0.0002);
  EXPECT_NEAR(TheoryOf("lmul/e8m4,rne").mean_rel, 0.0527, 0.0002);
  EXPECT_NEAR(TheoryOf("exact/e4m3").mean_rel, 0.0352, 0.0002);
  EXPECT_NEAR(TheoryOf("exact/e5m2").mean_rel, 0.0704, 0.0002);
  EXPECT_NEAR(TheoryOf("exact/e4m3,wide").mean_rel, 0.0294, 0.0002);
  EXPECT_NEAR(TheoryOf("exact/e5m2,wide").mean_rel, 0.0586, 0.0002);
}

// CellValue (the value formula with up to two carries) equals the spec on
// every pair of k-bit mantissas, for k = 1..7 and both L-Mul and Mitchell.
TEST(Theory, CellValueMatchesSpec) {
  for (int k = 1; k <= 7; ++k) {
    for (const char* op : {"lmul", "mitchell"}) {
      auto a = *Arith::Parse(std::string(op) + "/e8m" + std::to_string(k));
      const TheoryModel m = *TheoryModelFor(a);
      for (int i = 0; i < (1 << k); ++i) {
        for (int j = 0; j < (1 << k); ++j) {
          const double fa = std::ldexp(i, -k), fb = std::ldexp(j, -k);
          const float x = static_cast<float>(1 + fa), y = static_cast<float>(1 + fb);
          ASSERT_EQ(CellValue(m, fa, 0, fb, 0), static_cast<double>(a.Mul(x, y)))
              << a.Name() << " i=" << i << " j=" << j;
          // rne carry: an operand that rounded to 2.
          ASSERT_EQ(CellValue(m, fa, 1, fb, 0), static_cast<double>(a.Mul(2 * x, y)))
              << a.Name() << " i=" << i << " j=" << j;
        }
      }
    }
  }
}

// Midpoint rule on an N x N grid of mantissas, using the spec itself. The
// cell edges (incl. rne half-cells) of every k <= 10 fall on grid lines, so
// the quadrature error is O(N^-2) (only the kinks of |e| inside cells).
struct Quadrature {
  double mean_rel, bias;
};
Quadrature GridQuadrature(const Arith& a, int n) {
  long double sa = 0, s = 0;
  for (int i = 0; i < n; ++i) {
    const float x = static_cast<float>(1 + (i + 0.5) / n);  // exact: 12-bit grid for n = 2048
    long double ra = 0, r = 0;
    for (int j = 0; j < n; ++j) {
      const float y = static_cast<float>(1 + (j + 0.5) / n);
      const double e = static_cast<double>(a.Mul(x, y)) / (static_cast<double>(x) * y) - 1;
      ra += std::fabs(e);
      r += e;
    }
    sa += ra;
    s += r;
  }
  const double nn = static_cast<double>(n) * n;
  return {static_cast<double>(sa / nn), static_cast<double>(s / nn)};
}

TEST(Theory, AgreesWithGridQuadratureOfSpec) {
  constexpr int kN = 2048;
  for (const char* spec :
       {"lmul/e8m2", "lmul/e8m3", "lmul/e8m4,rne", "lmul/e8m5", "lmul/bf16,rne", "mitchell/e8m7",
        "exact/e4m3", "exact/e5m2,wide", "lmul/fp32", "mitchell/fp32"}) {
    const Arith a = *Arith::Parse(spec);
    const TheoryStats t = UniformMantissaTheory(*TheoryModelFor(a));
    const Quadrature q = GridQuadrature(a, kN);
    std::printf("%-16s theory mean %.7f%% bias %+.7f%% | grid mean %.7f%% bias %+.7f%%\n", spec,
                100 * t.mean_rel, 100 * t.bias, 100 * q.mean_rel, 100 * q.bias);
    EXPECT_NEAR(t.mean_rel, q.mean_rel, 2e-6) << spec;
    EXPECT_NEAR(t.bias, q.bias, 2e-6) << spec;
  }
}

TEST(Theory, ModelCoverage) {
  EXPECT_FALSE(TheoryModelFor(*Arith::Parse("exact/fp32")).has_value());
  EXPECT_FALSE(TheoryModelFor(*Arith::Parse("lmul/e8m12")).has_value());
  EXPECT_TRUE(TheoryModelFor(*Arith::Parse("lmul/fp16")).has_value());
  EXPECT_EQ(TheoryModelFor(*Arith::Parse("lmul/bf16"))->offset, 1.0 / 16);
  EXPECT_EQ(TheoryModelFor(*Arith::Parse("lmul/e8m4"))->offset, 1.0 / 8);
  EXPECT_EQ(TheoryModelFor(*Arith::Parse("lmul/e4m3"))->offset, 1.0 / 8);
  EXPECT_EQ(TheoryModelFor(*Arith::Parse("mitchell/bf16"))->offset, 0.0);
}

}  // namespace
}  // namespace lmul::precision
