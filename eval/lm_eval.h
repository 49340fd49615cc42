// lm-evaluation-harness conventions (lm-eval 0.4.13): gsm8k's filters and exact match, and
// its results JSON (what `lm_eval --output_path` writes), so lmul's results load in
// lm-eval's tools (lm_eval.utils.make_table; tested by eval/lm_eval_results_check.py).
//
// gsm8k (lm_eval/tasks/gsm8k/gsm8k.yaml, version 3.0):
//   strict-match      regex "#### (\-?[0-9\.\,]+)", first match, group 1, stripped;
//                     "[invalid]" if none (RegexFilter + take_first)
//   flexible-extract  regex "(-?[$0-9.,]{2,})|(-?[0-9]+)", last match (group_select -1),
//                     its non-empty group, stripped
//   exact_match       prediction and reference (the full answer) each pass
//                     re.sub(",", ""), re.sub("\$", ""), re.sub("(?s).*#### ", ""),
//                     re.sub("\.$", ""), then lower(); equal strings score 1.
// The patterns run on std::regex (ECMAScript); "(?s).*" is written "[\s\S]*" and Python's
// "$" (end, or before a final "\n") "(?=\n?$)": the same languages.
#ifndef LMUL_EVAL_LM_EVAL_H_
#define LMUL_EVAL_LM_EVAL_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/report.h"

namespace lmul::eval {

// Python re.findall(pattern, text) for an ECMAScript pattern: per match, its groups (the
// whole match when the pattern has none; unmatched groups are "").
std::vector<std::vector<std::string>> FindAll(const std::string& pattern, const std::string& text);

// lm-eval's RegexFilter(regex_pattern, group_select) + take_first on one response.
std::string RegexFilter(const std::string& response, const std::string& pattern, int group_select,
                        const std::string& fallback = "[invalid]");

std::string Gsm8kStrictMatch(const std::string& response);
std::string Gsm8kFlexibleExtract(const std::string& response);
// gsm8k's exact_match (regexes_to_ignore, ignore_case) of one prediction and reference.
bool Gsm8kExactMatch(const std::string& prediction, const std::string& reference);
// lm-eval's generate_until post-processing: the text cut at the first occurrence of each
// stop sequence in turn (s = s.split(term)[0]).
std::string CutAtStopSequences(std::string text, const std::vector<std::string>& until);

// lm-eval's key of an lmul metric ("acc" -> "acc,none", "exact_match_strict" ->
// "exact_match,strict-match"); its stderr key ("acc_stderr,none").
std::string LmEvalMetricKey(const std::string& metric);
std::string LmEvalStderrKey(const std::string& metric);

// lm-eval's results JSON for arithmetic `arith` (index into report.arith) of a run:
// results[task]["metric,filter"] (+ "_stderr", "N/A" where none), configs (the task's
// request format, num_fewshot, fewshot seed, generation_kwargs, metric_list, metadata.version,
// and the arithmetic), versions, n-shot, higher_is_better, n-samples {original, effective},
// config {model: "lmul", model_args "pretrained=MODEL,arith=NAME", limit, seeds,
// lmul_arith, lmul_reference_arith}. Task names are lm-eval's (wikitext, lambada_openai).
nlohmann::ordered_json ToLmEvalJson(const Report& report, const std::vector<MetricRow>& rows,
                                    int arith);

// File names for --output_path PATH: PATH ending in ".json" names the single arithmetic's
// file (several arithmetics: PATH minus ".json" + "_" + slug + ".json" each); otherwise
// PATH is a directory holding results_<slug>.json per arithmetic. slug: the arithmetic's
// name with characters outside [A-Za-z0-9._-] as '_'. lmul's own JSON goes beside:
// PATH minus ".json" + ".lmul.json", or PATH/lmul_results.json.
std::vector<std::string> LmEvalResultPaths(const std::string& output_path,
                                           const std::vector<std::string>& arith);
std::string LmulResultPath(const std::string& output_path);

}  // namespace lmul::eval

#endif  // LMUL_EVAL_LM_EVAL_H_
