// The best L-Mul offset per mantissa width k, against the paper's l(k) rule
// (docs/precision.md §5).
//
// With a k-bit mantissa field the offset is an integer d added to the field
// sum (subtracted constant C = (bias << k) − d), i.e. the mantissa offset is
// c = d·2^-k. The paper's rule is d = 2^k >> l(k). For each d in a range the
// uniform-mantissa theory gives mean |e| and bias exactly; the best d is
// measured again by Monte Carlo through lmul::AddFieldsCodes.
#ifndef LMUL_ANALYSIS_PRECISION_OFFSET_SWEEP_H_
#define LMUL_ANALYSIS_PRECISION_OFFSET_SWEEP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/precision/error_stats.h"
#include "numeric/format.h"

namespace lmul::precision {

struct OffsetPoint {
  int d = 0;     // offset in units of 2^-k (continuous rows: units of 2^-10)
  double c = 0;  // mantissa offset d·2^-k
  TheoryStats theory;
};

struct OffsetSweepRow {
  int k = 0;  // 23: fp32 operands, no reduction (continuous model)
  Rounding reduction = Rounding::kTrunc;
  OffsetPoint rule;                         // the paper's l(k) rule
  OffsetPoint best;                         // smallest theoretical mean |e|
  OffsetPoint zero_bias;                    // smallest |bias|
  ErrorStats measured_rule, measured_best;  // Monte Carlo, uniform distribution
};

// Theory of L-Mul on k-bit operands with offset c = d·2^-k (k = 23: continuous).
TheoryStats OffsetTheory(int k, Rounding reduction, double c);

// Sweeps d = 0 .. max(2^k/4, 3) (k = 23: c = 0 .. 0.25 in steps of 2^-10).
OffsetSweepRow SweepOffsets(int k, Rounding reduction, uint64_t samples, uint64_t seed);

// Monte Carlo of L-Mul with field offset d on e8mK (uniform distribution).
ErrorStats MeasureOffset(int k, Rounding reduction, int d, uint64_t samples, uint64_t seed);

std::string FormatOffsetSweep(const std::vector<OffsetSweepRow>& rows);

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_OFFSET_SWEEP_H_
