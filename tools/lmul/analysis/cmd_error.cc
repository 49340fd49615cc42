// lmul error: relative-error study of arithmetics against exact products
// (analysis/precision, docs/precision.md).
//
//   lmul error [--ops LIST] [--dist DIST] [--samples N] [--seed S] [--threads T]
//              [--csv FILE] [--json FILE] [--plot FILE.svg] [--no-progress]
//   lmul error --sweep-offsets [--samples N] [--seed S]
//
// stdout: a human table (theory next to measurement). --csv columns:
// arith,dist,samples,mean_rel,bias,rms_rel,max_rel,zero_frac,overflow_frac,theory_mean_rel
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "analysis/precision/error_study.h"
#include "analysis/precision/offset_sweep.h"
#include "kernels/worker_pool.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

struct Options {
  std::string ops;
  std::string dist = "uniform";
  uint64_t samples = 1 << 20;
  bool samples_given = false;
  uint64_t seed = 1;
  int threads = 0;
  std::string csv, json, plot;
  bool no_progress = false;
  bool sweep_offsets = false;
};

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) return false;
  f << text;
  return static_cast<bool>(f);
}

// "[=====     ]  42%  1.2M mul/s  ETA 3s" on stderr.
class ProgressBar {
 public:
  explicit ProgressBar(uint64_t muls_per_unit) : per_unit_(muls_per_unit) {}
  void operator()(uint64_t done, uint64_t total) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1;
    const int w = 30, filled = static_cast<int>(frac * w);
    const double rate = t > 0 ? static_cast<double>(done * per_unit_) / t : 0;
    const double eta = frac > 0 ? t * (1 - frac) / frac : 0;
    std::fprintf(stderr, "\r[%s%s] %3.0f%%  %.3g mul/s  ETA %.0fs ",
                 std::string(filled, '=').c_str(), std::string(w - filled, ' ').c_str(), 100 * frac,
                 rate, eta);
    if (done == total) std::fprintf(stderr, "\n");
  }

 private:
  uint64_t per_unit_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

int RunSweep(const Options& o) {
  using lmul::Rounding;
  std::vector<lmul::precision::OffsetSweepRow> rows;
  const uint64_t samples = o.samples_given ? o.samples : (1 << 18);
  for (Rounding r : {Rounding::kTrunc, Rounding::kRne}) {
    for (int k = 1; k <= 10; ++k) {
      rows.push_back(lmul::precision::SweepOffsets(k, r, samples, o.seed));
      if (!o.no_progress && isatty(2))
        std::fprintf(stderr, "\rsweep: %s k=%d   ", RoundingName(r), k);
    }
  }
  rows.push_back(lmul::precision::SweepOffsets(23, Rounding::kTrunc, 0, o.seed));
  if (!o.no_progress && isatty(2)) std::fprintf(stderr, "\n");
  std::fputs(lmul::precision::FormatOffsetSweep(rows).c_str(), stdout);
  return 0;
}

int RunError(const Options& o) {
  namespace p = lmul::precision;
  // The operand pairs are drawn up front: two fp32 (8 bytes) per sample.
  if (auto mem = lmul::cli::CheckMemory("--samples", std::to_string(o.samples), o.samples * 8.0L,
                                        "the operand pairs");
      !mem.ok()) {
    return lmul::cli::UsageError("error", mem.error(), "use a smaller --samples");
  }
  if (o.sweep_offsets) return RunSweep(o);
  p::StudyOptions so;
  std::string ops = o.ops;
  if (ops.empty()) {
    for (const std::string& s : p::DefaultOps()) ops += s + ";";
  }
  auto parsed = p::ParseOpsList(ops);
  if (!parsed.ok()) {
    return lmul::cli::UsageError(
        "error", parsed.error(),
        "e.g. --ops 'lmul/e8m4,rne;exact/e4m3' (';' or ',' separate specs)");
  }
  so.ops = *parsed;
  auto dist = p::Distribution::Parse(o.dist);
  if (!dist.ok()) {
    return lmul::cli::UsageError("error", dist.error(),
                                 "e.g. --dist uniform, --dist exhaustive:e4m3");
  }
  so.dist = *dist;

  so.samples =
      so.dist.kind == p::Distribution::Kind::kActivations && !o.samples_given ? 0 : o.samples;
  so.seed = o.seed;
  so.threads = o.threads > 0 ? o.threads : std::min(16, lmul::kernels::ResolveThreads(0));
  if (!o.plot.empty() && o.plot.size() >= 4 && o.plot.substr(o.plot.size() - 4) == ".png") {
    return lmul::cli::UsageError("error", "--plot writes SVG, not PNG: '" + o.plot + "'",
                                 "use FILE.svg, then e.g. `convert FILE.svg FILE.png`");
  }
  std::unique_ptr<ProgressBar> bar;
  if (!o.no_progress && isatty(2)) {
    bar = std::make_unique<ProgressBar>(p::kBlockSize);
    so.progress = [&bar](uint64_t d, uint64_t t) { (*bar)(d, t); };
  }
  auto result = p::RunErrorStudy(so);
  if (!result.ok()) {
    return lmul::cli::PrintError("error", result.error(), p::Distribution::Help());
  }
  std::fputs(p::FormatTable(*result).c_str(), stdout);
  auto write = [&](const std::string& path, const std::string& text, const char* what) {
    if (path.empty()) return true;
    if (!WriteFile(path, text)) {
      lmul::cli::PrintError("error", std::string("cannot write ") + what + " file '" + path + "'",
                            "check that the directory exists and is writable");
      return false;
    }
    return true;
  };
  if (!write(o.csv, p::FormatCsv(*result), "CSV")) return 1;
  if (!write(o.json, p::FormatJson(*result, so), "JSON")) return 1;
  if (!write(o.plot, p::PlotSvg(*result), "plot")) return 1;
  return 0;
}

lmul::cli::Registrar reg(
    "error", "Relative-error study of arithmetics vs exact products (theory beside measurement)",
    [](CLI::App* app) {
      auto o = std::make_shared<Options>();
      app->add_option("--ops", o->ops,
                      "arithmetics, separated by ';' or ','; a token without '/' is an option of "
                      "the spec before it (lmul/e8m4,rne,exact/e4m3). Default: the issue's list "
                      "(lmul/e8m1..10 trunc+rne, mitchell/e8m7, exact/e4m3[,wide], "
                      "exact/e5m2[,wide], exact/bf16, exact/fp16, lmul/e4m3, lmul/e5m2, lmul/bf16, "
                      "lmul/fp16)");
      app->add_option("--dist", o->dist, lmul::precision::Distribution::Help())
          ->default_str("uniform");
      auto* samples = lmul::cli::AddInt(
          app, "--samples", &o->samples, 1, int64_t{1} << 40,
          "operand pairs for random distributions (default 1048576); activations: the first "
          "N pairs (default all); exhaustive: ignored");
      lmul::cli::AddInt(app, "--seed", &o->seed, 0, INT64_MAX, "random seed (default 1)");
      lmul::cli::AddInt(app, "--threads", &o->threads, 0, 1024,
                        "worker threads (default 0: hardware threads, at most 16); results do "
                        "not depend on it");
      lmul::cli::AddOutputPath(app, "--csv", &o->csv, "write the statistics as CSV");
      lmul::cli::AddOutputPath(app, "--json", &o->json,
                               "write the statistics (+ standard errors, theory) as JSON");
      lmul::cli::AddOutputPath(app, "--plot", &o->plot,
                      "write an SVG of mean error vs mantissa bits with fp8 reference lines");
      app->add_flag("--no-progress", o->no_progress, "no progress bar on stderr");
      app->add_flag("--sweep-offsets", o->sweep_offsets,
                    "instead: best L-Mul offset per k (theory sweep, Monte Carlo check) vs the "
                    "paper's l(k) rule");
      app->footer(
          "Relative error e = r/(x*y) - 1 against the exact product of the unreduced fp32 inputs. "
          "Zero results count with |e| = 1 (zero_frac); Inf/NaN results are excluded from the "
          "means and counted in overflow_frac, as are saturated results (kept in the means). "
          "See docs/precision.md.");
      return [o, samples] {
        o->samples_given = samples->count() > 0;
        return RunError(*o);
      };
    });

}  // namespace
