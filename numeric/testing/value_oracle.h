// An independent, value-domain formulation of the spec, for tests only.
//
// Where numeric/format.cc and numeric/arith.cc work on bit fields with integer
// arithmetic, this works on real values in double precision (exact for every
// quantity involved: significands < 2^49, exponents within double range):
//   - a code's value from the textbook formula (1 + m/2^M) * 2^(e - bias);
//   - rounding by scaling to the quantum and calling rint/trunc;
//   - L-Mul from the paper's formula with the carries written out:
//       t = mx + my + 2^-l(M) in [0, 3);  c = floor(t) carries into the exponent;
//       x*y ~ (1 + t - c) * 2^(ex + ey + c).
//     (t >= 2 happens when 2^-l(M) > 2^(1-M), e.g. bf16 mantissas near 1.)
#ifndef LMUL_NUMERIC_TESTING_VALUE_ORACLE_H_
#define LMUL_NUMERIC_TESTING_VALUE_ORACLE_H_

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "numeric/arith.h"

namespace lmul::oracle {

inline double MaxFinite(const Format& f) {
  // e4m3: 1.75 * 2^8 = 448; IEEE-style: (2 - 2^-M) * 2^(2^E - 2 - bias).
  const int emax = (f.has_inf ? (1 << f.exp_bits) - 2 : (1 << f.exp_bits) - 1) - f.bias;
  const double top =
      f.has_inf ? 2.0 - std::ldexp(1.0, -f.man_bits) : 2.0 - 2 * std::ldexp(1.0, -f.man_bits);
  return std::ldexp(top, emax);
}

inline double MinNormal(const Format& f) { return std::ldexp(1.0, 1 - f.bias); }

// Value of a code (NaN/Inf as double NaN/Inf).
inline double Value(const Format& f, uint32_t code) {
  const int m = f.man_bits;
  const bool neg = (code >> (f.exp_bits + m)) & 1;
  const uint32_t e = (code >> m) & ((1u << f.exp_bits) - 1);
  const uint32_t man = code & ((1u << m) - 1);
  double v;
  if (!f.has_inf && e == (1u << f.exp_bits) - 1 && man == (1u << m) - 1) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (f.has_inf && e == (1u << f.exp_bits) - 1) {
    v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(man), 1 - f.bias - m);
  } else {
    v = std::ldexp(1.0 + std::ldexp(static_cast<double>(man), -m), static_cast<int>(e) - f.bias);
  }
  return neg ? -v : v;
}

// Rounds a finite double v to the format's value set.
inline double Round(const Format& f, double v, Rounding r) {
  if (std::isnan(v)) return v;
  if (std::isinf(v)) return f.has_inf ? v : std::numeric_limits<double>::quiet_NaN();
  if (v == 0) return v;
  const double a = std::fabs(v);
  int e = std::ilogb(a);
  if (e < 1 - f.bias) e = 1 - f.bias;
  const double q = std::ldexp(1.0, e - f.man_bits);
  double n = a / q;                                             // exact: division by a power of two
  n = r == Rounding::kRne ? std::nearbyint(n) : std::trunc(n);  // default mode: ties to even
  double out = n * q;
  if (out > MaxFinite(f)) {
    out = (r == Rounding::kTrunc || !f.has_inf) ? MaxFinite(f)
                                                : std::numeric_limits<double>::infinity();
  }
  return std::copysign(out, v);
}

// L-Mul / Mitchell on two values already in the format; `offset` is 2^-l(M) or 0.
inline double AddFields(const Format& f, double x, double y, double offset) {
  const double sign = (std::signbit(x) != std::signbit(y)) ? -1.0 : 1.0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (std::isnan(x) || std::isnan(y)) return nan;
  const bool xz = std::fabs(x) < MinNormal(f), yz = std::fabs(y) < MinNormal(f);
  if (std::isinf(x) || std::isinf(y)) return (xz || yz) ? nan : sign * INFINITY;
  if (xz || yz) return sign * 0.0;
  int ex, ey;
  const double fx = std::frexp(std::fabs(x), &ex) * 2 - 1;  // mantissa in [0, 1)
  const double fy = std::frexp(std::fabs(y), &ey) * 2 - 1;
  ex -= 1;
  ey -= 1;
  const double t = fx + fy + offset;
  const double c = std::floor(t);
  const double r = std::ldexp(1 + t - c, ex + ey + static_cast<int>(c));
  if (r < MinNormal(f)) return sign * 0.0;
  if (r > MaxFinite(f)) return f.has_inf ? sign * INFINITY : sign * MaxFinite(f);
  return sign * r;
}

// The whole Arith on doubles: operands given as values of the operand format.
inline double MulValues(const Arith& a, double x, double y) {
  const Format& f = a.format;
  switch (a.op) {
    case Op::kLMul:
      return AddFields(f, x, y, std::ldexp(1.0, -LMulOffsetShift(f.man_bits)));
    case Op::kMitchell:
      return AddFields(f, x, y, 0.0);
    case Op::kExact: {
      const double p = x * y;  // exact: significands < 2^24
      if (std::isnan(p)) return p;
      return Round(a.OutputFormat(), p, Rounding::kRne);
    }
  }
  return 0;
}

// True if the double v and the fp32-carrier result y denote the same value
// (all NaNs equal; signed zeros distinguished).
inline bool SameValue(double v, float y) {
  if (std::isnan(v) || std::isnan(y)) return std::isnan(v) && std::isnan(y);
  return v == static_cast<double>(y) && std::signbit(v) == std::signbit(y);
}

}  // namespace lmul::oracle

#endif  // LMUL_NUMERIC_TESTING_VALUE_ORACLE_H_
