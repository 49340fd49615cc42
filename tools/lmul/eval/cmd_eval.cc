// lmul eval -m MODEL.gguf --tasks LIST --arith PRESET[,PRESET...] [--limit N|X] [--shard I/N]
//           [--num_fewshot K] [--output_path PATH] [--json FILE] [--threads T]
//           [--data-dir DIR] [--ctx N] [--stride N] [--quiet]
// lmul eval merge SHARD.json... [--json FILE] [--output_path PATH]
// Parsing of --arith, --limit, --shard, task names and few-shot sampling live in
// eval/selection.h; lm-eval's results JSON in eval/lm_eval.h.
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
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "eval/data_dir.h"
#include "eval/data_file.h"
#include "eval/evaluator.h"
#include "eval/lm_eval.h"
#include "eval/report.h"
#include "eval/selection.h"
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
  std::string output_path;
  int num_fewshot = -1;  // < 0: the task's default (lm-eval's yaml: gsm8k 5, others 0)
  // merge
  std::vector<std::string> merge_files;
  std::string merge_json;
  bool merge_partial = false;
  std::string merge_output_path;
};

int WriteJson(const std::string& sub, const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text << "\n";
  out.close();
  if (!out) return PrintError(sub, "cannot write " + path, "check the directory exists");
  return 0;
}

// The folder --output_path writes into (PATH, or the parent of PATH.json), created if missing.
int MakeOutputDir(const std::string& sub, const std::string& output_path) {
  const bool file =
      output_path.size() > 5 && output_path.compare(output_path.size() - 5, 5, ".json") == 0;
  const std::filesystem::path dir =
      file ? std::filesystem::path(output_path).parent_path() : std::filesystem::path(output_path);
  if (dir.empty()) return 0;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return lmul::cli::UsageError(sub, "--output_path " + output_path + ": " + ec.message(),
                                 "give a writable directory or a FILE.json");
  }
  return 0;
}

// --output_path checked before the work starts (an output path that cannot be written is a
// usage error, docs/robustness.md): its folder is created and lmul's JSON there is writable.
int CheckOutputPath(const std::string& sub, const std::string& output_path) {
  if (int rc = MakeOutputDir(sub, output_path); rc != 0) return rc;
  lmul::Status st = lmul::cli::CheckWritable("--output_path", ev::LmulResultPath(output_path));
  if (!st.ok()) {
    return lmul::cli::UsageError(sub, st.error(), "give a writable directory or a FILE.json");
  }
  return 0;
}

// --output_path: lm-eval's results JSON per arithmetic, lmul's own JSON beside.
int WriteLmEval(const std::string& sub, const std::string& output_path, const ev::Report& rep,
                const std::vector<ev::MetricRow>& rows) {
  if (output_path.empty()) return 0;
  if (int rc = MakeOutputDir(sub, output_path); rc != 0) return rc;
  const auto paths = ev::LmEvalResultPaths(output_path, rep.arith);
  for (size_t a = 0; a < paths.size(); ++a) {
    const int rc =
        WriteJson(sub, paths[a], ev::ToLmEvalJson(rep, rows, static_cast<int>(a)).dump(2));
    if (rc != 0) return rc;
  }
  return WriteJson(sub, ev::LmulResultPath(output_path), ev::ToJson(rep, rows).dump(1));
}

int RunEval(const EvalOptions& o) {
  const std::string sub = "eval";
  if (o.model.empty())
    return lmul::cli::UsageError(sub, "-m MODEL.gguf is required",
                                 "scripts/fetch_model.sh prints the default model's path");
  if (o.tasks.empty()) {
    return lmul::cli::UsageError(sub, "--tasks is required", "tasks: " + ev::TaskNames());
  }
  auto arith = ev::ParseArithList(o.arith);
  if (!arith.ok()) {
    return lmul::cli::UsageError(
        sub, arith.error(),
        "presets are separated by ',', inline policies (SITE=ARITH,...) by ';' or "
        "a repeated --arith; each arithmetic once");
  }
  const std::vector<lmul::engine::Policy>& policies = arith->policies;
  const std::vector<std::string>& names = arith->names;
  auto shard = lmul::cli::ParseShard("--shard", o.shard);
  if (!shard.ok()) {
    return lmul::cli::UsageError(sub, shard.error(),
                                 "e.g. --shard 0/4 ... --shard 3/4, then lmul eval merge");
  }
  const int shard_i = shard->index, shard_n = shard->count;
  if (o.stride > o.ctx) {
    return lmul::cli::UsageError(
        sub, "--stride " + std::to_string(o.stride) + " exceeds --ctx " + std::to_string(o.ctx),
        "a window scores at most --ctx tokens; give --stride <= --ctx");
  }
  const int stride = o.stride > 0 ? o.stride : o.ctx;
  auto limit = ev::ParseLimit(o.limit);
  if (!limit.ok()) {
    return lmul::cli::UsageError(sub, limit.error(),
                                 "e.g. --limit 200, --limit 0.1 or --limit 200,wikitext2=2");
  }
  {
    // An integer N selects the first N examples: N in [1, 1000000000] (0 selects nothing).
    bool zero = limit->fallback == 0;
    for (const auto& [task, v] : limit->per_task) zero = zero || v == 0;
    if (zero) {
      return lmul::cli::UsageError(sub,
                                   "--limit '" + o.limit +
                                       "': expected N in [1, 1000000000] or a fraction 0 < X < 1, "
                                       "got 0",
                                   "e.g. --limit 200, --limit 0.1 or --limit 200,wikitext2=2");
    }
  }
  if (!o.output_path.empty()) {
    if (int rc = CheckOutputPath(sub, o.output_path); rc != 0) return rc;
  }
  // Tasks and data: everything is loaded and checked before the model runs.
  const std::string data_dir = o.data_dir.empty() ? ev::DefaultDataDir() : o.data_dir;
  std::vector<ev::TaskInput> inputs;
  ev::Report rep;
  for (const std::string& given : ev::SplitOn(o.tasks, ',')) {
    const ev::TaskSpec* spec = ev::FindTaskOrAlias(given);
    if (spec == nullptr) {
      return lmul::cli::UsageError(sub, "unknown task '" + given + "'",
                                   "tasks: " + ev::TaskNames() +
                                       " (lm-eval names wikitext, lambada_openai "
                                       "also work)");
    }
    const std::string& name = spec->name;
    if (std::find(rep.tasks.begin(), rep.tasks.end(), name) != rep.tasks.end()) {
      return lmul::cli::UsageError(sub, "--tasks: '" + name + "' given twice",
                                   "give each task once");
    }
    auto ex = ev::LoadTask(*spec, data_dir);
    if (!ex.ok()) {
      return PrintError(sub, ex.error(),
                        "--data-dir DIR (or $LMUL_DATA) holds one folder per task; see "
                        "docs/eval.md");
    }
    const int n_total = static_cast<int>(ex->size());
    const int n_sel = ev::LimitFor(*limit, name, n_total);
    ex->resize(n_sel);
    const int shots = o.num_fewshot >= 0 ? o.num_fewshot : spec->default_fewshot;
    if (shots > 0) {
      if (!spec->load_fewshot) {
        return lmul::cli::UsageError(
            sub,
            "--num_fewshot " + std::to_string(shots) + ": task " + name + " has no few-shot split",
            "few-shot tasks: arc_easy, arc_challenge, gsm8k; --num_fewshot 0");
      }
      auto pool = spec->load_fewshot(data_dir + "/" + spec->folder);
      if (!pool.ok()) {
        return PrintError(sub, "task " + name + " few-shot split: " + pool.error(),
                          "expected " + spec->fewshot_files + " under the data dir");
      }
      if (static_cast<size_t>(shots) > pool->size()) {
        return lmul::cli::UsageError(sub,
                                     "--num_fewshot " + std::to_string(shots) + ": task " + name +
                                         " has only " + std::to_string(pool->size()) +
                                         " few-shot examples",
                                     "lower --num_fewshot");
      }
      auto applied = ev::ApplyFewshot(*spec, *pool, shots, ev::kFewshotSeed, &*ex);
      if (!applied.ok()) return PrintError(sub, applied.error(), "lower --num_fewshot");
    }
    ev::TaskInput in;
    in.spec = spec;
    in.n_selected = n_sel;
    in.n_total = static_cast<int>(ex->size());
    for (int i = 0; i < n_sel; ++i) {
      if (i % shard_n == shard_i) in.examples.push_back(std::move((*ex)[i]));
    }
    rep.tasks.push_back(name);
    rep.n_selected.push_back(n_sel);
    rep.n_total.push_back(n_total);
    rep.n_shot.push_back(shots);
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
      std::fprintf(stderr, " %s (%s)", rep.tasks[t].c_str(),
                   ev::DescribeSelection(inputs[t], shard_i, shard_n).c_str());
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
  if (!o.json.empty()) {
    if (int rc = WriteJson(sub, o.json, ev::ToJson(rep, rows).dump(1)); rc != 0) return rc;
  }
  return WriteLmEval(sub, o.output_path, rep, rows);
}

int RunMerge(const EvalOptions& o) {
  const std::string sub = "eval merge";
  if (o.merge_files.empty())
    return lmul::cli::UsageError(sub, "no shard files given",
                                 "lmul eval merge s0.json s1.json ...");
  if (!o.merge_output_path.empty()) {
    if (int rc = CheckOutputPath(sub, o.merge_output_path); rc != 0) return rc;
  }
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
    if (int rc = WriteJson(sub, o.merge_json, ev::ToJson(*merged, rows).dump(1)); rc != 0) {
      return rc;
    }
  }
  if (!o.merge_output_path.empty() && merged->partial_of > 0) {
    return lmul::cli::UsageError(sub,
                                 "--output_path: a partial merge is not a complete lm-eval result",
                                 "merge every shard, or drop --output_path");
  }
  return WriteLmEval(sub, o.merge_output_path, *merged, rows);
}

lmul::cli::Registrar reg(
    "eval", "Evaluate a GGUF model on tasks under several arithmetics (perplexity, accuracy)",
    [](CLI::App* app) {
      auto o = std::make_shared<EvalOptions>();
      app->add_option("-m,--model", o->model, "GGUF model file");
      app->add_option("--tasks", o->tasks,
                      "comma-separated tasks: " + ev::TaskNames() +
                          " (lm-eval's names wikitext, lambada_openai are aliases)");
      std::string presets;
      for (const std::string& n : lmul::engine::Policy::PresetNames()) {
        presets += (presets.empty() ? "" : ",") + n;
      }
      app->add_option("--arith", o->arith,
                      "arithmetics, the first is the reference: presets separated by ',' (" +
                          presets +
                          "); inline policies SITE=ARITH,... separated by ';' "
                          "or a repeated --arith (default fp32)");
      app->add_option("--limit", o->limit,
                      "first N examples (wikitext2: documents) of each task, or a fraction "
                      "0 < X < 1 of each (ceil, as lm-eval); per task: N,TASK=N,... "
                      "(e.g. 200,wikitext2=2)");
      lmul::cli::AddInt(app, "--num_fewshot,--num-fewshot", &o->num_fewshot, 0, 100000,
                        "few-shot examples per prompt, sampled as lm-eval does (seed 1234) from "
                        "the task's train split (default: lm-eval's, gsm8k 5, others 0)")
          ->default_str("");
      app->add_option("--output_path,--output-path", o->output_path,
                      "write lm-eval's results JSON: FILE.json (one arithmetic) or a directory "
                      "(results_<arith>.json each), with lmul's own JSON beside");
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
      merge->add_option("--output_path,--output-path", o->merge_output_path,
                        "write lm-eval's results JSON of the merged run (as lmul eval)");
      merge->add_flag("--partial", o->merge_partial,
                      "allow missing shards: the table of the examples so far (no --json)");
      return [o, merge] { return merge->parsed() ? RunMerge(*o) : RunEval(*o); };
    });

}  // namespace
