#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "eval/lm_eval.h"

namespace lmul::eval {

namespace {

int ArgMax(const std::vector<double>& v) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(v.size()); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

// Whether example e is right under arithmetic a (acc; norm: acc_norm).
bool Correct(const TaskSpec& spec, const ExampleResult& e, int a, bool norm) {
  const ArithScore& s = e.arith[a];
  if (spec.kind == TaskKind::kGenerate) {
    return Gsm8kExactMatch(
        norm ? Gsm8kFlexibleExtract(s.generation) : Gsm8kStrictMatch(s.generation), e.target);
  }
  if (spec.kind == TaskKind::kLastWord) return s.greedy[0] != 0;
  if (!norm) return ArgMax(s.loglik) == e.gold;
  std::vector<double> v(s.loglik.size());
  for (size_t j = 0; j < v.size(); ++j) {
    v[j] = s.loglik[j] / static_cast<double>(std::max<int64_t>(1, e.norm_len[j]));
  }
  return ArgMax(v) == e.gold;
}

double BinomialStderr(double p, int64_t n) {
  return n > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1)) : 0.0;
}

// Standard error of a mean from sum and sum of squares over n items.
double MeanStderr(double sum, double sq, int64_t n) {
  if (n < 2) return 0.0;
  const double m = sum / n;
  const double var = std::max(0.0, (sq / n - m * m) * n / (n - 1));
  return std::sqrt(var / n);
}

}  // namespace

double McNemarExactP(int64_t b, int64_t c) {
  const int64_t n = b + c;
  if (n == 0) return 1.0;
  const int64_t k = std::min(b, c);
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i) {
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) -
                     n * std::log(2.0));
  }
  return std::min(1.0, 2 * tail);
}

std::vector<MetricRow> Aggregate(const Report& rep) {
  std::vector<MetricRow> rows;
  const int A = static_cast<int>(rep.arith.size());
  for (const std::string& task : rep.tasks) {
    const TaskSpec* spec = FindTask(task);
    if (spec == nullptr) continue;
    std::vector<const ExampleResult*> ex;
    for (const ExampleResult& e : rep.examples) {
      if (e.task == task) ex.push_back(&e);
    }
    const int64_t n = static_cast<int64_t>(ex.size());
    if (n == 0) continue;
    for (int a = 0; a < A; ++a) {
      auto add = [&](const std::string& metric, double value, std::optional<double> se,
                     int64_t count) {
        rows.push_back({task, rep.arith[a], metric, value, se, count});
      };
      int64_t positions = 0;
      for (const ExampleResult* e : ex) positions += e->n_positions;
      if (spec->kind == TaskKind::kGenerate) {
        // norm = false: strict-match, true: flexible-extract.
        int64_t right[2] = {0, 0}, to_wrong = 0, to_right = 0, same = 0;
        for (const ExampleResult* e : ex) {
          for (int norm = 0; norm < 2; ++norm) right[norm] += Correct(*spec, *e, a, norm);
          if (a > 0) {
            const bool r0 = Correct(*spec, *e, 0, false), ra = Correct(*spec, *e, a, false);
            to_wrong += r0 && !ra;
            to_right += !r0 && ra;
            same += e->arith[a].generation == e->arith[0].generation;
          }
        }
        for (int norm = 0; norm < 2; ++norm) {
          const double em = static_cast<double>(right[norm]) / n;
          add(norm ? "exact_match_flexible" : "exact_match_strict", em, BinomialStderr(em, n), n);
        }
        if (a > 0) {
          const double st = static_cast<double>(same) / n;
          add("same_text", st, BinomialStderr(st, n), n);
          add("flips_to_wrong", static_cast<double>(to_wrong), std::nullopt, n);
          add("flips_to_right", static_cast<double>(to_right), std::nullopt, n);
          add("mcnemar_p", McNemarExactP(to_right, to_wrong), std::nullopt, n);
        }
        continue;
      }
      if (spec->kind == TaskKind::kRolling) {
        double ll = 0;
        int64_t words = 0, bytes = 0;
        for (const ExampleResult* e : ex) {
          ll += e->arith[a].loglik[0];
          words += e->n_words;
          bytes += e->n_bytes;
        }
        add("word_perplexity", std::exp(-ll / static_cast<double>(words)), std::nullopt, words);
        add("byte_perplexity", std::exp(-ll / static_cast<double>(bytes)), std::nullopt, bytes);
        add("bits_per_byte", -ll / static_cast<double>(bytes) / std::log(2.0), std::nullopt, bytes);
        add("token_perplexity", std::exp(-ll / static_cast<double>(positions)), std::nullopt,
            positions);
      } else {
        int64_t right = 0, right_norm = 0;
        double ll = 0;
        for (const ExampleResult* e : ex) {
          right += Correct(*spec, *e, a, false);
          if (spec->acc_norm) right_norm += Correct(*spec, *e, a, true);
          ll += e->arith[a].loglik[0];
        }
        const double acc = static_cast<double>(right) / n;
        add("acc", acc, BinomialStderr(acc, n), n);
        if (spec->acc_norm) {
          const double an = static_cast<double>(right_norm) / n;
          add("acc_norm", an, BinomialStderr(an, n), n);
        }
        if (spec->kind == TaskKind::kLastWord) {
          add("perplexity", std::exp(-ll / static_cast<double>(n)), std::nullopt, n);
        }
      }
      if (a == 0) continue;
      // Against the reference.
      double kl = 0, kl_sq = 0;
      int64_t agree = 0;
      for (const ExampleResult* e : ex) {
        kl += e->arith[a].kl_sum;
        kl_sq += e->arith[a].kl_sq_sum;
        agree += e->arith[a].top1_agree;
      }
      add("kl", kl / static_cast<double>(positions), MeanStderr(kl, kl_sq, positions), positions);
      const double t1 = static_cast<double>(agree) / static_cast<double>(positions);
      add("top1_agree", t1, BinomialStderr(t1, positions), positions);
      if (spec->kind == TaskKind::kRolling) {
        double d = 0, d_sq = 0;
        for (const ExampleResult* e : ex) {
          d += e->arith[a].abs_dlogp_sum;
          d_sq += e->arith[a].abs_dlogp_sq_sum;
        }
        add("mean_abs_dlogp_token", d / static_cast<double>(positions),
            MeanStderr(d, d_sq, positions), positions);
        continue;
      }
      double d = 0, d_sq = 0;
      int64_t n_choices = 0;
      // Paired flips against the reference: [0] acc, [1] acc_norm.
      int64_t to_wrong[2] = {0, 0}, to_right[2] = {0, 0};
      for (const ExampleResult* e : ex) {
        for (size_t j = 0; j < e->arith[a].loglik.size(); ++j) {
          const double x = std::abs(e->arith[a].loglik[j] - e->arith[0].loglik[j]);
          d += x;
          d_sq += x * x;
          ++n_choices;
        }
        for (int norm = 0; norm <= (spec->acc_norm ? 1 : 0); ++norm) {
          const bool r0 = Correct(*spec, *e, 0, norm), ra = Correct(*spec, *e, a, norm);
          to_wrong[norm] += r0 && !ra;
          to_right[norm] += !r0 && ra;
        }
      }
      add("mean_abs_dloglik", d / static_cast<double>(n_choices), MeanStderr(d, d_sq, n_choices),
          n_choices);
      // acc_norm (lm-eval's headline metric) gets the same paired test, prefixed.
      for (int norm = 0; norm <= (spec->acc_norm ? 1 : 0); ++norm) {
        const std::string prefix = norm ? "acc_norm_" : "";
        add(prefix + "flips_to_wrong", static_cast<double>(to_wrong[norm]), std::nullopt, n);
        add(prefix + "flips_to_right", static_cast<double>(to_right[norm]), std::nullopt, n);
        add(prefix + "mcnemar_p", McNemarExactP(to_right[norm], to_wrong[norm]), std::nullopt, n);
      }
    }
  }
  return rows;
}

namespace {

std::string Fmt(const std::string& metric, double v) {
  char buf[64];
  if (metric.find("flips_") != std::string::npos) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (metric == "acc" || metric == "acc_norm" || metric == "top1_agree" ||
             metric.rfind("exact_match", 0) == 0 || metric == "same_text") {
    std::snprintf(buf, sizeof buf, "%.4f", v);
  } else if (metric.find("perplexity") != std::string::npos || metric == "bits_per_byte") {
    std::snprintf(buf, sizeof buf, "%.4f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

std::string FmtDelta(const std::string& metric, double d) {
  std::string s = Fmt(metric, d);
  if (d >= 0) s = "+" + s;
  return s;
}

}  // namespace

std::string FormatTable(const Report& rep, const std::vector<MetricRow>& rows) {
  // Row keys in first-seen order.
  std::vector<std::pair<std::string, std::string>> keys;
  std::map<std::tuple<std::string, std::string, std::string>, const MetricRow*> cell;
  for (const MetricRow& r : rows) {
    std::pair<std::string, std::string> k{r.task, r.metric};
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    cell[{r.task, r.metric, r.arith}] = &r;
  }
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"task", "metric"};
  for (size_t a = 0; a < rep.arith.size(); ++a) {
    head.push_back(a == 0 ? rep.arith[a] + " (ref)" : rep.arith[a] + " (delta)");
  }
  table.push_back(head);
  for (const auto& [task, metric] : keys) {
    std::vector<std::string> line = {task, metric};
    const MetricRow* ref = nullptr;
    if (auto it = cell.find({task, metric, rep.arith[0]}); it != cell.end()) ref = it->second;
    for (size_t a = 0; a < rep.arith.size(); ++a) {
      auto it = cell.find({task, metric, rep.arith[a]});
      if (it == cell.end()) {
        line.push_back("-");
        continue;
      }
      const MetricRow& r = *it->second;
      std::string s = Fmt(metric, r.value);
      if (a == 0 && r.stderr_value && metric != "kl" && metric != "top1_agree") {
        s += " ± " + Fmt(metric, *r.stderr_value);
      } else if (a > 0 && ref != nullptr) {
        s += " (" + FmtDelta(metric, r.value - ref->value) + ")";
      }
      line.push_back(s);
    }
    table.push_back(line);
  }
  std::vector<size_t> width(head.size(), 0);
  auto display_len = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& line : table) {
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], display_len(line[c]));
  }
  std::string out;
  for (size_t i = 0; i < table.size(); ++i) {
    for (size_t c = 0; c < table[i].size(); ++c) {
      const std::string& s = table[i][c];
      out += s + std::string(width[c] - display_len(s) + (c + 1 < table[i].size() ? 2 : 0), ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
    if (i == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  return out;
}

nlohmann::ordered_json ToJson(const Report& rep, const std::vector<MetricRow>& rows) {
  using J = nlohmann::ordered_json;
  J j;
  j["model"] = rep.model;
  j["arith"] = rep.arith;
  j["tasks"] = rep.tasks;
  J sel = J::object();
  for (size_t t = 0; t < rep.tasks.size(); ++t) sel[rep.tasks[t]] = rep.n_selected[t];
  j["n_selected"] = sel;
  J total = J::object(), shots = J::object();
  for (size_t t = 0; t < rep.tasks.size(); ++t) {
    if (t < rep.n_total.size()) total[rep.tasks[t]] = rep.n_total[t];
    shots[rep.tasks[t]] = t < rep.n_shot.size() ? rep.n_shot[t] : 0;
  }
  j["n_total"] = total;
  j["n_shot"] = shots;
  j["limit"] = rep.limit.empty() ? J(nullptr) : J(rep.limit);
  j["ctx"] = rep.ctx;
  j["stride"] = rep.stride;
  j["shard"] = std::to_string(rep.shard_index) + "/" + std::to_string(rep.shard_count);
  if (rep.partial_of > 0) j["partial"] = {{"shards", rep.partial_shards}, {"of", rep.partial_of}};
  J res = J::array();
  for (const MetricRow& r : rows) {
    J x;
    x["task"] = r.task;
    x["arith"] = r.arith;
    x["metric"] = r.metric;
    x["value"] = r.value;
    x["stderr"] = r.stderr_value ? J(*r.stderr_value) : J(nullptr);
    x["n"] = r.n;
    res.push_back(x);
  }
  j["results"] = res;
  J exs = J::array();
  for (const ExampleResult& e : rep.examples) {
    J x;
    x["task"] = e.task;
    x["index"] = e.index;
    x["id"] = e.id;
    x["gold"] = e.gold;
    x["cont_tokens"] = e.cont_tokens;
    x["norm_len"] = e.norm_len;
    x["n_positions"] = e.n_positions;
    x["n_words"] = e.n_words;
    x["n_bytes"] = e.n_bytes;
    if (!e.tokens.empty()) x["tokens"] = e.tokens;
    if (!e.target.empty()) x["target"] = e.target;
    J scores = J::object();
    for (size_t a = 0; a < rep.arith.size() && a < e.arith.size(); ++a) {
      const ArithScore& s = e.arith[a];
      J y;
      y["loglik"] = s.loglik;
      y["greedy"] = s.greedy;
      if (e.gold >= 0) y["pred"] = ArgMax(s.loglik);
      y["kl_sum"] = s.kl_sum;
      y["kl_sq_sum"] = s.kl_sq_sum;
      y["top1_agree"] = s.top1_agree;
      y["abs_dlogp_sum"] = s.abs_dlogp_sum;
      y["abs_dlogp_sq_sum"] = s.abs_dlogp_sq_sum;
      if (!s.window_loglik.empty()) y["window_loglik"] = s.window_loglik;
      if (!e.target.empty()) {
        y["generation"] = s.generation;
        y["generated_tokens"] = s.generated_tokens;
        y["filtered"] = {{"strict-match", Gsm8kStrictMatch(s.generation)},
                         {"flexible-extract", Gsm8kFlexibleExtract(s.generation)}};
      }
      scores[rep.arith[a]] = y;
    }
    x["scores"] = scores;
    exs.push_back(x);
  }
  j["examples"] = exs;
  J thr = J::array();
  for (size_t a = 0; a < rep.arith.size() && a < rep.stats.tokens.size(); ++a) {
    J x;
    x["arith"] = rep.arith[a];
    x["tokens"] = rep.stats.tokens[a];
    x["seconds"] = rep.stats.seconds[a];
    x["tokens_per_s"] = rep.stats.seconds[a] > 0 ? rep.stats.tokens[a] / rep.stats.seconds[a] : 0.0;
    thr.push_back(x);
  }
  j["throughput"] = thr;
  return j;
}

namespace {

// "I/N" with 0 <= I < N <= 2^20, digits only (sscanf's %d overflows silently).
bool ParseShardText(const std::string& s, int* index, int* count) {
  int64_t v[2] = {0, 0};
  size_t i = 0;
  for (int k = 0; k < 2; ++k) {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 8) v[k] = v[k] * 10 + (s[i++] - '0');
    if (i == start) return false;
    if (k == 0 && (i >= s.size() || s[i++] != '/')) return false;
  }
  if (i != s.size() || v[1] < 1 || v[1] > (1 << 20) || v[0] >= v[1]) return false;
  *index = static_cast<int>(v[0]);
  *count = static_cast<int>(v[1]);
  return true;
}

// The fields ReportFromJson reads as integers must hold integers: nlohmann's get<int> of a
// float outside int's range is undefined behaviour, so a non-integer number in any of them is
// refused up front (other fields, reals or unknown keys, are not constrained here).
bool ReadAsInteger(const std::string& key) {
  static const char* const kInt[] = {"n_selected", "limit",      "ctx",         "stride",
                                     "of",         "shards",     "index",       "gold",
                                     "cont_tokens", "norm_len",  "n_positions", "n_words",
                                     "n_bytes",    "tokens",     "greedy",      "top1_agree"};
  for (const char* k : kInt) {
    if (key == k) return true;
  }
  return false;
}

Status CheckIntegerFields(const std::string& path, const nlohmann::json& j, const std::string& key,
                          bool integral, int depth) {
  if (depth > 64) return MakeError(path + ": JSON nested deeper than 64 levels");
  integral = integral || ReadAsInteger(key);  // n_selected: {"piqa": N} inherits
  if (j.is_number_float() && integral) {
    return MakeError(path + ": field '" + key + "': expected an integer, found " + j.dump());
  }
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      LMUL_RETURN_IF_ERROR(CheckIntegerFields(path, it.value(), it.key(), integral, depth + 1));
    }
  } else if (j.is_array()) {
    for (const auto& x : j) {
      LMUL_RETURN_IF_ERROR(CheckIntegerFields(path, x, key, integral, depth + 1));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Report> ReportFromJson(const std::string& path, const nlohmann::json& j) {
  std::string field = "(top level)";
  try {
    Report r;
    if (!j.is_object()) return MakeError(path + ": expected a JSON object");
    LMUL_RETURN_IF_ERROR(CheckIntegerFields(path, j, "(top level)", false, 0));
    field = "model";
    r.model = j.at("model").get<std::string>();
    field = "arith";
    r.arith = j.at("arith").get<std::vector<std::string>>();
    if (r.arith.empty()) return MakeError(path + ": field 'arith': expected a non-empty list");
    field = "tasks";
    r.tasks = j.at("tasks").get<std::vector<std::string>>();
    for (const std::string& t : r.tasks) {
      if (FindTask(t) == nullptr)
        return MakeError(path + ": field 'tasks': unknown task '" + t + "'");
    }
    field = "n_selected";
    for (const std::string& t : r.tasks)
      r.n_selected.push_back(j.at("n_selected").at(t).get<int>());
    // n_total, n_shot: absent in files from before --num_fewshot (zero-shot, totals unknown).
    field = "n_total";
    if (j.contains("n_total") && !j.at("n_total").empty()) {
      for (const std::string& t : r.tasks) r.n_total.push_back(j.at("n_total").at(t).get<int>());
    }
    field = "n_shot";
    for (const std::string& t : r.tasks) {
      r.n_shot.push_back(j.contains("n_shot") ? j.at("n_shot").at(t).get<int>() : 0);
    }
    field = "limit";
    if (j.at("limit").is_number_integer()) {
      r.limit = std::to_string(j.at("limit").get<int64_t>());
    } else if (!j.at("limit").is_null()) {
      r.limit = j.at("limit").get<std::string>();
    }
    field = "ctx";
    r.ctx = j.at("ctx").get<int>();
    field = "stride";
    r.stride = j.at("stride").get<int>();
    field = "shard";
    const std::string shard = j.at("shard").get<std::string>();
    if (!ParseShardText(shard, &r.shard_index, &r.shard_count)) {
      return MakeError(path + ": field 'shard': expected I/N with 0 <= I < N, found '" + shard +
                       "'");
    }
    if (j.contains("partial")) {
      field = "partial";
      const auto& p = j.at("partial");
      r.partial_of = p.at("of").get<int>();
      r.partial_shards = p.at("shards").get<std::vector<int>>();
      if (r.partial_of < 1) {
        return MakeError(path + ": field 'partial.of': expected a shard count >= 1, found " +
                         std::to_string(r.partial_of));
      }
      for (int s : r.partial_shards) {
        if (s < 0 || s >= r.partial_of) {
          return MakeError(path + ": field 'partial.shards': expected indices in [0, " +
                           std::to_string(r.partial_of) + "), found " + std::to_string(s));
        }
      }
    }
    const size_t A = r.arith.size();
    size_t k = 0;
    for (const auto& x : j.at("examples")) {
      field = "examples[" + std::to_string(k++) + "]";
      ExampleResult e;
      e.task = x.at("task").get<std::string>();
      if (std::find(r.tasks.begin(), r.tasks.end(), e.task) == r.tasks.end()) {
        return MakeError(path + ": " + field + ": task '" + e.task + "' is not in 'tasks'");
      }
      e.index = x.at("index").get<int>();
      e.id = x.at("id").get<std::string>();
      e.gold = x.at("gold").get<int>();
      e.cont_tokens = x.at("cont_tokens").get<std::vector<int>>();
      e.norm_len = x.at("norm_len").get<std::vector<int64_t>>();
      e.n_positions = x.at("n_positions").get<int64_t>();
      e.n_words = x.at("n_words").get<int64_t>();
      e.n_bytes = x.at("n_bytes").get<int64_t>();
      if (x.contains("tokens")) e.tokens = x.at("tokens").get<std::vector<int32_t>>();
      if (x.contains("target")) e.target = x.at("target").get<std::string>();
      const TaskSpec* spec = FindTask(e.task);
      if (spec->kind == TaskKind::kGenerate && !x.contains("target")) {
        return MakeError(path + ": " + field + ": a generative task's example needs 'target'");
      }
      const size_t n_choices = spec->kind == TaskKind::kRolling ? 1 : e.cont_tokens.size();
      if (spec->kind != TaskKind::kRolling && e.norm_len.size() != n_choices) {
        return MakeError(path + ": " + field + ": norm_len and cont_tokens differ in length");
      }
      if (spec->kind == TaskKind::kMultipleChoice &&
          (e.gold < 0 || e.gold >= static_cast<int>(n_choices))) {
        return MakeError(path + ": " + field + ": gold outside the choices");
      }
      for (size_t a = 0; a < A; ++a) {
        field = "examples[" + std::to_string(k - 1) + "].scores." + r.arith[a];
        const auto& y = x.at("scores").at(r.arith[a]);
        ArithScore s;
        s.loglik = y.at("loglik").get<std::vector<double>>();
        s.greedy = y.at("greedy").get<std::vector<uint8_t>>();
        if (s.loglik.size() != n_choices || s.greedy.size() != n_choices) {
          return MakeError(path + ": " + field + ": expected " + std::to_string(n_choices) +
                           " loglik and greedy values");
        }
        s.kl_sum = y.at("kl_sum").get<double>();
        s.kl_sq_sum = y.at("kl_sq_sum").get<double>();
        s.top1_agree = y.at("top1_agree").get<int64_t>();
        s.abs_dlogp_sum = y.at("abs_dlogp_sum").get<double>();
        s.abs_dlogp_sq_sum = y.at("abs_dlogp_sq_sum").get<double>();
        if (y.contains("window_loglik")) {
          s.window_loglik = y.at("window_loglik").get<std::vector<double>>();
        }
        if (spec->kind == TaskKind::kGenerate) {
          s.generation = y.at("generation").get<std::string>();
          s.generated_tokens = y.at("generated_tokens").get<int64_t>();
        }
        e.arith.push_back(std::move(s));
      }
      r.examples.push_back(std::move(e));
    }
    if (j.contains("throughput")) {
      field = "throughput";
      r.stats.tokens.assign(A, 0);
      r.stats.seconds.assign(A, 0.0);
      for (const auto& x : j.at("throughput")) {
        const std::string name = x.at("arith").get<std::string>();
        for (size_t a = 0; a < A; ++a) {
          if (r.arith[a] == name) {
            r.stats.tokens[a] = x.at("tokens").get<int64_t>();
            r.stats.seconds[a] = x.at("seconds").get<double>();
          }
        }
      }
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return MakeError(path + ": field " + field + ": " + e.what());
  }
}

std::string ShardList(const std::vector<int>& shards) {
  std::string list;
  for (int k : shards) list += (list.empty() ? "" : ",") + std::to_string(k);
  return list;
}

Result<Report> MergeReports(std::vector<Report> shards, const std::vector<std::string>& paths,
                            bool allow_partial) {
  if (shards.empty()) return MakeError("merge: no input files");
  Report out = shards[0];
  out.examples.clear();
  out.shard_index = 0;
  out.shard_count = 1;
  std::set<int> seen;
  for (size_t i = 0; i < shards.size(); ++i) {
    const Report& s = shards[i];
    const std::string& p = paths[i];
    auto differs = [&](const std::string& what) {
      return MakeError(p + ": " + what + " differs from " + paths[0]);
    };
    if (s.partial_of > 0) {
      return MakeError(p + ": a partial merge (shards " + ShardList(s.partial_shards) + " of " +
                       std::to_string(s.partial_of) + "); merge the shard files it came from");
    }
    if (s.model != shards[0].model) return differs("model");
    if (s.arith != shards[0].arith) return differs("arith");
    if (s.tasks != shards[0].tasks) return differs("tasks");
    if (s.n_selected != shards[0].n_selected) return differs("n_selected");
    if (s.n_shot != shards[0].n_shot) return differs("n_shot");
    if (s.limit != shards[0].limit) return differs("limit");
    if (s.ctx != shards[0].ctx || s.stride != shards[0].stride) return differs("ctx/stride");
    if (s.shard_count != shards[0].shard_count) return differs("the shard count");
    if (!seen.insert(s.shard_index).second) {
      return MakeError(p + ": shard " + std::to_string(s.shard_index) + "/" +
                       std::to_string(s.shard_count) + " given twice");
    }
    for (size_t a = 0; a < out.stats.tokens.size() && a < s.stats.tokens.size(); ++a) {
      if (i > 0) {
        out.stats.tokens[a] += s.stats.tokens[a];
        out.stats.seconds[a] += s.stats.seconds[a];
      }
    }
    out.examples.insert(out.examples.end(), s.examples.begin(), s.examples.end());
  }
  const int shard_count = shards[0].shard_count;
  if (!allow_partial && static_cast<int>(seen.size()) != shard_count) {
    std::string missing;
    for (int k = 0; k < shards[0].shard_count; ++k) {
      if (!seen.count(k)) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
    }
    return MakeError("merge: missing shard(s) " + missing + " of " +
                     std::to_string(shards[0].shard_count));
  }
  std::map<std::string, size_t> order;
  for (size_t t = 0; t < out.tasks.size(); ++t) order[out.tasks[t]] = t;
  std::stable_sort(out.examples.begin(), out.examples.end(),
                   [&](const ExampleResult& a, const ExampleResult& b) {
                     if (order[a.task] != order[b.task]) return order[a.task] < order[b.task];
                     return a.index < b.index;
                   });
  // Every selected example of the merged shards exactly once.
  size_t pos = 0;
  for (size_t t = 0; t < out.tasks.size(); ++t) {
    for (int want = 0; want < out.n_selected[t]; ++want) {
      if (!seen.count(want % shard_count)) continue;  // a shard not given (allow_partial)
      if (pos >= out.examples.size() || out.examples[pos].task != out.tasks[t] ||
          out.examples[pos].index != want) {
        return MakeError("merge: " + out.tasks[t] + " example " + std::to_string(want) +
                         " is missing or duplicated in the shards");
      }
      ++pos;
    }
  }
  if (pos != out.examples.size()) return MakeError("merge: the shards hold extra examples");
  if (static_cast<int>(seen.size()) != shard_count) {
    out.partial_shards.assign(seen.begin(), seen.end());
    out.partial_of = shard_count;
  }
  return out;
}

}  // namespace lmul::eval
