// Operand distributions of the error study (docs/precision.md §1).
//
//   uniform[:EMIN:EMAX]  x = ±(1 + m·2^-23)·2^E: sign, 23 mantissa bits m and the
//                        integer E in [EMIN, EMAX] independent and uniform
//                        (uniform mantissa, log-uniform magnitude). Default
//                        EMIN = -2, EMAX = 1: |x| in [0.25, 4), |xy| in [1/16, 16),
//                        inside the normal range of every format incl. e4m3.
//   gaussian[:SIGMA]     x ~ N(0, SIGMA²) (Box–Muller in double, rounded to fp32). Default 1.
//   laplace[:B]          density exp(-|x|/B)/(2B). Default B = 1.
//   exhaustive:FMT       FMT = e4m3 or e5m2: every ordered pair of finite nonzero
//                        codes (subnormals included); --samples/--seed ignored.
//   exhaustive:FMT:normal  only pairs of normal codes whose exact product lies in
//                        FMT's normal range [min normal, max finite]: isolates
//                        precision from range (underflow, overflow).
//   activations:FILE     operand pairs from an NPY float32 array of shape (n, 2).
// x and y are independent draws. Random streams: the samples are split in
// blocks of kBlockSize; block i draws from xoshiro256** seeded by
// splitmix64(seed, i), so the pairs depend only on (dist, seed, samples).
#ifndef LMUL_ANALYSIS_PRECISION_DISTRIBUTION_H_
#define LMUL_ANALYSIS_PRECISION_DISTRIBUTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "numeric/format.h"

namespace lmul::precision {

inline constexpr uint64_t kBlockSize = 1 << 16;

struct Distribution {
  enum class Kind { kUniform, kGaussian, kLaplace, kExhaustive, kActivations };
  Kind kind = Kind::kUniform;
  int emin = -2, emax = 1;         // uniform
  double scale = 1;                // gaussian sigma / laplace b
  Format format = Format::E4M3();  // exhaustive
  bool normal_only = false;        // exhaustive:FMT:normal
  std::string path;                // activations

  static Result<Distribution> Parse(const std::string& spec);
  static const char* Help();
  // Canonical name, e.g. "uniform", "uniform:-4:3", "gaussian", "exhaustive:e4m3",
  // "activations:qk.npy" (file name without directories).
  std::string Name() const;
  bool IsRandom() const {
    return kind == Kind::kUniform || kind == Kind::kGaussian || kind == Kind::kLaplace;
  }
};

struct OperandPairs {
  std::vector<float> x, y;  // same length; every x[i]*y[i] is finite and nonzero
  uint64_t skipped = 0;     // pairs dropped: zero or non-finite exact product (activations)
};

// Random kinds: `samples` pairs from `seed`. Exhaustive: all pairs (samples,
// seed ignored). Activations: the file's pairs, the first `samples` of them if
// samples > 0.
Result<OperandPairs> MakeOperandPairs(const Distribution& d, uint64_t samples, uint64_t seed);

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_DISTRIBUTION_H_
