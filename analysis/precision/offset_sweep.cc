#include "analysis/precision/offset_sweep.h"

#include <cmath>
#include <cstdio>

#include "analysis/precision/distribution.h"
#include "numeric/arith.h"

namespace lmul::precision {

TheoryStats OffsetTheory(int k, Rounding reduction, double c) {
  TheoryModel m;
  m.kind = TheoryModel::Kind::kAddFields;
  m.k = k;
  m.reduce = k < 23;
  m.reduction = reduction;
  m.offset = c;
  return UniformMantissaTheory(m);
}

ErrorStats MeasureOffset(int k, Rounding reduction, int d, uint64_t samples, uint64_t seed) {
  const Format f = Format::E8M(k);
  const uint32_t c = (static_cast<uint32_t>(f.bias) << k) - static_cast<uint32_t>(d);
  Distribution dist;  // uniform, default range
  ErrorStats s;
  s.arith = "lmul/e8m" + std::to_string(k) + (reduction == Rounding::kRne ? ",rne" : "") +
            " d=" + std::to_string(d);
  s.dist = dist.Name();
  auto pairs = MakeOperandPairs(dist, samples, seed);
  if (!pairs.ok()) return s;  // the uniform source cannot fail for samples > 0
  ErrorAccumulator acc(0);
  for (size_t i = 0; i < pairs->x.size(); ++i) {
    const float x = pairs->x[i], y = pairs->y[i];
    const uint32_t r = AddFieldsCodes(f, Encode(f, x, reduction), Encode(f, y, reduction), c);
    acc.Add(static_cast<double>(x) * y, Decode(f, r));
  }
  acc.Finish(&s);
  return s;
}

OffsetSweepRow SweepOffsets(int k, Rounding reduction, uint64_t samples, uint64_t seed) {
  OffsetSweepRow row;
  row.k = k;
  row.reduction = reduction;
  const bool continuous = k >= 23;
  const int unit_bits = continuous ? 10 : k;
  const int d_max = continuous ? 256 : std::max((1 << k) / 4, std::min(3, (1 << k) - 1));
  const int rule_shift = LMulOffsetShift(k);
  const double rule_c = std::ldexp(1.0, -rule_shift);
  bool first = true;
  for (int d = 0; d <= d_max; ++d) {
    OffsetPoint p;
    p.d = d;
    p.c = std::ldexp(static_cast<double>(d), -unit_bits);
    p.theory = OffsetTheory(k, reduction, p.c);
    if (first || p.theory.mean_rel < row.best.theory.mean_rel) row.best = p;
    if (first || std::fabs(p.theory.bias) < std::fabs(row.zero_bias.theory.bias)) {
      row.zero_bias = p;
    }
    if (p.c == rule_c) row.rule = p;
    first = false;
  }
  if (row.rule.c != rule_c) {  // outside the swept range (cannot happen for l(k) <= k)
    row.rule.c = rule_c;
    row.rule.d = static_cast<int>(std::ldexp(1.0, unit_bits - rule_shift));
    row.rule.theory = OffsetTheory(k, reduction, rule_c);
  }
  if (!continuous && samples > 0) {
    row.measured_rule = MeasureOffset(k, reduction, row.rule.d, samples, seed);
    row.measured_best = MeasureOffset(k, reduction, row.best.d, samples, seed);
  }
  return row;
}

std::string FormatOffsetSweep(const std::vector<OffsetSweepRow>& rows) {
  std::string out;
  char buf[400];
  std::snprintf(buf, sizeof buf, "%-4s %-6s | %-22s %9s %9s %9s | %-22s %9s %9s %9s | %-18s %9s\n",
                "k", "reduce", "rule c=2^-l(k) (d)", "mean%", "bias%", "meas%", "best c (d)",
                "mean%", "bias%", "meas%", "zero-bias c (d)", "mean%");
  out += buf;
  for (const OffsetSweepRow& r : rows) {
    auto cd = [&](const OffsetPoint& p) {
      char b[64];
      std::snprintf(b, sizeof b, "%.6g (%d)", p.c, p.d);
      return std::string(b);
    };
    auto meas = [&](const ErrorStats& s) {
      if (s.samples == 0) return std::string("-");
      char b[32];
      std::snprintf(b, sizeof b, "%.4f", 100 * s.mean_rel);
      return std::string(b);
    };
    std::snprintf(buf, sizeof buf,
                  "%-4s %-6s | %-22s %9.4f %+9.4f %9s | %-22s %9.4f %+9.4f %9s | %-18s %9.4f\n",
                  r.k >= 23 ? "fp32" : std::to_string(r.k).c_str(),
                  r.k >= 23 ? "none" : RoundingName(r.reduction), cd(r.rule).c_str(),
                  100 * r.rule.theory.mean_rel, 100 * r.rule.theory.bias,
                  meas(r.measured_rule).c_str(), cd(r.best).c_str(), 100 * r.best.theory.mean_rel,
                  100 * r.best.theory.bias, meas(r.measured_best).c_str(), cd(r.zero_bias).c_str(),
                  100 * r.zero_bias.theory.mean_rel);
    out += buf;
  }
  out +=
      "d: offset in units of 2^-k added to the k-bit field sum (fp32 row: units of 2^-10, "
      "continuous model); mean/bias: uniform-mantissa theory; meas: Monte Carlo via "
      "AddFieldsCodes\n";
  return out;
}

}  // namespace lmul::precision
