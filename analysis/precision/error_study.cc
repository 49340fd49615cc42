#include "analysis/precision/error_study.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include "numeric/testing/value_oracle.h"

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

double OutputMaxFinite(const Arith& a) { return oracle::MaxFinite(a.OutputFormat()); }

bool TheoryApplies(const Arith& a, const Distribution& d) {
  if (d.kind != Distribution::Kind::kUniform) return false;
  if (!TheoryModelFor(a)) return false;
  // Operands in [2^emin, 2^(emax+1)]; results below 2^(2·emax + 5) (at most
  // two carries plus two rne operand carries); products at least 2^(2·emin).
  const Format& in = a.format;
  const Format out = a.OutputFormat();
  const double lo = std::ldexp(1.0, d.emin), hi = std::ldexp(1.0, d.emax + 1);
  const double plo = std::ldexp(1.0, 2 * d.emin), phi = std::ldexp(1.0, 2 * d.emax + 5);
  return lo >= oracle::MinNormal(in) && hi <= oracle::MaxFinite(in) &&
         plo >= oracle::MinNormal(out) && phi <= oracle::MaxFinite(out);
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

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

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
  std::string out =
      "{\n  \"dist\": " + JsonString(o.dist.Name()) + ",\n  \"seed\": " + std::to_string(o.seed) +
      ",\n  \"skipped_pairs\": " + std::to_string(r.skipped_pairs) + ",\n  \"rows\": [\n";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ErrorStats& s = r.rows[i];
    out += "    {\"arith\": " + JsonString(s.arith) +
           ", \"samples\": " + std::to_string(s.samples) + ", \"mean_rel\": " + G(s.mean_rel) +
           ", \"bias\": " + G(s.bias) + ", \"rms_rel\": " + G(s.rms_rel) +
           ", \"max_rel\": " + G(s.max_rel) + ", \"zero_frac\": " + G(s.zero_frac) +
           ", \"overflow_frac\": " + G(s.overflow_frac) +
           ", \"zero_count\": " + std::to_string(s.zero_count) +
           ", \"nonfinite_count\": " + std::to_string(s.nonfinite_count) +
           ", \"saturated_count\": " + std::to_string(s.saturated_count) +
           ", \"se_mean_rel\": " + G(s.se_mean_rel) + ", \"se_bias\": " + G(s.se_bias);
    if (s.theory) {
      out += ", \"theory\": {\"mean_rel\": " + G(s.theory->mean_rel) +
             ", \"bias\": " + G(s.theory->bias) + ", \"rms_rel\": " + G(s.theory->rms_rel) +
             ", \"max_rel\": " + G(s.theory->max_rel) + "}";
    } else {
      out += ", \"theory\": null";
    }
    out += i + 1 < r.rows.size() ? "},\n" : "}\n";
  }
  return out + "  ]\n}\n";
}

std::string PlotSvg(const StudyResult& r) {
  // Collect the e8mK lmul rows by reduction mode, and the fp8 references.
  std::map<int, const ErrorStats*> trunc, rne;
  std::vector<std::pair<std::string, double>> refs;
  for (const ErrorStats& s : r.rows) {
    auto a = Arith::Parse(s.arith);
    if (!a.ok()) continue;
    if (a->op == Op::kLMul && a->format.kind == Format::Kind::kE8M) {
      (a->reduce == Rounding::kTrunc ? trunc : rne)[a->format.man_bits] = &s;
    }
    if (a->op == Op::kExact &&
        (a->format.kind == Format::Kind::kE4M3 || a->format.kind == Format::Kind::kE5M2)) {
      refs.push_back({s.arith, s.mean_rel});
    }
  }
  // Plot area 490 x 390; the legend sits right of it, and the canvas is widened (and made
  // taller) to hold the legend's longest line, so no label is clipped. Text extents are
  // estimated at kEm em per character (DejaVu Sans averages ~0.55 em; kEm errs wide).
  constexpr double kEm = 0.62;
  const double L = 80, T = 60, B = 70, pw = 490, ph = 390;
  const std::vector<std::string> notes = {"dotted lines + squares:", "uniform-mantissa theory",
                                          "fp8 lines: exact product", "rounded to fp8",
                                          "(,wide: kept in fp32)"};
  size_t longest = std::string("L-Mul, trunc operands (measured)").size();
  for (const auto& [name, v] : refs) longest = std::max(longest, name.size() + 10);
  double legend_w = 36 + kEm * 12 * static_cast<double>(longest);
  for (const std::string& n : notes) legend_w = std::max(legend_w, kEm * 11 * n.size());
  const double R = 15 + legend_w + 15;
  const double W = L + pw + R;
  const double legend_h = 10 + 22 * (4 + std::min<size_t>(refs.size(), 4)) + 16 * notes.size() + 10;
  const double H = std::max(T + ph + B, T + legend_h);
  int kmin = 1, kmax = 10;
  if (!trunc.empty() || !rne.empty()) {
    kmin = 99;
    kmax = 0;
    for (auto* m : {&trunc, &rne}) {
      for (auto& [k, s] : *m) {
        kmin = std::min(kmin, k);
        kmax = std::max(kmax, k);
      }
    }
    if (kmin == kmax) {
      kmin = std::max(1, kmin - 1);
      ++kmax;
    }
  }
  double ymax = 0;
  auto upd = [&](double v) { ymax = std::max(ymax, v); };
  for (auto* m : {&trunc, &rne}) {
    for (auto& [k, s] : *m) {
      upd(s->mean_rel);
      if (s->theory) upd(s->theory->mean_rel);
    }
  }
  for (auto& [n, v] : refs) upd(v);
  double ymin = 1e300;
  auto upd_min = [&](double v) {
    if (v > 0) ymin = std::min(ymin, v);
  };
  for (auto* m : {&trunc, &rne}) {
    for (auto& [k, st] : *m) {
      upd_min(st->mean_rel);
      if (st->theory) upd_min(st->theory->mean_rel);
    }
  }
  for (auto& [nm, v] : refs) upd_min(v);
  if (ymin > ymax) ymin = ymax = 0.01;
  // Logarithmic y axis (percent) from a 1-2-5 decade tick below ymin to one above ymax.
  ymax = std::max(ymax, 1e-6) * 100;
  ymin = std::max(ymin, 1e-6) * 100;
  const double ticks_125[] = {1, 1.5, 2, 3, 4, 5, 7};
  double ybot = std::pow(10, std::floor(std::log10(ymin)));
  for (double t : ticks_125) {
    const double v = std::pow(10, std::floor(std::log10(ymin))) * t;
    if (v <= ymin) ybot = v;
  }
  double ytop = std::pow(10, std::ceil(std::log10(ymax)));
  for (int d = static_cast<int>(std::floor(std::log10(ymax))); d <= std::ceil(std::log10(ymax));
       ++d) {
    bool found = false;
    for (double t : ticks_125) {
      const double v = std::pow(10, d) * t;
      if (v >= ymax) {
        ytop = std::min(ytop, v);
        found = true;
        break;
      }
    }
    if (found) break;
  }
  if (ytop <= ybot) ytop = ybot * 10;
  auto X = [&](double k) { return L + (k - kmin) / (kmax - kmin) * pw; };
  auto Y = [&](double pct) {
    return T + ph -
           (std::log10(pct) - std::log10(ybot)) / (std::log10(ytop) - std::log10(ybot)) * ph;
  };
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H, W, H);
  s += buf;
  const std::string dist = r.rows.empty() ? "" : r.rows.front().dist;
  const uint64_t n = r.rows.empty() ? 0 : r.rows.front().samples;
  std::snprintf(buf, sizeof buf,
                "<text x=\"%.0f\" y=\"28\" font-size=\"17\" text-anchor=\"middle\">"
                "L-Mul mean relative error vs mantissa bits K (lmul/e8mK)</text>\n"
                "<text x=\"%.0f\" y=\"48\" font-size=\"13\" text-anchor=\"middle\" fill=\"#444\">"
                "operands: %s, %llu pairs; error vs exact product of the unreduced fp32 "
                "inputs</text>\n",
                L + pw / 2, L + pw / 2, dist.c_str(), static_cast<unsigned long long>(n));
  s += buf;
  // Grid and axes.
  for (int d = static_cast<int>(std::floor(std::log10(ybot))) - 1; d <= std::log10(ytop) + 1; ++d) {
    for (double t : ticks_125) {
      const double v = std::pow(10, d) * t;
      if (v < ybot * (1 - 1e-9) || v > ytop * (1 + 1e-9)) continue;
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%g</text>\n",
                    L, Y(v), L + pw, Y(v), L - 6, Y(v) + 4, v);
      s += buf;
    }
  }
  for (int k = kmin; k <= kmax; ++k) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%d</text>\n",
                  X(k), T, X(k), T + ph, X(k), T + ph + 18, k);
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"black\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\">"
                "mantissa bits K of the L-Mul operands</text>\n"
                "<text x=\"20\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
                "transform=\"rotate(-90 20 %.1f)\">mean |relative error| (%%, log scale)</text>\n",
                L, T, pw, ph, L + pw / 2, T + ph + 45, T + ph / 2, T + ph / 2);
  s += buf;
  // Reference lines.
  const char* ref_colors[] = {"#d62728", "#ff7f0e", "#9467bd", "#8c564b"};
  struct Legend {
    std::string label, color, dash;
    bool marker;
  };
  std::vector<Legend> legend;
  for (size_t i = 0; i < refs.size() && i < 4; ++i) {
    const bool wide = refs[i].first.find("wide") != std::string::npos;
    const std::string dash = wide ? "2,4" : "8,4";
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"1.8\" stroke-dasharray=\"%s\"/>\n",
                  L, Y(100 * refs[i].second), L + pw, Y(100 * refs[i].second), ref_colors[i],
                  dash.c_str());
    s += buf;
    std::snprintf(buf, sizeof buf, "%s (%.2f%%)", refs[i].first.c_str(), 100 * refs[i].second);
    legend.push_back({buf, ref_colors[i], dash, false});
  }
  // Curves.
  auto curve = [&](const std::map<int, const ErrorStats*>& m, const char* color,
                   const std::string& name) {
    if (m.empty()) return;
    std::string meas, theo;
    bool any_theory = false;
    for (auto& [k, st] : m) {
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(k), Y(100 * st->mean_rel));
      meas += buf;
      if (st->theory) {
        std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(k), Y(100 * st->theory->mean_rel));
        theo += buf;
        any_theory = true;
      }
    }
    if (any_theory) {
      s += "<polyline points=\"" + theo + "\" style=\"fill:none\" fill=\"none\" stroke=\"" + color +
           "\" stroke-width=\"1.5\" stroke-dasharray=\"1,3\"/>\n";
    }
    s += "<polyline points=\"" + meas + "\" style=\"fill:none\" fill=\"none\" stroke=\"" + color +
         "\" stroke-width=\"2\"/>\n";
    for (auto& [k, st] : m) {
      std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
                    X(k), Y(100 * st->mean_rel), color);
      s += buf;
      if (st->theory) {
        std::snprintf(buf, sizeof buf,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"none\" "
                      "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
                      X(k) - 4.5, Y(100 * st->theory->mean_rel) - 4.5, color);
        s += buf;
      }
    }
    legend.insert(legend.begin(), {"L-Mul, " + name + " (measured)", color, "", true});
    if (any_theory) legend.insert(legend.begin() + 1, {"theory, " + name, color, "1,3", false});
  };
  curve(rne, "#2ca02c", "rne operands");
  curve(trunc, "#1f77b4", "trunc operands");
  // Legend box on the right.
  double ly = T + 10;
  for (const Legend& l : legend) {
    const double lx = L + pw + 15;
    if (l.marker) {
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
                    lx, ly, lx + 30, ly, l.color.c_str(), lx + 15, ly, l.color.c_str());
    } else {
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"1.8\" stroke-dasharray=\"%s\"/>\n",
                    lx, ly, lx + 30, ly, l.color.c_str(), l.dash.c_str());
    }
    s += buf;
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n",
                  lx + 36, ly + 4, l.label.c_str());
    s += buf;
    ly += 22;
  }
  if (legend.size() > 0) {
    for (const std::string& n : notes) {
      std::snprintf(buf, sizeof buf,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555\">%s</text>\n",
                    L + pw + 15, ly + 6, n.c_str());
      s += buf;
      ly += 16;
    }
  }
  s += "</svg>\n";
  return s;
}

}  // namespace lmul::precision
