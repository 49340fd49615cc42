// The error study behind `lmul error`: every arithmetic of a list on the
// operand pairs of one distribution, statistics per arithmetic, theory next
// to measurement, and the CSV / JSON / table / SVG outputs (docs/precision.md).
#ifndef LMUL_ANALYSIS_PRECISION_ERROR_STUDY_H_
#define LMUL_ANALYSIS_PRECISION_ERROR_STUDY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/precision/distribution.h"
#include "analysis/precision/error_stats.h"
#include "base/result.h"
#include "numeric/arith.h"

namespace lmul::precision {

// The default list: lmul/e8mK and lmul/e8mK,rne for K = 1..10,
// mitchell/e8m7, exact/e4m3[,wide], exact/e5m2[,wide], exact/bf16, exact/fp16,
// lmul/e4m3, lmul/e5m2, lmul/bf16, lmul/fp16.
std::vector<std::string> DefaultOps();
// Comma-separated arithmetic specs are ambiguous (options use commas), so
// a list is separated by ';' or whitespace; each element is Arith::Parse'd.
Result<std::vector<Arith>> ParseOpsList(const std::string& list);

struct StudyOptions {
  std::vector<Arith> ops;
  Distribution dist;
  uint64_t samples = 1 << 20;
  uint64_t seed = 1;
  int threads = 1;
  // Called from the calling thread with (work done, total work) now and then.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct StudyResult {
  std::vector<ErrorStats> rows;  // one per op, in order
  uint64_t skipped_pairs = 0;    // pairs dropped by the source (zero / non-finite product)
};

// Largest finite value of an arithmetic's output format (for saturation).
double OutputMaxFinite(const Arith& a);
// True if the uniform-mantissa theory applies to `a` under `d`: d is uniform and
// its exponent range keeps operands and products inside a's normal range.
bool TheoryApplies(const Arith& a, const Distribution& d);

Result<StudyResult> RunErrorStudy(const StudyOptions& options);

// Output writers.
inline constexpr const char* kCsvHeader =
    "arith,dist,samples,mean_rel,bias,rms_rel,max_rel,zero_frac,overflow_frac,theory_mean_rel";
std::string FormatCsv(const StudyResult& r);
std::string FormatTable(const StudyResult& r);
std::string FormatJson(const StudyResult& r, const StudyOptions& o);

// SVG: mean relative error (%) vs mantissa bits K of the lmul/e8mK rows (trunc
// and rne; measured markers, theory lines) with horizontal reference lines for
// exact/e4m3 and exact/e5m2 (and their ,wide variants) when those rows exist.
std::string PlotSvg(const StudyResult& r);

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_ERROR_STUDY_H_
