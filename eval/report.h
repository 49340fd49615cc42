// Aggregation of per-example results into metrics, the table, and the JSON file
// (written by `lmul eval`, read back and combined by `lmul eval merge`).
//
// Metrics (per task and arithmetic; "pair" metrics only for arithmetics after the first,
// against the first = the reference):
//   multiple choice  acc, acc_norm (tasks where lm-eval reports it); stderr sqrt(p(1-p)/(n-1))
//   last word        acc (greedy), perplexity = exp(-mean loglik)
//   rolling          word_perplexity = exp(-sum ll / words), byte_perplexity,
//                    bits_per_byte = -sum ll / bytes / ln 2, token_perplexity
//   generate         exact_match_strict, exact_match_flexible (gsm8k's strict-match and
//                    flexible-extract filters, eval/lm_eval.h); stderr as acc
//   pair             kl (mean per scored token), top1_agree (fraction of scored tokens),
//                    mean_abs_dloglik (per answer choice / target; rolling: per token),
//                    flips_to_wrong / flips_to_right (acc: examples right under the
//                    reference and wrong under this arithmetic, and the reverse),
//                    mcnemar_p (exact two-sided binomial test of the flips); where
//                    acc_norm exists, the same for it: acc_norm_flips_to_wrong,
//                    acc_norm_flips_to_right, acc_norm_mcnemar_p
//   pair, generate   same_text (fraction of examples whose generation equals the
//                    reference's), flips_to_wrong / flips_to_right / mcnemar_p on
//                    exact_match_strict (no kl / top1_agree: the sequences differ)
// Sums run in (task order, example index) order, so a merge of shards gives the same bits.
#ifndef LMUL_EVAL_REPORT_H_
#define LMUL_EVAL_REPORT_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "eval/evaluator.h"

namespace lmul::eval {

struct MetricRow {
  std::string task, arith, metric;
  double value = 0;
  std::optional<double> stderr_value;
  int64_t n = 0;
};

// Everything a run (or a merge) reports.
struct Report {
  std::string model;
  std::vector<std::string> arith;  // [0] = reference
  std::vector<std::string> tasks;  // in run order
  std::vector<int> n_selected;     // per task, after --limit
  std::vector<int> n_total;        // per task: examples in the split (before --limit)
  std::vector<int> n_shot;         // per task: few-shot examples per prompt (--num_fewshot)
  std::string limit;               // the --limit text ("": none)
  int ctx = 2048, stride = 2048;
  int shard_index = 0, shard_count = 1;  // merged: 0/1
  // A partial merge (MergeReports with allow_partial and shards missing): the shard
  // indices merged, of partial_of; empty and 0 otherwise. Written to JSON as "partial"
  // so that it is never taken for a complete run; MergeReports refuses it as input.
  std::vector<int> partial_shards;
  int partial_of = 0;
  std::vector<ExampleResult> examples;  // sorted (task order, index)
  EvalStats stats;
};

std::vector<MetricRow> Aggregate(const Report& report);

// McNemar's exact test: two-sided binomial p for b vs c discordant pairs (p = 1 when none).
double McNemarExactP(int64_t b, int64_t c);

// The table: rows task/metric, columns arithmetics; after the first column each value is
// followed by its delta to the first ("0.612 (-0.004)"); the reference shows ±stderr.
std::string FormatTable(const Report& report, const std::vector<MetricRow>& rows);

nlohmann::ordered_json ToJson(const Report& report, const std::vector<MetricRow>& rows);
// Parses a file written by ToJson (hostile: errors name the file and the field).
Result<Report> ReportFromJson(const std::string& path, const nlohmann::json& j);
// Combines shard reports: same model, arithmetics, tasks, limit, ctx, stride and shard
// count; every shard present once; every selected example present exactly once.
// allow_partial: shards may be missing (results so far of a run in progress: each
// shard is the systematic sample index % N == I); the examples of the given shards
// must still be present exactly once; when shards are missing, the result's
// partial_shards/partial_of say which.
Result<Report> MergeReports(std::vector<Report> shards, const std::vector<std::string>& paths,
                            bool allow_partial = false);
// Shard indices as "0,2,5" (messages about partial merges).
std::string ShardList(const std::vector<int>& shards);

}  // namespace lmul::eval

#endif  // LMUL_EVAL_REPORT_H_
