// Theory of the relative error of L-Mul, Mitchell and exact low-precision
// products under the uniform-mantissa model (docs/precision.md §3).
//
// Model: x = ±(1 + a)·2^ex, y = ±(1 + b)·2^ey with a, b independent and
// uniform on [0, 1) (continuous), exponents arbitrary but far from overflow
// and underflow. The operands are reduced to k mantissa bits (trunc or rne),
// multiplied with the operation, and compared with the exact product of the
// UNREDUCED operands: e = result / (x·y) − 1. The statistics of e are
//   mean_rel = E|e|, bias = E e, rms_rel = sqrt(E e²), max_rel = sup |e|.
//
// Method (exact, not Monte Carlo): after reduction the result divided by
// 2^(ex+ey) is constant on each rectangle ("cell") of the (a, b) square, so
// every statistic is a finite sum over cells of closed-form rectangle
// integrals of |V/(uv) − 1|, (V/(uv) − 1) and (V/(uv) − 1)² with u = 1 + a,
// v = 1 + b. Without reduction (k = 23, the fp32 case, treated as continuous)
// the inner integral over b is closed-form and the outer one over a is done
// by composite Gauss–Legendre quadrature (error < 1e-10).
#ifndef LMUL_ANALYSIS_PRECISION_THEORY_H_
#define LMUL_ANALYSIS_PRECISION_THEORY_H_

#include <optional>

#include "numeric/arith.h"

namespace lmul::precision {

struct TheoryModel {
  enum class Kind {
    kAddFields,  // L-Mul / Mitchell: (1 + t − floor t)·2^floor(t), t = fa + fb + offset
    kExact,      // exact product of the reduced operands, rounded rne to k bits
    kExactWide,  // exact product of the reduced operands, not rounded
  };
  Kind kind = Kind::kAddFields;
  int k = 7;           // mantissa bits of the operand format
  bool reduce = true;  // false: no operand reduction (continuous operands)
  Rounding reduction = Rounding::kTrunc;
  double offset = 1.0 / 16;  // kAddFields: the constant added to the mantissa sum
};

struct TheoryStats {
  double mean_rel = 0;  // E|e|
  double bias = 0;      // E e
  double rms_rel = 0;   // sqrt(E e²)
  double max_rel = 0;   // sup |e|
};

// Largest k evaluated by the exact cell sum ((2^k + 1)² cells; k = 11: 4.2M).
inline constexpr int kMaxCellBits = 11;

// The model of an arithmetic, or nullopt where the theory does not apply
// (exact/fp32; e8mK with 12 <= K <= 22, too many cells). fp32-format L-Mul and
// Mitchell are modelled without reduction (continuous mantissas).
std::optional<TheoryModel> TheoryModelFor(const Arith& arith);

// Evaluates the model. Requires 1 <= k <= kMaxCellBits when reduce is true.
TheoryStats UniformMantissaTheory(const TheoryModel& model);

// The value of the operation on reduced mantissa fractions fa, fb in [0, 1)
// with carries ca, cb (an rne-rounded operand that reached 2 has fraction 0,
// carry 1), divided by 2^(ex+ey). Exposed for tests.
double CellValue(const TheoryModel& model, double fa, int ca, double fb, int cb);

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_THEORY_H_
