// The error study: definitions of the statistics, exhaustive 8-bit numbers
// against an independent computation, theory vs sampled measurement,
// reproducibility, CSV format.
#include "analysis/precision/error_study.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <regex>
#include <string>

#include "numeric/testing/value_oracle.h"

namespace lmul::precision {
namespace {

void ExpectTextInsideCanvas(const std::string& svg);

std::vector<Arith> Ops(const std::string& list) {
  auto r = ParseOpsList(list);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? *r : std::vector<Arith>{};
}

TEST(ErrorAccumulator, ZeroInfSaturationSemantics) {
  ErrorAccumulator acc(448);
  acc.Add(2.0, 2.5f);                                      // e = +0.25
  acc.Add(2.0, 0.0f);                                      // zero: e = -1
  acc.Add(-2.0, std::numeric_limits<float>::infinity());   // non-finite: excluded
  acc.Add(-2.0, std::numeric_limits<float>::quiet_NaN());  // non-finite: excluded
  acc.Add(500.0, 448.0f);                                  // saturated: e = -52/500, kept
  ErrorStats s;
  acc.Finish(&s);
  EXPECT_EQ(s.samples, 5u);
  EXPECT_EQ(s.zero_count, 1u);
  EXPECT_EQ(s.nonfinite_count, 2u);
  EXPECT_EQ(s.saturated_count, 1u);
  EXPECT_DOUBLE_EQ(s.zero_frac, 0.2);
  EXPECT_DOUBLE_EQ(s.overflow_frac, 0.6);
  const double e3 = (448.0 - 500.0) / 500.0;
  EXPECT_DOUBLE_EQ(s.mean_rel, (0.25 + 1 + std::fabs(e3)) / 3);
  EXPECT_DOUBLE_EQ(s.bias, (0.25 - 1 + e3) / 3);
  EXPECT_DOUBLE_EQ(s.rms_rel, std::sqrt((0.0625 + 1 + e3 * e3) / 3));
  EXPECT_DOUBLE_EQ(s.max_rel, 1.0);
}

TEST(ParseOpsList, CommasAttachOptions) {
  auto ops = Ops("lmul/e8m4,rne,exact/e4m3,wide; mitchell/bf16 lmul/fp16,trunc");
  ASSERT_EQ(ops.size(), 4u);
  EXPECT_EQ(ops[0].Name(), "lmul/e8m4,rne");
  EXPECT_EQ(ops[1].Name(), "exact/e4m3,wide");
  EXPECT_EQ(ops[2].Name(), "mitchell/bf16");
  EXPECT_EQ(ops[3].Name(), "lmul/fp16");
  EXPECT_FALSE(ParseOpsList("rne,lmul/e8m4").ok());
  EXPECT_FALSE(ParseOpsList("lmul/e8m4,wide").ok());
  EXPECT_FALSE(ParseOpsList("").ok());
  std::string all;
  for (const std::string& s : DefaultOps()) all += s + ";";
  EXPECT_EQ(Ops(all).size(), 31u);
}

TEST(Distribution, ParseAndNames) {
  EXPECT_EQ(Distribution::Parse("uniform")->Name(), "uniform");
  EXPECT_EQ(Distribution::Parse("uniform:-4:3")->Name(), "uniform:-4:3");
  EXPECT_EQ(Distribution::Parse("gaussian:0.5")->Name(), "gaussian:0.5");
  EXPECT_EQ(Distribution::Parse("laplace")->Name(), "laplace");
  EXPECT_EQ(Distribution::Parse("exhaustive:e5m2")->Name(), "exhaustive:e5m2");
  EXPECT_EQ(Distribution::Parse("exhaustive:e4m3:normal")->Name(), "exhaustive:e4m3:normal");
  EXPECT_EQ(Distribution::Parse("activations:/a/b/qk.npy")->Name(), "activations:qk.npy");
  for (const char* bad : {"unifrm", "uniform:3:1", "uniform:x", "gaussian:-1", "laplace:0",
                          "exhaustive", "exhaustive:bf16", "activations:"}) {
    EXPECT_FALSE(Distribution::Parse(bad).ok()) << bad;
  }
}

TEST(Distribution, UniformRangeAndMantissas) {
  Distribution d;
  auto p = MakeOperandPairs(d, 100000, 7);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->x.size(), 100000u);
  double mean_frac = 0;
  int neg = 0;
  for (float x : p->x) {
    const float a = std::fabs(x);
    ASSERT_GE(a, 0.25f);
    ASSERT_LT(a, 4.0f);
    int e;
    mean_frac += std::frexp(a, &e) * 2 - 1;
    neg += x < 0;
  }
  mean_frac /= 100000;
  EXPECT_NEAR(mean_frac, 0.5, 0.005);  // 5.5 sigma
  EXPECT_NEAR(neg, 50000, 800);
}

// Independent computation of the exhaustive statistics: the value-domain
// oracle (numeric/testing/value_oracle.h) for the arithmetic, the definitions
// of error_stats.h written out again with long double sums.
struct Independent {
  double mean, bias, rms, max, zero_frac, overflow_frac;
  uint64_t n;
};
Independent IndependentExhaustive(const Format& fmt, const Arith& a) {
  std::vector<double> vals;
  for (uint32_t c = 0; c < (1u << fmt.Width()); ++c) {
    const double v = oracle::Value(fmt, c);
    if (std::isfinite(v) && v != 0) vals.push_back(v);
  }
  const double maxf = oracle::MaxFinite(a.OutputFormat());
  long double sa = 0, s = 0, sq = 0;
  double mx = 0;
  uint64_t n = 0, finite = 0, zero = 0, over = 0;
  for (double x : vals) {
    for (double y : vals) {
      ++n;
      const double p = x * y;
      const double r = oracle::MulValues(a, oracle::Round(a.format, x, a.reduce),
                                         oracle::Round(a.format, y, a.reduce));
      if (!std::isfinite(r)) {
        ++over;
        continue;
      }
      if (std::fabs(r) == maxf && std::fabs(p) > maxf) ++over;
      ++finite;
      const double e = r == 0 ? -1.0 : r / p - 1;
      zero += r == 0;
      sa += std::fabs(e);
      s += e;
      sq += e * e;
      mx = std::max(mx, std::fabs(e));
    }
  }
  return {static_cast<double>(sa / finite),
          static_cast<double>(s / finite),
          std::sqrt(static_cast<double>(sq / finite)),
          mx,
          static_cast<double>(zero) / n,
          static_cast<double>(over) / n,
          n};
}

void CheckExhaustive(const char* fmt_name, const std::string& ops) {
  StudyOptions o;
  o.ops = Ops(ops);
  o.dist = *Distribution::Parse(std::string("exhaustive:") + fmt_name);
  o.threads = 1;
  auto r1 = RunErrorStudy(o);
  ASSERT_TRUE(r1.ok()) << r1.error();
  o.threads = 3;
  auto r3 = RunErrorStudy(o);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(FormatCsv(*r1), FormatCsv(*r3));  // bit-identical whatever the threads
  const Format fmt = *Format::Parse(fmt_name);
  for (size_t i = 0; i < o.ops.size(); ++i) {
    const ErrorStats& s = r1->rows[i];
    const Independent ind = IndependentExhaustive(fmt, o.ops[i]);
    std::printf(
        "%-10s %-16s n=%llu mean %.6f%% bias %+.6f%% rms %.6f%% max %.4f%% zero %.4f%% "
        "ovfl %.4f%% | independent mean %.6f%%\n",
        s.dist.c_str(), s.arith.c_str(), static_cast<unsigned long long>(s.samples),
        100 * s.mean_rel, 100 * s.bias, 100 * s.rms_rel, 100 * s.max_rel, 100 * s.zero_frac,
        100 * s.overflow_frac, 100 * ind.mean);
    EXPECT_EQ(s.samples, ind.n);
    EXPECT_NEAR(s.mean_rel, ind.mean, 1e-12) << s.arith;
    EXPECT_NEAR(s.bias, ind.bias, 1e-12) << s.arith;
    EXPECT_NEAR(s.rms_rel, ind.rms, 1e-12) << s.arith;
    EXPECT_EQ(s.max_rel, ind.max) << s.arith;
    EXPECT_EQ(s.zero_frac, ind.zero_frac) << s.arith;
    EXPECT_EQ(s.overflow_frac, ind.overflow_frac) << s.arith;
  }
}

TEST(Exhaustive, E4M3MatchesIndependentComputation) {
  CheckExhaustive("e4m3",
                  "lmul/e4m3;lmul/e4m3,rne;exact/e4m3;exact/e4m3,wide;mitchell/e4m3;lmul/e8m2;"
                  "lmul/e8m3,rne;exact/e5m2;lmul/bf16");
}

TEST(Exhaustive, E5M2MatchesIndependentComputation) {
  CheckExhaustive("e5m2", "lmul/e5m2;exact/e5m2;exact/e5m2,wide;exact/e4m3;lmul/e4m3;lmul/fp16");
}

TEST(Exhaustive, NormalRangeOnlyHasNoZerosOrOverflow) {
  StudyOptions o;
  o.ops = Ops("exact/e4m3;lmul/e8m3;lmul/e8m4");
  o.dist = *Distribution::Parse("exhaustive:e4m3:normal");
  auto r = RunErrorStudy(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows[0].zero_frac, 0);
  EXPECT_EQ(r->rows[0].overflow_frac, 0);
  // The exact product rounded once to e4m3 (3 mantissa bits): |e| <= 2^-4 / (1 + 2^-4).
  EXPECT_LE(r->rows[0].max_rel, 1.0 / 17 + 1e-12);
  EXPECT_GT(r->rows[0].max_rel, 0.05);
}

TEST(Exhaustive, PairCounts) {
  // e4m3: 256 codes - 2 NaN - 2 zeros = 252; e5m2: 256 - 6 NaN - 2 Inf - 2 zeros = 246.
  EXPECT_EQ(MakeOperandPairs(*Distribution::Parse("exhaustive:e4m3"), 0, 0)->x.size(), 252u * 252);
  EXPECT_EQ(MakeOperandPairs(*Distribution::Parse("exhaustive:e5m2"), 0, 0)->x.size(), 246u * 246);
  // :normal keeps pairs of normal codes with the product in [2^-6, 448] (e4m3): counted here
  // from the values directly.
  int n = 0;
  for (int i = 0; i < 256; ++i) {
    for (int j = 0; j < 256; ++j) {
      const Format f = Format::E4M3();
      if (f.IsNan(i) || f.IsNan(j) || f.IsZeroOrSubnormal(i) || f.IsZeroOrSubnormal(j)) continue;
      const double p = std::fabs(static_cast<double>(Decode(f, i)) * Decode(f, j));
      n += p >= 0.015625 && p <= 448;
    }
  }
  const auto normal = MakeOperandPairs(*Distribution::Parse("exhaustive:e4m3:normal"), 0, 0);
  EXPECT_EQ(normal->x.size(), static_cast<size_t>(n));
  EXPECT_GT(n, 20000);
}

// Sampled measurement vs the exact theory, every default arithmetic the theory
// covers: |measured - theory| < 4 standard errors, for mean |e| and bias.
TEST(TheoryVsMeasurement, UniformDefaultOps) {
  StudyOptions o;
  std::string all;
  for (const std::string& s : DefaultOps()) all += s + ";";
  o.ops = Ops(all + "mitchell/bf16;lmul/fp32;mitchell/fp32");
  o.samples = 1 << 18;
  o.seed = 2024;
  o.threads = 2;
  auto r = RunErrorStudy(o);
  ASSERT_TRUE(r.ok());
  int with_theory = 0;
  for (const ErrorStats& s : r->rows) {
    if (!s.theory) {
      ADD_FAILURE() << "no theory for " << s.arith << " under uniform";
      continue;
    }
    ++with_theory;
    const double zm = (s.mean_rel - s.theory->mean_rel) / s.se_mean_rel;
    const double zb = (s.bias - s.theory->bias) / s.se_bias;
    std::printf(
        "%-16s measured %.5f%% (se %.5f%%) theory %.5f%% z=%+.2f | bias %+.5f%% theory "
        "%+.5f%% z=%+.2f\n",
        s.arith.c_str(), 100 * s.mean_rel, 100 * s.se_mean_rel, 100 * s.theory->mean_rel, zm,
        100 * s.bias, 100 * s.theory->bias, zb);
    EXPECT_LT(std::fabs(zm), 4) << s.arith;
    EXPECT_LT(std::fabs(zb), 4) << s.arith;
    EXPECT_LE(s.max_rel, s.theory->max_rel * (1 + 1e-6)) << s.arith;  // sup bounds every sample
    EXPECT_EQ(s.zero_frac, 0) << s.arith;
    EXPECT_EQ(s.overflow_frac, 0) << s.arith;
  }
  EXPECT_EQ(with_theory, 34);
}

TEST(Reproducibility, SameSeedSameOutputDifferentSeedDifferent) {
  StudyOptions o;
  o.ops = Ops("lmul/e8m4;exact/e4m3;lmul/bf16");
  o.dist = *Distribution::Parse("gaussian");
  o.samples = 100000;  // not a multiple of the block size
  o.seed = 5;
  o.threads = 1;
  const std::string a = FormatCsv(*RunErrorStudy(o));
  o.threads = 4;
  const std::string b = FormatCsv(*RunErrorStudy(o));
  o.seed = 6;
  const std::string c = FormatCsv(*RunErrorStudy(o));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Output, CsvHeaderAndQuoting) {
  StudyOptions o;
  o.ops = Ops("lmul/e8m4,rne;exact/fp32");
  o.samples = 1000;
  auto r = RunErrorStudy(o);
  ASSERT_TRUE(r.ok());
  const std::string csv = FormatCsv(*r);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "arith,dist,samples,mean_rel,bias,rms_rel,max_rel,zero_frac,overflow_frac,"
            "theory_mean_rel");
  EXPECT_NE(csv.find("\n\"lmul/e8m4,rne\",uniform,1000,"), std::string::npos) << csv;
  // exact/fp32 has no theory: the last field is empty.
  EXPECT_NE(csv.find("\nexact/fp32,uniform,1000,"), std::string::npos);
  EXPECT_EQ(csv.back(), '\n');
  EXPECT_EQ(csv[csv.size() - 2], ',') << csv;
  const std::string svg = PlotSvg(*r);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  ExpectTextInsideCanvas(svg);
}

TEST(Output, PlotLegendInsideTheCanvas) {
  StudyOptions o;  // the legend's widest case: both reductions, theory, four fp8 references
  o.ops =
      Ops("lmul/e8m1;lmul/e8m1,rne;lmul/e8m10;lmul/e8m10,rne;exact/e4m3;exact/e4m3,wide;"
          "exact/e5m2;exact/e5m2,wide");
  o.samples = 1000;
  auto r = RunErrorStudy(o);
  ASSERT_TRUE(r.ok());
  ExpectTextInsideCanvas(PlotSvg(*r));
}

// Every label fits the canvas (the legend was clipped at the right edge): its extent,
// estimated at 0.6 em per character (DejaVu Sans averages ~0.55 em), lies inside the width
// and height of the <svg>.
void ExpectTextInsideCanvas(const std::string& svg) {
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(width="([0-9.]+)" height="([0-9.]+)")re")));
  const double w = std::stod(m[1]), h = std::stod(m[2]);
  const std::regex text(
      R"re(<text x="([0-9.]+)" y="([0-9.]+)" font-size="([0-9.]+)"([^>]*)>([^<]*)</text>)re");
  int n = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator();
       ++it, ++n) {
    const double x = std::stod((*it)[1]), y = std::stod((*it)[2]), size = std::stod((*it)[3]);
    const std::string attrs = (*it)[4], label = (*it)[5];
    const double len = 0.6 * size * static_cast<double>(label.size());
    double left = x, right = x + len;
    if (attrs.find("text-anchor=\"middle\"") != std::string::npos) {
      left = x - len / 2, right = x + len / 2;
    } else if (attrs.find("text-anchor=\"end\"") != std::string::npos) {
      left = x - len, right = x;
    }
    if (attrs.find("rotate") != std::string::npos) continue;  // the y-axis title
    EXPECT_GE(left, 0) << label;
    EXPECT_LE(right, w) << label << " ends at " << right << ", canvas width " << w;
    EXPECT_LE(y, h) << label;
  }
  EXPECT_GT(n, 10);
}

// Wide Gaussian operands underflow e4m3 (zero results) and overflow it
// (saturation at 448): both fractions are nonzero and bounded.
TEST(RangeEffects, GaussianE4M3ZerosAndOverflow) {
  StudyOptions o;
  o.ops = Ops("lmul/e4m3;exact/e4m3;lmul/e5m2");
  o.dist = *Distribution::Parse("gaussian:30");
  o.samples = 1 << 16;
  auto r = RunErrorStudy(o);
  ASSERT_TRUE(r.ok());
  for (const ErrorStats& s : r->rows) {
    std::printf("%s: zero %.4f%% overflow %.4f%%\n", s.arith.c_str(), 100 * s.zero_frac,
                100 * s.overflow_frac);
    EXPECT_FALSE(s.theory.has_value());
  }
  // P(|xy| > 448) for x, y ~ N(0, 30²) = P(|Z1·Z2| > 0.4978) = E[2·Q(0.4978/|Z1|)] = 0.4111
  // (1-D quadrature); the sampling standard error at 2^16 pairs is 0.0019. exact/e4m3
  // saturates exactly those products; L-Mul's result may stay below 448 for a few.
  EXPECT_NEAR(r->rows[1].overflow_frac, 0.4111, 0.008);
  EXPECT_GT(r->rows[0].overflow_frac, 0.39);
  EXPECT_LT(r->rows[0].overflow_frac, 0.4111 + 0.008);
  EXPECT_GT(r->rows[1].zero_frac, 0);
  EXPECT_EQ(r->rows[2].overflow_frac, 0);  // e5m2 reaches 57344
}

}  // namespace
}  // namespace lmul::precision
