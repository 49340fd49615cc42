// lmul bench gemm|elementwise: kernel throughput against a native baseline
// measured in the same process (bench/kernel_bench.h).
//
//   lmul bench gemm [--arith LIST] [--shape MxNxK]... [--threads T] [--repeats R] [--json]
//                   [--isa native|avx2]
//   An arith may carry the accumulation: lmul/bf16@bf16dot is Accum::kBf16Dot
//   (the 16-bit-lane vdpbf16ps path; its own order, docs/kernels.md); bare
//   lmul/bf16 is that path on CPUs with AVX512-BF16, lmul/bf16@fp32 the canonical one.
//   lmul bench elementwise [--arith LIST] [--n N]... [--repeats R] [--json] [--isa ...]
//   lmul bench decode -m MODEL.gguf [--arith POLICIES] [--threads LIST] [--weights LIST]
//                     [--prompt N] [-n N] [--repeats R] [--no-llama] [--python PY] [--json]
//   (engine tokens/s, peak RSS, load to first token, weight bytes per token; llama.cpp
//   beside it when its Python package imports: bench/decode_bench.h)
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/decode_bench.h"
#include "engine/model/policy.h"
#include "bench/kernel_bench.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

std::vector<std::string> SplitList(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      // "lmul/e8m4,rne" (or "lmul/e8m4,rne@bf16dot"): an option belongs to the preceding spec.
      const std::string opt = part.substr(0, part.find('@'));
      if (!out.empty() && (opt == "rne" || opt == "trunc" || opt == "wide")) {
        out.back() += "," + part;
      } else if (!part.empty()) {
        out.push_back(part);
      }
    }
  }
  return out;
}

struct Options {
  std::vector<std::string> ariths;
  std::vector<std::string> shapes;
  std::vector<size_t> sizes;  // --n: counts like 2048 or 16K (bench::ParseCount at parse time)
  int threads = -1;
  int repeats = 5;
  bool json = false;
  std::string isa = "native";
};

// --isa: applied before anything is measured (the baseline library included).
int ApplyIsa(const char* cmd, const Options& o) {
  auto r = lmul::bench::RestrictIsa(o.isa);
  if (!r.ok()) return lmul::cli::UsageError(cmd, r.error(), "--isa native|avx2");
  return 0;
}

int RunGemm(const Options& o) {
  if (int rc = ApplyIsa("bench gemm", o); rc != 0) return rc;
  lmul::bench::GemmBenchOptions opts;
  opts.ariths = o.ariths.empty() ? lmul::bench::DefaultGemmAriths() : SplitList(o.ariths);
  for (const auto& s : o.shapes) {
    auto shape = lmul::bench::ParseShape(s);
    if (!shape.ok())
      return lmul::cli::UsageError("bench gemm", shape.error(), "e.g. --shape 512x512x512");
    // A, B, C in fp32 plus the packed B and the baseline's copies: ~4 matrices of 4 bytes.
    const long double bytes = 4.0L * 2 *
                              (static_cast<long double>(shape->m) * shape->k +
                               static_cast<long double>(shape->k) * shape->n +
                               static_cast<long double>(shape->m) * shape->n);
    if (auto mem = lmul::cli::CheckMemory("--shape", s, bytes, "the GEMM operands"); !mem.ok())
      return lmul::cli::UsageError("bench gemm", mem.error(), "use a smaller --shape");
    opts.shapes.push_back(*shape);
  }
  if (opts.shapes.empty()) opts.shapes = lmul::bench::DefaultGemmShapes();
  if (o.threads < -1) {
    return lmul::cli::UsageError("bench gemm", "--threads must be >= 0", "0 = all cores");
  }
  opts.threads = o.threads == -1 ? std::vector<int>{1, 0} : std::vector<int>{o.threads};
  if (o.repeats < 1) return lmul::cli::UsageError("bench gemm", "--repeats must be >= 1");
  opts.repeats = o.repeats;
  auto records = lmul::bench::RunGemmBench(opts);
  if (!records.ok()) {
    return lmul::cli::UsageError("bench gemm", records.error(),
                                 "arith specs: lmul/bf16,exact/fp32 (see lmul mul --help)");
  }
  const std::string text =
      o.json ? lmul::bench::GemmRecordsJson(*records) : lmul::bench::GemmRecordsTable(*records);
  std::fputs(text.c_str(), stdout);
  return 0;
}

int RunElementwise(const Options& o) {
  if (int rc = ApplyIsa("bench elementwise", o); rc != 0) return rc;
  const auto ariths = o.ariths.empty()
                          ? std::vector<std::string>{"lmul/fp32", "lmul/bf16",  "lmul/e8m4",
                                                     "lmul/e4m3", "exact/fp32", "exact/bf16"}
                          : SplitList(o.ariths);
  const auto sizes =
      o.sizes.empty() ? std::vector<size_t>{2048, 16384, 262144, size_t{1} << 24} : o.sizes;
  if (o.repeats < 1) return lmul::cli::UsageError("bench elementwise", "--repeats must be >= 1");
  for (size_t n : sizes) {
    if (n == 0 || n > (size_t{1} << 30)) {
      return lmul::cli::UsageError("bench elementwise", "--n must be in 1..2^30");
    }
  }
  auto records = lmul::bench::RunElementwiseBench(ariths, sizes, o.repeats);
  if (!records.ok()) return lmul::cli::UsageError("bench elementwise", records.error());
  const std::string text = o.json ? lmul::bench::ElementwiseRecordsJson(*records)
                                  : lmul::bench::ElementwiseRecordsTable(*records);
  std::fputs(text.c_str(), stdout);
  return 0;
}

struct DecodeOptions {
  std::string model;
  std::vector<std::string> policies, threads, weights;
  int prompt = 128, n = 64, repeats = 1;
  bool no_llama = false, json = false;
  std::string python;
};

// Comma-separated policies: presets, or inline policies (which contain commas themselves:
// a piece joins the inline policy before it unless it is a preset name).
std::vector<std::string> SplitPolicies(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string part;
    while (std::getline(ss, part, ',')) {
      const bool preset = lmul::engine::Policy::Parse(part).ok() && part.find('=') == std::string::npos;
      if (!out.empty() && !preset && out.back().find('=') != std::string::npos) {
        out.back() += "," + part;
      } else if (!part.empty()) {
        out.push_back(part);
      }
    }
  }
  return out;
}

int RunDecode(const DecodeOptions& o) {
  const char* sub = "bench decode";
  lmul::bench::DecodeBenchOptions opts;
  opts.model = o.model;
  opts.policies = SplitPolicies(o.policies);
  for (const std::string& w : SplitList(o.weights)) opts.weights.push_back(w);
  for (const std::string& t : SplitList(o.threads)) {
    char* end = nullptr;
    const long v = std::strtol(t.c_str(), &end, 10);
    if (end == t.c_str() || *end != '\0' || v < 0 || v > 1024) {
      return lmul::cli::UsageError(sub, "--threads: '" + t + "' is not an integer in 0..1024",
                                   "e.g. --threads 1,2 (0 = all cores)");
    }
    opts.threads.push_back(static_cast<int>(v));
  }
  opts.prompt_tokens = o.prompt;
  opts.decode_tokens = o.n;
  opts.repeats = o.repeats;
  opts.llama_cpp = !o.no_llama;
  opts.python = o.python;
  auto records = lmul::bench::RunDecodeBench(opts);
  if (!records.ok()) {
    return lmul::cli::UsageError(sub, records.error(),
                                 "--arith takes engine policies (fp32, lmul-attn, ...), "
                                 "--weights compact,packed,auto");
  }
  const std::string text = o.json ? lmul::bench::DecodeRecordsJson(*records)
                                  : lmul::bench::DecodeRecordsTable(*records);
  std::fputs(text.c_str(), stdout);
  return 0;
}

lmul::cli::Registrar reg(
    "bench", "Kernel benchmarks against a native baseline (gemm, elementwise)", [](CLI::App* app) {
      auto o = std::make_shared<Options>();
      app->require_subcommand(1);
      CLI::App* gemm = app->add_subcommand(
          "gemm", "L-Matmul GFLOP/s vs OpenBLAS SGEMM measured in the same process");
      gemm->add_option("--arith", o->ariths,
                       "comma-separated arithmetics, each optionally ARITH@ACCUM with ACCUM "
                       "fp32|bf16|bf16dot; bare lmul/bf16 is the 16-bit-lane path (bf16dot) "
                       "on CPUs with AVX512-BF16, else fp32 (default: lmul/fp32,lmul/e8m4,"
                       "lmul/bf16,lmul/bf16@fp32 (with AVX512-BF16),lmul/e4m3,exact/fp32,"
                       "exact/bf16)");
      gemm->add_option("--shape", o->shapes,
                       "MxNxK, repeatable (default: 512^3..2048^3 and "
                       "transformer shapes)");
      lmul::cli::AddInt(gemm, "--threads", &o->threads, 0, 1024,
                        "threads (0 = all cores; default: 1 and all)")
          ->default_str("");
      lmul::cli::AddInt(gemm, "--repeats", &o->repeats, 1, 1000, "best of R timed runs");
      gemm->add_flag("--json", o->json, "print one JSON array of records");
      gemm->add_option("--isa", o->isa,
                       "native (default) or avx2: emulate an AVX2-only CPU (Highway AVX2 "
                       "kernels, OpenBLAS Haswell baseline)");
      CLI::App* elem = app->add_subcommand(
          "elementwise", "elementwise L-Mul elements/s and GB/s vs a plain multiply loop");
      elem->add_option("--arith", o->ariths, "comma-separated arithmetics");
      elem->add_option_function<std::vector<std::string>>(
              "--n",
              [o](const std::vector<std::string>& items) {
                for (const std::string& s : items) {
                  auto v = lmul::bench::ParseCount(s, size_t{1} << 30);
                  if (!v.ok()) throw CLI::ValidationError("--n: " + v.error());
                  o->sizes.push_back(*v);
                }
              },
              "array lengths, repeatable; K/M/G = x1024^1/2/3, e.g. --n 16K "
              "(default 2K,16K,256K,16M; at most 1G)")
          ->type_name("COUNT");
      lmul::cli::AddInt(elem, "--repeats", &o->repeats, 1, 1000, "best of R timed runs");
      elem->add_flag("--json", o->json, "print one JSON array of records");
      elem->add_option("--isa", o->isa, "native (default) or avx2 (Highway AVX2 target)");
      auto d = std::make_shared<DecodeOptions>();
      CLI::App* dec = app->add_subcommand(
          "decode",
          "engine prefill/decode tokens/s per policy and thread count, peak RSS, load to "
          "first token, weight bytes per token (and llama.cpp when llama_cpp imports)");
      dec->add_option("-m,--model", d->model, "GGUF model")->required();
      dec->add_option("--arith", d->policies,
                      "comma-separated engine policies (default fp32,lmul-attn,lmul-all)");
      dec->add_option("--threads", d->threads, "comma-separated thread counts (default 1,all)");
      dec->add_option("--weights", d->weights,
                      "comma-separated weight storages: auto (default: compact where a fused "
                      "decode GEMV exists, else packed), compact (file form), packed (fp32 "
                      "packs per arithmetic)");
      lmul::cli::AddInt(dec, "--prompt", &d->prompt, 1, 4096, "prompt tokens (prefill)");
      lmul::cli::AddInt(dec, "-n,--n-predict", &d->n, 0, 4096, "greedy tokens decoded");
      lmul::cli::AddInt(dec, "--repeats", &d->repeats, 1, 100, "best of R, same process");
      dec->add_flag("--no-llama", d->no_llama, "skip the llama.cpp baseline");
      dec->add_option("--python", d->python,
                      "interpreter for the llama.cpp baseline (default $LMUL_PYTHON or python3)");
      dec->add_flag("--json", d->json, "print one JSON array of records");
      return [=]() -> int {
        if (gemm->parsed()) return RunGemm(*o);
        if (elem->parsed()) return RunElementwise(*o);
        if (dec->parsed()) return RunDecode(*d);
        return 1;
      };
    });

}  // namespace
