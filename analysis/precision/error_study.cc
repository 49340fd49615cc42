#include "analysis/precision/error_study.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "analysis/plot/svg_plot.h"

namespace lmul::precision {

std::vector<std::string> DefaultOps() {
  std::vector<std::string> ops;
  for (int k = 1; k <= 10; ++k) {
    ops.push_back("lmul/e8m" + std::to_string(k));
    ops.push_back("lmul/e8m" + std::to_string(k) + ",rne");
  }
  for (const char* s :
       {"mitchell/e8m7", "exact/e4m3", "exact/e4m3,wide", "exact/e5m2", "exact/e5m2,wide",
        "exact/bf16", "exact/fp16", "lmul/e4m3", "lmul/e5m2", "lmul/bf16", "lmul/fp16"}) {
    ops.push_back(s);
  }
  return ops;
}

Result<std::vector<Arith>> ParseOpsList(const std::string& list) {
  // Tokens split at ',', ';' and whitespace; a token with '/' starts a new
  // spec, any other token is an option of the spec before it.
  std::vector<std::string> specs;
  std::string tok;
  auto flush = [&]() -> Status {
    if (tok.empty()) return Status::Ok();
    if (tok.find('/') != std::string::npos) {
      specs.push_back(tok);
    } else if (specs.empty()) {
      return MakeError("bad --ops list: option '" + tok + "' before any OP/FORMAT");
    } else {
      specs.back() += "," + tok;
    }
    tok.clear();
    return Status::Ok();
  };
  for (char c : list) {
    if (c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\n') {
      LMUL_RETURN_IF_ERROR(flush());
    } else {
      tok += c;
    }
  }
  LMUL_RETURN_IF_ERROR(flush());
  if (specs.empty()) return MakeError("empty --ops list");
  std::vector<Arith> out;
  for (const std::string& s : specs) {
    auto a = Arith::Parse(s);
    if (!a.ok()) return std::move(a).TakeError();
    out.push_back(*a);
  }
  return out;
}

double MaxFinite(const Format& f) { return Decode(f, f.MaxFiniteField()); }

double MinNormal(const Format& f) { return std::ldexp(1.0, f.MinNormalExp()); }

double OutputMaxFinite(const Arith& a) { return MaxFinite(a.OutputFormat()); }

bool TheoryApplies(const Arith& a, const Distribution& d) {
  if (d.kind != Distribution::Kind::kUniform) return false;
  if (!TheoryModelFor(a)) return false;
  // Operands in [2^emin, 2^(emax+1)]; results below 2^(2·emax + 5) (at most
  // two carries plus two rne operand carries); products at least 2^(2·emin).
  const Format& in = a.format;
  const Format out = a.OutputFormat();
  const double lo = std::ldexp(1.0, d.emin), hi = std::ldexp(1.0, d.emax + 1);
  const double plo = std::ldexp(1.0, 2 * d.emin), phi = std::ldexp(1.0, 2 * d.emax + 5);
  return lo >= MinNormal(in) && hi <= MaxFinite(in) && plo >= MinNormal(out) &&
         phi <= MaxFinite(out);
}

Result<StudyResult> RunErrorStudy(const StudyOptions& o) {
  if (o.ops.empty()) return MakeError("no arithmetic to study");
  auto pairs = MakeOperandPairs(o.dist, o.samples, o.seed);
  if (!pairs.ok()) return std::move(pairs).TakeError();
  const uint64_t n = pairs->x.size();
  const uint64_t blocks = (n + kBlockSize - 1) / kBlockSize;
  const size_t n_ops = o.ops.size();
  // acc[op][block]: merged in block order, so the result does not depend on threads.
  std::vector<std::vector<ErrorAccumulator>> acc(n_ops);
  for (size_t i = 0; i < n_ops; ++i) {
    acc[i].assign(blocks, ErrorAccumulator(OutputMaxFinite(o.ops[i])));
  }
  const uint64_t total = blocks * n_ops;
  std::atomic<uint64_t> next{0}, done{0};
  auto worker = [&]() {
    for (uint64_t job; (job = next.fetch_add(1)) < total;) {
      const size_t op = job / blocks;
      const uint64_t block = job % blocks;
      const Arith& a = o.ops[op];
      ErrorAccumulator& ac = acc[op][block];
      const uint64_t end = std::min(n, (block + 1) * kBlockSize);
      for (uint64_t i = block * kBlockSize; i < end; ++i) {
        const float x = pairs->x[i], y = pairs->y[i];
        ac.Add(static_cast<double>(x) * static_cast<double>(y), a.Mul(x, y));
      }
      done.fetch_add(1);
    }
  };
  const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(total)));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  if (o.progress) {
    // The calling thread reports progress while helping.
    std::thread self(worker);
    while (done.load() < total) {
      o.progress(done.load(), total);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    self.join();
    o.progress(total, total);
  } else {
    worker();
  }
  for (auto& t : pool) t.join();

  StudyResult r;
  r.skipped_pairs = pairs->skipped;
  for (size_t i = 0; i < n_ops; ++i) {
    ErrorAccumulator sum(OutputMaxFinite(o.ops[i]));
    for (const ErrorAccumulator& b : acc[i]) sum.Merge(b);
    ErrorStats s;
    s.arith = o.ops[i].Name();
    s.dist = o.dist.Name();
    sum.Finish(&s);
    if (TheoryApplies(o.ops[i], o.dist))
      s.theory = UniformMantissaTheory(*TheoryModelFor(o.ops[i]));
    r.rows.push_back(s);
  }
  return r;
}

namespace {

std::string G(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A number as the JSON and CSV print it: 9 significant digits ("%.9g").
double Sig9(double v) { return std::strtod(G(v).c_str(), nullptr); }

}  // namespace

std::string FormatCsv(const StudyResult& r) {
  std::string out = std::string(kCsvHeader) + "\n";
  for (const ErrorStats& s : r.rows) {
    // Arith names contain commas (lmul/e8m4,rne): quoted per RFC 4180.
    const bool quote = s.arith.find(',') != std::string::npos;
    out += (quote ? "\"" + s.arith + "\"" : s.arith) + "," + s.dist + "," +
           std::to_string(s.samples) + "," + G(s.mean_rel) + "," + G(s.bias) + "," + G(s.rms_rel) +
           "," + G(s.max_rel) + "," + G(s.zero_frac) + "," + G(s.overflow_frac) + "," +
           (s.theory ? G(s.theory->mean_rel) : "") + "\n";
  }
  return out;
}

std::string FormatTable(const StudyResult& r) {
  std::string out;
  char buf[320];
  std::snprintf(buf, sizeof buf, "%-18s %-16s %9s %9s %9s %9s %9s %8s %8s %9s %7s\n", "arith",
                "dist", "samples", "mean_rel%", "bias%", "rms_rel%", "max_rel%", "zero%", "ovfl%",
                "theory%", "z");
  out += buf;
  for (const ErrorStats& s : r.rows) {
    std::string th = "-", z = "-";
    if (s.theory) {
      std::snprintf(buf, sizeof buf, "%.4f", 100 * s.theory->mean_rel);
      th = buf;
      if (s.se_mean_rel > 0) {
        std::snprintf(buf, sizeof buf, "%+.2f", (s.mean_rel - s.theory->mean_rel) / s.se_mean_rel);
        z = buf;
      }
    }
    std::snprintf(buf, sizeof buf,
                  "%-18s %-16s %9llu %9.4f %+9.4f %9.4f %9.4f %8.4f %8.4f %9s %7s\n",
                  s.arith.c_str(), s.dist.c_str(), static_cast<unsigned long long>(s.samples),
                  100 * s.mean_rel, 100 * s.bias, 100 * s.rms_rel, 100 * s.max_rel,
                  100 * s.zero_frac, 100 * s.overflow_frac, th.c_str(), z.c_str());
    out += buf;
  }
  if (r.skipped_pairs) {
    out += "(" + std::to_string(r.skipped_pairs) +
           " operand pairs with a zero or non-finite exact product were skipped)\n";
  }
  out += "z = (mean_rel - theory) / standard error of mean_rel\n";
  return out;
}

std::string FormatJson(const StudyResult& r, const StudyOptions& o) {
  using Json = nlohmann::ordered_json;
  Json rows = Json::array();
  for (const ErrorStats& st : r.rows) {
    Json row = {{"arith", st.arith},
                {"samples", st.samples},
                {"mean_rel", Sig9(st.mean_rel)},
                {"bias", Sig9(st.bias)},
                {"rms_rel", Sig9(st.rms_rel)},
                {"max_rel", Sig9(st.max_rel)},
                {"zero_frac", Sig9(st.zero_frac)},
                {"overflow_frac", Sig9(st.overflow_frac)},
                {"zero_count", st.zero_count},
                {"nonfinite_count", st.nonfinite_count},
                {"saturated_count", st.saturated_count},
                {"se_mean_rel", Sig9(st.se_mean_rel)},
                {"se_bias", Sig9(st.se_bias)},
                {"theory", nullptr}};
    if (st.theory) {
      row["theory"] = {{"mean_rel", Sig9(st.theory->mean_rel)},
                       {"bias", Sig9(st.theory->bias)},
                       {"rms_rel", Sig9(st.theory->rms_rel)},
                       {"max_rel", Sig9(st.theory->max_rel)}};
    }
    rows.push_back(std::move(row));
  }
  const Json j = {{"dist", o.dist.Name()},
                  {"seed", o.seed},
                  {"skipped_pairs", r.skipped_pairs},
                  {"rows", std::move(rows)}};
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string PlotSvg(const StudyResult& r) {
  // The e8mK lmul rows by reduction mode, and the fp8 references.
  std::map<int, const ErrorStats*> trunc, rne;
  std::vector<const ErrorStats*> refs;
  for (const ErrorStats& st : r.rows) {
    auto a = Arith::Parse(st.arith);
    if (!a.ok()) continue;
    if (a->op == Op::kLMul && a->format.kind == Format::Kind::kE8M) {
      (a->reduce == Rounding::kTrunc ? trunc : rne)[a->format.man_bits] = &st;
    }
    if (a->op == Op::kExact &&
        (a->format.kind == Format::Kind::kE4M3 || a->format.kind == Format::Kind::kE5M2) &&
        refs.size() < 4) {
      refs.push_back(&st);
    }
  }
  plot::Plot p;
  p.title = "L-Mul mean relative error vs mantissa bits K (lmul/e8mK)";
  const std::string dist = r.rows.empty() ? "" : r.rows.front().dist;
  const uint64_t n = r.rows.empty() ? 0 : r.rows.front().samples;
  p.subtitle = "operands: " + dist + ", " + std::to_string(n) +
               " pairs; error vs exact product of the unreduced fp32 inputs";
  p.x_label = "mantissa bits K of the L-Mul operands";
  p.y_label = "mean |relative error| (%, log scale)";
  p.log_y = true;
  if (trunc.empty() && rne.empty()) {
    p.x_min = 1;
    p.x_max = 10;
  }
  // Measured (solid, circles) and theory (dotted, squares) per reduction mode.
  auto curves = [&](const std::map<int, const ErrorStats*>& m, const char* color,
                    const std::string& name) {
    if (m.empty()) return;
    plot::Series meas = plot::Curve("L-Mul, " + name + " (measured)", color);
    meas.marker = plot::Marker::kCircle;
    plot::Series theo = plot::Curve("theory, " + name, color);
    theo.dash = "1,3";
    theo.stroke_width = 1.5;
    theo.marker = plot::Marker::kSquare;
    for (const auto& [k, st] : m) {
      meas.x.push_back(k);
      meas.y.push_back(100 * st->mean_rel);
      if (st->theory) {
        theo.x.push_back(k);
        theo.y.push_back(100 * st->theory->mean_rel);
      }
    }
    p.series.push_back(std::move(meas));
    if (!theo.x.empty()) p.series.push_back(std::move(theo));
  };
  curves(trunc, "#1f77b4", "trunc operands");
  curves(rne, "#2ca02c", "rne operands");
  const char* ref_colors[] = {"#d62728", "#ff7f0e", "#9467bd", "#8c564b"};
  for (size_t i = 0; i < refs.size(); ++i) {
    char label[160];
    std::snprintf(label, sizeof label, "%s (%.2f%%)", refs[i]->arith.c_str(),
                  100 * refs[i]->mean_rel);
    plot::Series ref = plot::HorizontalLine(label, ref_colors[i], 100 * refs[i]->mean_rel);
    ref.stroke_width = 1.8;
    ref.dash = refs[i]->arith.find("wide") != std::string::npos ? "2,4" : "8,4";
    p.series.push_back(std::move(ref));
  }
  if (!p.series.empty()) {
    p.notes = {"dotted lines + squares:", "uniform-mantissa theory", "fp8 lines: exact product",
               "rounded to fp8", "(,wide: kept in fp32)"};
  }
  return plot::RenderSvg(p);
}

}  // namespace lmul::precision
