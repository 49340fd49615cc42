// Relative-error statistics of an arithmetic against exact products
// (definitions: docs/precision.md §2).
//
// For each operand pair (x, y) of fp32 values the reference is the exact
// product p = x·y of the UNREDUCED inputs, computed in double (exact: two
// 24-bit significands). Pairs with p = 0 or non-finite p are not evaluated
// (the operand sources skip them and count them). For the result r:
//   - r = ±Inf or NaN: "non-finite"; counted in overflow_frac, excluded from
//     mean_rel, bias, rms_rel and max_rel (their denominator is the number of
//     finite results);
//   - r finite and |r| equal to the output format's largest finite value while
//     |p| exceeds it: "saturated"; counted in overflow_frac AND included in the
//     means with its (finite) relative error;
//   - r = ±0: "zero" (flushed/underflowed); counted in zero_frac and included
//     in the means with relative error −1 (|e| = 1);
//   - otherwise e = (r − p)/p, the signed relative error.
// mean_rel = mean |e|, bias = mean e, rms_rel = sqrt(mean e²), max_rel = max |e|
// over finite results; zero_frac and overflow_frac are fractions of all samples.
#ifndef LMUL_ANALYSIS_PRECISION_ERROR_STATS_H_
#define LMUL_ANALYSIS_PRECISION_ERROR_STATS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "analysis/precision/theory.h"

namespace lmul::precision {

struct ErrorStats {
  std::string arith;  // canonical Arith::Name()
  std::string dist;   // Distribution::Name()
  uint64_t samples = 0;
  double mean_rel = 0, bias = 0, rms_rel = 0, max_rel = 0;
  double zero_frac = 0, overflow_frac = 0;
  uint64_t zero_count = 0, nonfinite_count = 0, saturated_count = 0;
  // Standard errors of mean_rel and bias (sample standard deviation / sqrt(n)).
  double se_mean_rel = 0, se_bias = 0;
  std::optional<TheoryStats> theory;  // uniform-mantissa theory, where it applies
};

// Sums over a block of samples. Merge() in a fixed order gives results that do
// not depend on how samples were split between threads.
class ErrorAccumulator {
 public:
  explicit ErrorAccumulator(double max_finite_out = 0) : max_finite_(max_finite_out) {}
  // exact: x·y in double (nonzero, finite); result: the arithmetic's product.
  void Add(double exact, float result);
  void Merge(const ErrorAccumulator& other);
  // Fills the statistics fields of `out` (not arith/dist/theory).
  void Finish(ErrorStats* out) const;

 private:
  double max_finite_;
  uint64_t n_ = 0, zero_ = 0, nonfinite_ = 0, saturated_ = 0;
  double sum_abs_ = 0, sum_ = 0, sum_sq_ = 0, max_ = 0;
};

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_ERROR_STATS_H_
