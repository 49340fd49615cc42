#include "eval/lm_eval.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>

#include "eval/selection.h"

namespace lmul::eval {
namespace {

using J = nlohmann::ordered_json;

std::string Strip(const std::string& s) {  // Python str.strip() on ASCII whitespace
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

const std::regex& Cached(const std::string& pattern) {
  static thread_local std::map<std::string, std::regex> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
  return it->second;
}

// lm-eval names of lmul metrics whose filter is not "none".
struct MetricName {
  const char* lmul;
  const char* metric;
  const char* filter;
};
constexpr MetricName kMetricNames[] = {
    {"exact_match_strict", "exact_match", "strict-match"},
    {"exact_match_flexible", "exact_match", "flexible-extract"},
};

// lm-eval's higher_is_better of a metric (null: neither, e.g. a count or a p-value).
J HigherIsBetter(const std::string& metric) {
  if (metric == "acc" || metric == "acc_norm" || metric == "top1_agree" ||
      metric.rfind("exact_match", 0) == 0) {
    return true;
  }
  if (metric.find("perplexity") != std::string::npos || metric == "bits_per_byte" ||
      metric == "kl" || metric.rfind("mean_abs_", 0) == 0) {
    return false;
  }
  return nullptr;
}

const char* OutputType(TaskKind k) {
  switch (k) {
    case TaskKind::kMultipleChoice:
      return "multiple_choice";
    case TaskKind::kLastWord:
      return "loglikelihood";
    case TaskKind::kRolling:
      return "loglikelihood_rolling";
    case TaskKind::kGenerate:
      return "generate_until";
  }
  return "?";
}

std::string Slug(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!keep) c = '_';
  }
  return s;
}

bool EndsWithJson(const std::string& p) {
  return p.size() > 5 && p.compare(p.size() - 5, 5, ".json") == 0;
}

}  // namespace

std::vector<std::vector<std::string>> FindAll(const std::string& pattern, const std::string& text) {
  std::vector<std::vector<std::string>> out;
  const std::regex& re = Cached(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    const std::smatch& m = *it;
    std::vector<std::string> groups;
    if (m.size() == 1) {
      groups.push_back(m.str(0));
    } else {
      for (size_t g = 1; g < m.size(); ++g) groups.push_back(m[g].matched ? m.str(g) : "");
    }
    out.push_back(std::move(groups));
  }
  return out;
}

std::string RegexFilter(const std::string& response, const std::string& pattern, int group_select,
                        const std::string& fallback) {
  const auto matches = FindAll(pattern, response);
  if (matches.empty()) return fallback;
  const int n = static_cast<int>(matches.size());
  const int i = group_select < 0 ? n + group_select : group_select;  // Python indexing
  if (i < 0 || i >= n) return fallback;  // Python would raise IndexError
  const std::vector<std::string>& groups = matches[i];
  // A tuple (several groups): the first non-empty one; one group or none: it, as a string.
  std::string m;
  bool found = groups.size() == 1;
  if (found) m = groups[0];
  for (size_t g = 0; !found && g < groups.size(); ++g) {
    if (!groups[g].empty()) m = groups[g], found = true;
  }
  if (!found) return fallback;
  return Strip(m);
}

std::string Gsm8kStrictMatch(const std::string& response) {
  return RegexFilter(response, R"(#### (\-?[0-9\.\,]+))", 0);
}

std::string Gsm8kFlexibleExtract(const std::string& response) {
  return RegexFilter(response, R"((-?[$0-9.,]{2,})|(-?[0-9]+))", -1);
}

bool Gsm8kExactMatch(const std::string& prediction, const std::string& reference) {
  static const char* const kIgnore[] = {",", R"(\$)", R"([\s\S]*#### )", R"(\.(?=\n?$))"};
  std::string p = prediction, r = reference;
  for (const char* re : kIgnore) {
    p = std::regex_replace(p, Cached(re), "");
    r = std::regex_replace(r, Cached(re), "");
  }
  auto lower = [](std::string s) {
    for (char& c : s) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
  };
  return lower(p) == lower(r);
}

std::string CutAtStopSequences(std::string text, const std::vector<std::string>& until) {
  for (const std::string& term : until) {
    if (term.empty()) continue;
    const size_t p = text.find(term);
    if (p != std::string::npos) text.resize(p);
  }
  return text;
}

std::string LmEvalMetricKey(const std::string& metric) {
  for (const MetricName& m : kMetricNames) {
    if (metric == m.lmul) return std::string(m.metric) + "," + m.filter;
  }
  return metric + ",none";
}

std::string LmEvalStderrKey(const std::string& metric) {
  for (const MetricName& m : kMetricNames) {
    if (metric == m.lmul) return std::string(m.metric) + "_stderr," + m.filter;
  }
  return metric + "_stderr,none";
}

J ToLmEvalJson(const Report& rep, const std::vector<MetricRow>& rows, int arith) {
  const std::string& name = rep.arith[arith];
  J results = J::object(), configs = J::object(), versions = J::object(), nshot = J::object(),
    hib = J::object(), nsamples = J::object(), subtasks = J::object();
  for (size_t t = 0; t < rep.tasks.size(); ++t) {
    const TaskSpec* spec = FindTask(rep.tasks[t]);
    if (spec == nullptr) continue;
    const std::string& lm = LmEvalName(*spec);
    const int k = t < rep.n_shot.size() ? rep.n_shot[t] : 0;
    J r = J::object();
    r["name"] = lm;
    r["alias"] = lm;
    J h = J::object();
    J metric_list = J::array();
    int64_t sample_len = rep.n_selected[t];
    for (const MetricRow& m : rows) {
      if (m.task != rep.tasks[t] || m.arith != name) continue;
      r[LmEvalMetricKey(m.metric)] = m.value;
      r[LmEvalStderrKey(m.metric)] = m.stderr_value ? J(*m.stderr_value) : J("N/A");
      const std::string base =
          LmEvalMetricKey(m.metric).substr(0, LmEvalMetricKey(m.metric).find(','));
      if (!h.contains(base)) {
        h[base] = HigherIsBetter(m.metric);
        metric_list.push_back({{"metric", base}, {"higher_is_better", h[base]}});
      }
    }
    r["sample_len"] = sample_len;
    results[lm] = r;
    J c;
    c["task"] = lm;
    c["dataset_path"] = spec->folder;  // under lmul's data directory (--data-dir)
    c["test_split"] = spec->files;
    if (spec->load_fewshot) c["fewshot_split"] = spec->fewshot_files;
    c["output_type"] = OutputType(spec->kind);
    c["target_delimiter"] = " ";
    c["fewshot_delimiter"] = "\n\n";
    c["num_fewshot"] = k;
    c["fewshot_config"] = {{"sampler", "default"}, {"seed", kFewshotSeed}};
    c["metric_list"] = metric_list;
    if (spec->kind == TaskKind::kGenerate) {
      c["generation_kwargs"] = {{"until", spec->until},
                                {"do_sample", false},
                                {"temperature", 0.0},
                                {"max_gen_toks", spec->max_gen_toks}};
      c["filter_list"] = J::array(
          {{{"name", "strict-match"},
            {"filter",
             J::array({{{"function", "regex"}, {"regex_pattern", R"(#### (\-?[0-9\.\,]+))"}},
                       {{"function", "take_first"}}})}},
           {{"name", "flexible-extract"},
            {"filter", J::array({{{"function", "regex"},
                                  {"group_select", -1},
                                  {"regex_pattern", R"((-?[$0-9.,]{2,})|(-?[0-9]+))"}},
                                 {{"function", "take_first"}}})}}});
    }
    c["repeats"] = 1;
    c["metadata"] = {{"version", spec->lm_eval_version}};
    c["lmul_arith"] = name;
    c["lmul_reference_arith"] = rep.arith[0];
    configs[lm] = c;
    versions[lm] = spec->lm_eval_version;
    nshot[lm] = k;
    hib[lm] = h;
    nsamples[lm] = {{"original", t < rep.n_total.size() ? rep.n_total[t] : rep.n_selected[t]},
                    {"effective", rep.n_selected[t]}};
    subtasks[lm] = J::array();
  }
  J j;
  j["results"] = results;
  j["group_subtasks"] = subtasks;
  j["configs"] = configs;
  j["versions"] = versions;
  j["n-shot"] = nshot;
  j["higher_is_better"] = hib;
  j["n-samples"] = nsamples;
  J cfg;
  cfg["model"] = "lmul";
  cfg["model_args"] = "pretrained=" + rep.model + ",arith=" + name;
  cfg["batch_size"] = "1";
  cfg["batch_sizes"] = J::array();
  cfg["device"] = "cpu";
  cfg["use_cache"] = nullptr;
  // A plain --limit (one number) as lm-eval writes it; per-task limits: null (see lmul_limit).
  J limit = nullptr;
  if (!rep.limit.empty() && rep.limit.find_first_not_of("0123456789.") == std::string::npos) {
    limit = rep.limit.find('.') == std::string::npos ? J(std::atoll(rep.limit.c_str()))
                                                     : J(std::atof(rep.limit.c_str()));
  }
  cfg["limit"] = limit;
  cfg["bootstrap_iters"] = 0;
  cfg["gen_kwargs"] = nullptr;
  cfg["random_seed"] = 0;
  cfg["numpy_seed"] = 1234;
  cfg["torch_seed"] = 1234;
  cfg["fewshot_seed"] = kFewshotSeed;
  cfg["lmul_arith"] = name;
  cfg["lmul_reference_arith"] = rep.arith[0];
  cfg["lmul_limit"] = rep.limit.empty() ? J(nullptr) : J(rep.limit);
  cfg["lmul_ctx"] = rep.ctx;
  if (rep.shard_count > 1) {
    cfg["lmul_shard"] = std::to_string(rep.shard_index) + "/" + std::to_string(rep.shard_count);
  }
  j["config"] = cfg;
  j["model_source"] = "lmul";
  j["model_name"] = rep.model;
  j["date"] = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  return j;
}

std::vector<std::string> LmEvalResultPaths(const std::string& output_path,
                                           const std::vector<std::string>& arith) {
  std::vector<std::string> out;
  if (EndsWithJson(output_path)) {
    if (arith.size() == 1) return {output_path};
    const std::string stem = output_path.substr(0, output_path.size() - 5);
    for (const std::string& a : arith) out.push_back(stem + "_" + Slug(a) + ".json");
    return out;
  }
  for (const std::string& a : arith) out.push_back(output_path + "/results_" + Slug(a) + ".json");
  return out;
}

std::string LmulResultPath(const std::string& output_path) {
  if (EndsWithJson(output_path)) {
    return output_path.substr(0, output_path.size() - 5) + ".lmul.json";
  }
  return output_path + "/lmul_results.json";
}

}  // namespace lmul::eval
