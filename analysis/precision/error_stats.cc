#include "analysis/precision/error_stats.h"

#include <algorithm>
#include <cmath>

namespace lmul::precision {

void ErrorAccumulator::Add(double exact, float result) {
  ++n_;
  const double r = result;
  if (!std::isfinite(r)) {
    ++nonfinite_;
    return;
  }
  if (max_finite_ > 0 && std::fabs(r) == max_finite_ && std::fabs(exact) > max_finite_) {
    ++saturated_;
  }
  double e;
  if (r == 0) {
    ++zero_;
    e = -1;
  } else {
    e = (r - exact) / exact;
  }
  const double a = std::fabs(e);
  sum_abs_ += a;
  sum_ += e;
  sum_sq_ += e * e;
  max_ = std::max(max_, a);
}

void ErrorAccumulator::Merge(const ErrorAccumulator& o) {
  n_ += o.n_;
  zero_ += o.zero_;
  nonfinite_ += o.nonfinite_;
  saturated_ += o.saturated_;
  sum_abs_ += o.sum_abs_;
  sum_ += o.sum_;
  sum_sq_ += o.sum_sq_;
  max_ = std::max(max_, o.max_);
}

void ErrorAccumulator::Finish(ErrorStats* s) const {
  s->samples = n_;
  s->zero_count = zero_;
  s->nonfinite_count = nonfinite_;
  s->saturated_count = saturated_;
  const uint64_t finite = n_ - nonfinite_;
  if (n_ > 0) {
    s->zero_frac = static_cast<double>(zero_) / static_cast<double>(n_);
    s->overflow_frac = static_cast<double>(nonfinite_ + saturated_) / static_cast<double>(n_);
  }
  if (finite > 0) {
    const double n = static_cast<double>(finite);
    s->mean_rel = sum_abs_ / n;
    s->bias = sum_ / n;
    const double ms = sum_sq_ / n;
    s->rms_rel = std::sqrt(ms);
    s->max_rel = max_;
    if (finite > 1) {
      const double corr = n / (n - 1);  // unbiased variance
      s->se_mean_rel = std::sqrt(std::max(0.0, (ms - s->mean_rel * s->mean_rel) * corr) / n);
      s->se_bias = std::sqrt(std::max(0.0, (ms - s->bias * s->bias) * corr) / n);
    }
  }
}

}  // namespace lmul::precision
