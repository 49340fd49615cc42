// lmul eval -m MODEL.gguf --tasks LIST --arith PRESET[,PRESET...] [--limit N] [--shard I/N]
//           [--json FILE] [--threads T] [--data-dir DIR] [--ctx N] [--stride N] [--quiet]
// lmul eval merge SHARD.json... [--json FILE]
//
// --arith lists arithmetics, the first being the reference: presets separated by commas
// ("fp32,bf16,lmul-attn"); an inline policy contains '=' and its own commas, so policies
// are also separated by ';' and --arith may be repeated:
//   --arith "fp32;attn=lmul/e8m4,*=exact/fp32"   or   --arith fp32 --arith "attn=...,*=..."
// A ';'-separated piece without '=' is split at commas into presets.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "eval/data_dir.h"
#include "eval/data_file.h"
#include "eval/evaluator.h"
#include "eval/report.h"
#include "eval/task.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

using lmul::cli::PrintError;
namespace ev = lmul::eval;

struct EvalOptions {
  std::string model;
  std::string tasks;
  std::vector<std::string> arith;
  std::string limit;
  std::string shard = "0/1";
  std::string json;
  int threads = 1;
  std::string data_dir;
  int ctx = 2048;
  int stride = 0;
  bool quiet = false;
  bool save_tokens = false;
  // merge
  std::vector<std::string> merge_files;
  std::string merge_json;
  bool merge_partial = false;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

int WriteJson(const std::string& sub, const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text << "\n";
  out.close();
  if (!out) return PrintError(sub, "cannot write " + path, "check the directory exists");
  return 0;
}

int RunEval(const EvalOptions& o) {
  const std::string sub = "eval";
  if (o.model.empty())
    return lmul::cli::UsageError(sub, "-m MODEL.gguf is required",
                      "scripts/fetch_model.sh prints the default model's path");
  if (o.tasks.empty()) {
    return lmul::cli::UsageError(sub, "--tasks is required", "tasks: " + ev::TaskNames());
  }
  // Arithmetics.
  std::vector<lmul::engine::Policy> policies;
  std::vector<std::string> names;
  const std::vector<std::string> arith_args =
      o.arith.empty() ? std::vector<std::string>{"fp32"} : o.arith;
  for (const std::string& arg : arith_args) {
    for (const std::string& piece : Split(arg, ';')) {
      std::vector<std::string> specs = piece.find('=') != std::string::npos
                                           ? std::vector<std::string>{piece}
                                           : Split(piece, ',');
      for (const std::string& spec : specs) {
        if (spec.empty()) {
          return lmul::cli::UsageError(sub, "--arith '" + arg + "': empty arithmetic",
                            "e.g. --arith fp32,lmul-attn");
        }
        auto p = lmul::engine::Policy::Parse(spec);
        if (!p.ok()) {
          return lmul::cli::UsageError(sub, "--arith '" + spec + "': " + p.error(),
                            "presets are separated by ',', inline policies (SITE=ARITH,...) by "
                            "';' or a repeated --arith");
        }
        const std::string name = p->Name();
        if (std::find(names.begin(), names.end(), name) != names.end()) {
          return lmul::cli::UsageError(sub, "--arith: '" + name + "' given twice",
                            "each arithmetic is one column; give it once");
        }
        names.push_back(name);
        policies.push_back(*p);
      }
    }
  }
  int shard_i = 0, shard_n = 1;
  {
    auto shard = lmul::cli::ParseShard("--shard", o.shard);
    if (!shard.ok()) {
      return lmul::cli::UsageError(sub, shard.error(),
                        "e.g. --shard 0/4 ... --shard 3/4, then lmul eval merge");
    }
    shard_i = shard->index, shard_n = shard->count;
  }
  if (o.stride > o.ctx) {
    return lmul::cli::UsageError(sub,
                      "--stride " + std::to_string(o.stride) + " exceeds --ctx " +
                          std::to_string(o.ctx),
                      "a window scores at most --ctx tokens; give --stride <= --ctx");
  }
  const int stride = o.stride > 0 ? o.stride : o.ctx;
  // --limit N | TASK=N | N,TASK=N,...: first N examples (the default N applies to tasks
  // not named).
  int default_limit = -1;
  std::vector<std::pair<std::string, int>> task_limits;
  if (!o.limit.empty()) {
    for (const std::string& item : Split(o.limit, ',')) {
      const size_t eq = item.find('=');
      const std::string num = eq == std::string::npos ? item : item.substr(eq + 1);
      auto parsed = lmul::cli::ParseInt("--limit", num, 1, 1000000000);
      if (!parsed.ok()) {
        return lmul::cli::UsageError(
            sub, "--limit '" + o.limit + "': expected N or TASK=N items, N in [1, 1000000000]",
            "e.g. --limit 200 or --limit 200,wikitext2=2");
      }
      const int64_t v = *parsed;
      if (eq == std::string::npos) {
        default_limit = static_cast<int>(v);
      } else {
        if (ev::FindTask(item.substr(0, eq)) == nullptr) {
          return lmul::cli::UsageError(sub, "--limit: unknown task '" + item.substr(0, eq) + "'",
                            "tasks: " + ev::TaskNames());
        }
        task_limits.emplace_back(item.substr(0, eq), static_cast<int>(v));
      }
    }
  }
  // Tasks and data: everything is loaded and checked before the model runs.
  const std::string data_dir = o.data_dir.empty() ? ev::DefaultDataDir() : o.data_dir;
  std::vector<ev::TaskInput> inputs;
  ev::Report rep;
  for (const std::string& name : Split(o.tasks, ',')) {
    const ev::TaskSpec* spec = ev::FindTask(name);
    if (spec == nullptr) {
      return lmul::cli::UsageError(sub, "unknown task '" + name + "'", "tasks: " + ev::TaskNames());
    }
    if (std::find(rep.tasks.begin(), rep.tasks.end(), name) != rep.tasks.end()) {
      return lmul::cli::UsageError(sub, "--tasks: '" + name + "' given twice", "give each task once");
    }
    auto ex = ev::LoadTask(*spec, data_dir);
    if (!ex.ok()) {
      return PrintError(sub, ex.error(),
                        "--data-dir DIR (or $LMUL_DATA) holds one folder per task; see "
                        "docs/eval.md");
    }
    ev::TaskInput in;
    in.spec = spec;
    int limit = default_limit;
    for (const auto& [t, v] : task_limits) {
      if (t == name) limit = v;
    }
    const int n_sel = limit >= 0 ? std::min<int>(limit, static_cast<int>(ex->size()))
                                 : static_cast<int>(ex->size());
    in.n_selected = n_sel;
    for (int i = 0; i < n_sel; ++i) {
      if (i % shard_n == shard_i) in.examples.push_back(std::move((*ex)[i]));
    }
    rep.tasks.push_back(name);
    rep.n_selected.push_back(n_sel);
    inputs.push_back(std::move(in));
  }
  size_t n_examples = 0;
  for (const ev::TaskInput& in : inputs) n_examples += in.examples.size();
  if (n_examples == 0) {
    return lmul::cli::UsageError(sub,
                      "no examples selected (shard " + std::to_string(shard_i) + "/" +
                          std::to_string(shard_n) + " of the limited tasks is empty)",
                      "raise --limit or use fewer shards");
  }
  auto model = lmul::engine::Model::Load(o.model);
  if (!model.ok()) {
    return PrintError(sub, model.error(), "scripts/fetch_model.sh downloads the default model");
  }
  auto encoder = ev::EncoderForModel(**model);
  if (!encoder.ok()) {
    return PrintError(sub, o.model + ": " + encoder.error(),
                      "lmul eval needs a model with a tokenizer");
  }

  ev::EvalOptions eo;
  eo.policies = policies;
  eo.threads = o.threads;
  eo.ctx = o.ctx;
  eo.stride = stride;
  eo.save_tokens = o.save_tokens;
  eo.progress = !o.quiet;
  if (!o.quiet) {
    std::fprintf(stderr, "lmul eval: %s\n  tasks:", o.model.c_str());
    for (size_t t = 0; t < inputs.size(); ++t) {
      std::fprintf(stderr, " %s (%zu of %d)", rep.tasks[t].c_str(), inputs[t].examples.size(),
                   inputs[t].n_selected);
    }
    std::fprintf(stderr, "\n  arith (first = reference):");
    for (const auto& n : names) std::fprintf(stderr, " %s", n.c_str());
    std::fprintf(stderr, "\n  workers: %d, ctx %d, stride %d, shard %d/%d\n", o.threads, o.ctx,
                 stride, shard_i, shard_n);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto results = ev::Evaluate(**model, *encoder, inputs, eo, &rep.stats);
  if (!results.ok()) {
    return PrintError(sub, results.error(), "--ctx raises the request length limit");
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  rep.model = o.model;
  rep.arith = names;
  rep.limit = o.limit;
  rep.ctx = o.ctx;
  rep.stride = stride;
  rep.shard_index = shard_i;
  rep.shard_count = shard_n;
  rep.examples = std::move(*results);
  const auto rows = ev::Aggregate(rep);
  std::fputs(ev::FormatTable(rep, rows).c_str(), stdout);
  if (!o.quiet) {
    std::fprintf(stderr, "wall %.1f s; tokens/s per arithmetic (per worker thread):", wall);
    for (size_t a = 0; a < names.size(); ++a) {
      std::fprintf(stderr, " %s %.1f", names[a].c_str(),
                   rep.stats.seconds[a] > 0 ? rep.stats.tokens[a] / rep.stats.seconds[a] : 0.0);
    }
    std::fprintf(stderr, "\n");
  }
  if (!o.json.empty()) return WriteJson(sub, o.json, ev::ToJson(rep, rows).dump(1));
  return 0;
}

int RunMerge(const EvalOptions& o) {
  const std::string sub = "eval merge";
  if (o.merge_files.empty())
    return lmul::cli::UsageError(sub, "no shard files given", "lmul eval merge s0.json s1.json ...");
  std::vector<ev::Report> shards;
  for (const std::string& path : o.merge_files) {
    auto text = ev::ReadFile(path);
    if (!text.ok())
      return PrintError(sub, text.error(), "give the files written by lmul eval --json");
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded()) {
      return PrintError(sub, path + ": not valid JSON",
                        "give the files written by lmul eval --json");
    }
    auto r = ev::ReportFromJson(path, j);
    if (!r.ok()) return PrintError(sub, r.error(), "give the files written by lmul eval --json");
    shards.push_back(std::move(*r));
  }
  auto merged = ev::MergeReports(std::move(shards), o.merge_files, o.merge_partial);
  if (!merged.ok()) {
    return PrintError(sub, merged.error(),
                      o.merge_partial ? "pass shards I/N of one run at most once each"
                                      : "pass every shard I/N of one run exactly once "
                                        "(--partial: the results so far)");
  }
  if (merged->partial_of > 0) {
    std::printf("partial: shards %s of %d (each the examples with index %% %d == I)\n",
                ev::ShardList(merged->partial_shards).c_str(), merged->partial_of,
                merged->partial_of);
  }
  const auto rows = ev::Aggregate(*merged);
  std::fputs(ev::FormatTable(*merged, rows).c_str(), stdout);
  if (!o.merge_json.empty()) {
    return WriteJson(sub, o.merge_json, ev::ToJson(*merged, rows).dump(1));
  }
  return 0;
}

lmul::cli::Registrar reg(
    "eval", "Evaluate a GGUF model on tasks under several arithmetics (perplexity, accuracy)",
    [](CLI::App* app) {
      auto o = std::make_shared<EvalOptions>();
      app->add_option("-m,--model", o->model, "GGUF model file");
      app->add_option("--tasks", o->tasks, "comma-separated tasks: " + ev::TaskNames());
      app->add_option("--arith", o->arith,
                      "arithmetics, the first is the reference: presets separated by ',' "
                      "(fp32,bf16,fp8-e4m3-attn,fp8-e5m2-attn,lmul-attn,lmul-attn-k3,"
                      "lmul-attn-k4,lmul-all); inline policies SITE=ARITH,... separated by ';' "
                      "or a repeated --arith (default fp32)");
      app->add_option("--limit", o->limit,
                      "first N examples (wikitext2: documents) of each task; per task: "
                      "N,TASK=N,... (e.g. 200,wikitext2=2)");
      app->add_option("--shard", o->shard,
                      "I/N: evaluate the examples with index % N == I (0-based; merge with "
                      "lmul eval merge)")
          ->capture_default_str();
      lmul::cli::AddOutputPath(app, "--json", &o->json,
                               "write the results and every example to FILE");
      lmul::cli::AddInt(app, "--threads", &o->threads, 1, 1024,
                        "worker threads (each scores whole examples; results do not depend on it)");
      app->add_option("--data-dir", o->data_dir,
                      "one folder per task (default $LMUL_DATA, else <repo>/../shared/data)");
      lmul::cli::AddInt(app, "--ctx", &o->ctx, 2, 1 << 20,
                        "max input tokens of a request; wikitext2 window length");
      lmul::cli::AddInt(app, "--stride", &o->stride, 0, 1 << 20,
                      "wikitext2: tokens scored per window (default = --ctx: disjoint windows "
                      "as lm-eval)");
      app->add_flag("--quiet", o->quiet, "no progress bar or banner on stderr");
      app->add_flag("--save-tokens", o->save_tokens,
                    "keep rolling documents' token ids in the JSON (for independent checks)");
      CLI::App* merge = app->add_subcommand("merge", "combine shard JSON files into one table");
      merge->add_option("files", o->merge_files, "shard JSON files of one run")->required();
      lmul::cli::AddOutputPath(merge, "--json", &o->merge_json, "write the merged JSON to FILE");
      merge->add_flag("--partial", o->merge_partial,
                      "allow missing shards: the table of the examples so far (no --json)");
      return [o, merge] { return merge->parsed() ? RunMerge(*o) : RunEval(*o); };
    });

}  // namespace
