// lmul capture: a uniform random sample of the operand pairs one multiplication
// site of a model really multiplied, on WikiText-2 text, as an NPY file for
// `lmul error --dist activations:FILE` (analysis/precision/capture.h,
// docs/precision.md §7).
//
//   lmul capture -m MODEL --site attn.qk|attn.av|attn.proj|mlp|lm_head|elementwise
//                [--tokens N] [--ctx N] [--pairs N] [--seed S] [--arith POLICY]
//                [--threads T] [--data-dir DIR] [--json FILE] [--no-progress] --out FILE.npy
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/precision/capture.h"
#include "analysis/precision/npy.h"
#include "base/escape.h"
#include "engine/tokenizer/tokenizer.h"
#include "eval/data_dir.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

struct Options {
  std::string model, site, out, json, arith = "fp32", data_dir;
  int tokens = 2048;
  int ctx = 512;
  uint64_t pairs = 1 << 20;
  uint64_t seed = 1;
  int threads = 0;
  bool no_progress = false;
};

int RunCapture(const Options& o) {
  namespace p = lmul::precision;
  namespace e = lmul::engine;
  const char* sub = "capture";
  bool site_ok = false;
  e::Site site = e::Site::kAttnQK;
  std::string names;
  for (e::Site s : e::kAllSites) {
    names += std::string(names.empty() ? "" : ", ") + e::SiteName(s);
    if (o.site == e::SiteName(s)) {
      site = s;
      site_ok = true;
    }
  }
  if (!site_ok) {
    return lmul::cli::UsageError(sub, "unknown --site '" + lmul::EscapeUntrusted(o.site, 40) + "'",
                                 "one of " + names);
  }
  // The reservoir: two fp32 per sampled pair.
  if (auto mem =
          lmul::cli::CheckMemory("--pairs", std::to_string(o.pairs), o.pairs * 8.0L, "the sample");
      !mem.ok()) {
    return lmul::cli::UsageError(sub, mem.error(), "use a smaller --pairs");
  }
  if (o.tokens <= 0 || o.ctx <= 0 || o.pairs == 0) {
    return lmul::cli::UsageError(sub, "--tokens, --ctx and --pairs must be positive");
  }
  auto model = e::Model::Load(o.model);
  if (!model.ok()) {
    return lmul::cli::PrintError(sub, model.error(),
                                 "scripts/fetch_model.sh prints the default model's path");
  }
  const std::string data_dir = o.data_dir.empty() ? lmul::eval::DefaultDataDir() : o.data_dir;
  auto text = p::WikiTextCaptureText(**model, data_dir, o.tokens, o.ctx);
  if (!text.ok()) {
    return lmul::cli::PrintError(
        sub, text.error(),
        "--data-dir DIR or $LMUL_DATA: the folder holding "
        "wikitext-2-raw/wiki.test.raw; a model with tokenizer.ggml.* keys");
  }
  p::CaptureOptions co;
  co.site = site;
  co.pairs = o.pairs;
  co.seed = o.seed;
  co.ctx = text->ctx;
  co.bos = text->bos;
  co.threads = o.threads;
  co.policy = o.arith;
  const auto t0 = std::chrono::steady_clock::now();
  if (!o.no_progress && isatty(2)) {
    co.progress = [t0](int done, int total) {
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int w = 30, filled = w * done / std::max(total, 1);
      std::fprintf(stderr, "\r[%s%s] window %d/%d  %.0fs ", std::string(filled, '=').c_str(),
                   std::string(w - filled, ' ').c_str(), done, total, t);
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  auto r = p::RunCapture(**model, text->tokens, co);
  if (!r.ok()) return lmul::cli::UsageError(sub, r.error(), "e.g. --arith fp32");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  lmul::Status st = p::WriteNpyPairs(o.out, r->pairs);
  if (!st.ok()) {
    return lmul::cli::PrintError(sub, st.error(), "check that the directory of --out exists");
  }
  const uint64_t n = r->pairs.size() / 2;
  const p::PairSummary sum = p::SummarizePairs(r->pairs);
  const float ma = sum.median_abs_a, mb = sum.median_abs_b;
  std::printf("model     %s (%s)\n", o.model.c_str(), (*model)->config().Summary().c_str());
  const std::string& text_path = text->path;
  std::printf("text      %s: first %d tokens, %d windows of <= %d%s\n", text_path.c_str(),
              r->tokens, r->windows, co.ctx, co.bos >= 0 ? " (each starting with BOS)" : "");
  std::printf("site      %s under %s\n", o.site.c_str(), o.arith.c_str());
  std::printf("products  %llu (population)\n", static_cast<unsigned long long>(r->products));
  std::printf("sampled   %llu pairs, seed %llu, uniform without replacement\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(o.seed));
  std::printf("operands  median |a| %.4g, median |b| %.4g, pairs with a zero operand %.4f%%\n", ma,
              mb, 100.0 * sum.zero_operand_frac);
  std::printf("wrote     %s (NPY <f4, shape (%llu, 2)) in %.1f s\n", o.out.c_str(),
              static_cast<unsigned long long>(n), secs);
  if (!o.json.empty()) {
    // A float as its shortest decimal (nlohmann would print the double it widens to).
    auto f32 = [](float v) {
      char buf[32];
      const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
      return std::strtod(std::string(buf, end).c_str(), nullptr);
    };
    const nlohmann::ordered_json js = {
        {"model", o.model},  {"text", text_path},       {"tokens", r->tokens},
        {"ctx", co.ctx},     {"windows", r->windows},   {"site", o.site},
        {"policy", o.arith}, {"products", r->products}, {"pairs", n},
        {"seed", o.seed},    {"median_abs_a", f32(ma)}, {"median_abs_b", f32(mb)},
        {"npy", o.out}};
    std::ofstream f(o.json, std::ios::binary);
    f << js.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!f) {
      return lmul::cli::PrintError(sub, "cannot write JSON file '" + o.json + "'",
                                   "check that the directory exists and is writable");
    }
  }
  return 0;
}

lmul::cli::Registrar reg(
    "capture",
    "Sample operand pairs a site of a model multiplied on WikiText-2 (NPY for lmul error)",
    [](CLI::App* app) {
      auto o = std::make_shared<Options>();
      app->add_option("-m,--model", o->model, "GGUF model")->required();
      app->add_option("--site", o->site,
                      "attn.qk (q(t,d), k(j,d)), attn.av (p(t,j), v(j,d)), attn.proj, mlp, "
                      "lm_head, elementwise")
          ->required();
      lmul::cli::AddOutputPath(app, "--out", &o->out, "NPY file to write: float32, shape (n, 2)")
          ->required();
      lmul::cli::AddInt(app, "--tokens", &o->tokens, 1, 1 << 24, "WikiText-2 test tokens to run");
      lmul::cli::AddInt(app, "--ctx", &o->ctx, 1, 1 << 20,
                        "tokens per window; each window is a fresh sequence");
      lmul::cli::AddInt(app, "--pairs", &o->pairs, 1, int64_t{1} << 40, "sample size");
      lmul::cli::AddInt(app, "--seed", &o->seed, 0, INT64_MAX, "sampling seed");
      app->add_option("--arith", o->arith, "policy the model runs under (default fp32)");
      lmul::cli::AddInt(app, "--threads", &o->threads, 0, 1024, "GEMM threads (0: all cores)");
      app->add_option("--data-dir", o->data_dir,
                      "folder with wikitext-2-raw/ (default $LMUL_DATA, else "
                      "<repo>/../shared/data)");
      lmul::cli::AddOutputPath(app, "--json", &o->json, "write the capture's metadata as JSON");
      app->add_flag("--no-progress", o->no_progress, "no progress bar on stderr");
      app->footer(
          "Every product of the site (attention: causal products only) is in the sample with "
          "the same probability; the sample depends only on the seed and the text, not on "
          "--threads. See docs/precision.md §7.");
      return [o] { return RunCapture(*o); };
    });

}  // namespace
