#include "eval/selection.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "eval/py_random.h"

namespace lmul::eval {
namespace {

// lm-evaluation-harness's names of lmul's tasks where they differ.
struct Alias {
  const char* lm_eval;
  const char* lmul;
};
constexpr Alias kAliases[] = {{"wikitext", "wikitext2"}, {"lambada_openai", "lambada"}};

}  // namespace

std::vector<std::string> SplitOn(const std::string& s, char sep) {
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

Result<ArithList> ParseArithList(const std::vector<std::string>& args) {
  ArithList out;
  const std::vector<std::string> list = args.empty() ? std::vector<std::string>{"fp32"} : args;
  for (const std::string& arg : list) {
    for (const std::string& piece : SplitOn(arg, ';')) {
      const std::vector<std::string> specs = piece.find('=') != std::string::npos
                                                 ? std::vector<std::string>{piece}
                                                 : SplitOn(piece, ',');
      for (const std::string& spec : specs) {
        if (spec.empty()) return MakeError("--arith '" + arg + "': empty arithmetic");
        auto p = engine::Policy::Parse(spec);
        if (!p.ok()) return MakeError("--arith '" + spec + "': " + p.error());
        const std::string name = p->Name();
        if (std::find(out.names.begin(), out.names.end(), name) != out.names.end()) {
          return MakeError("--arith: '" + name + "' given twice");
        }
        out.names.push_back(name);
        out.policies.push_back(*p);
      }
    }
  }
  return out;
}

Result<LimitSpec> ParseLimit(const std::string& text) {
  LimitSpec spec;
  if (text.empty()) return spec;
  for (const std::string& item : SplitOn(text, ',')) {
    const size_t eq = item.find('=');
    const std::string num = eq == std::string::npos ? item : item.substr(eq + 1);
    const auto bad = [&] {
      return MakeError("--limit '" + text +
                       "': expected items N (an integer >= 0), X (a fraction " +
                       "0 < X < 1) or TASK=N / TASK=X; got '" + item + "'");
    };
    if (num.empty() || num.find_first_not_of("0123456789.") != std::string::npos) return bad();
    double v;
    if (num.find('.') == std::string::npos) {
      if (num.size() > 9) return bad();  // > 1e9 examples
      v = static_cast<double>(std::strtol(num.c_str(), nullptr, 10));
    } else {
      char* end = nullptr;
      v = std::strtod(num.c_str(), &end);
      if (*end != '\0' || !(v > 0.0 && v < 1.0)) return bad();
    }
    if (eq == std::string::npos) {
      spec.fallback = v;
    } else {
      const TaskSpec* t = FindTaskOrAlias(item.substr(0, eq));
      if (t == nullptr) {
        return MakeError("--limit: unknown task '" + item.substr(0, eq) +
                         "' (tasks: " + TaskNames() + ")");
      }
      spec.per_task.emplace_back(t->name, v);
    }
  }
  return spec;
}

int LimitFor(const LimitSpec& spec, const std::string& task, int n) {
  double v = spec.fallback;
  for (const auto& [t, x] : spec.per_task) {
    if (t == task) v = x;
  }
  if (v < 0) return n;
  // lm-eval get_sample_size: int(math.ceil(len(docs) * limit)) if limit < 1.0 else int(limit).
  const double want = v < 1.0 ? std::ceil(static_cast<double>(n) * v) : v;
  return static_cast<int>(std::min<double>(want, n));
}

Result<std::pair<int, int>> ParseShard(const std::string& text) {
  int i = 0, n = 1;
  char extra;
  if (std::sscanf(text.c_str(), "%d/%d%c", &i, &n, &extra) != 2 || n < 1 || i < 0 || i >= n) {
    return MakeError("--shard '" + text + "': expected I/N with 0 <= I < N");
  }
  return std::pair<int, int>{i, n};
}

const TaskSpec* FindTaskOrAlias(const std::string& name) {
  if (const TaskSpec* t = FindTask(name)) return t;
  for (const Alias& a : kAliases) {
    if (name == a.lm_eval) return FindTask(a.lmul);
  }
  return nullptr;
}

const std::string& LmEvalName(const TaskSpec& spec) {
  return spec.lm_eval_name.empty() ? spec.name : spec.lm_eval_name;
}

Result<std::vector<std::vector<size_t>>> ApplyFewshot(const TaskSpec& spec,
                                                      const std::vector<Example>& pool, int k,
                                                      uint64_t seed,
                                                      std::vector<Example>* examples) {
  std::vector<std::vector<size_t>> chosen;
  if (k <= 0) return chosen;
  if (static_cast<size_t>(k) > pool.size()) {
    return MakeError("--num_fewshot " + std::to_string(k) + ": task " + spec.name + " has only " +
                     std::to_string(pool.size()) + " few-shot examples");
  }
  for (const Example& s : pool) {
    if (s.shot_text.empty()) {
      return MakeError("task " + spec.name + ": few-shot example " + std::to_string(s.index) +
                       " has no text");
    }
  }
  PyRandom rnd(seed);
  for (Example& ex : *examples) {
    std::vector<size_t> idx = rnd.Sample(pool.size(), static_cast<size_t>(k));
    std::string prefix;
    for (size_t i : idx) prefix += pool[i].shot_text + "\n\n";
    for (Choice& c : ex.choices) c.context = prefix + c.context;
    if (spec.kind == TaskKind::kGenerate) ex.prompt = prefix + ex.prompt;
    chosen.push_back(std::move(idx));
  }
  return chosen;
}

size_t TaskSelection::n_examples() const {
  size_t n = 0;
  for (const TaskInput& in : inputs) n += in.examples.size();
  return n;
}

TaskSelection SelectTasks(const std::string& tasks, const LimitSpec& limit, int num_fewshot,
                          int shard_index, int shard_count, const std::string& data_dir) {
  TaskSelection sel;
  auto fail = [&](bool usage, std::string message, std::string hint) {
    TaskSelection f;
    f.usage_error = usage;
    f.error = std::move(message);
    f.hint = std::move(hint);
    return f;
  };
  for (const std::string& given : SplitOn(tasks, ',')) {
    const TaskSpec* spec = FindTaskOrAlias(given);
    if (spec == nullptr) {
      return fail(true, "unknown task '" + given + "'",
                  "tasks: " + TaskNames() + " (lm-eval names wikitext, lambada_openai also work)");
    }
    const std::string& name = spec->name;
    if (std::find(sel.tasks.begin(), sel.tasks.end(), name) != sel.tasks.end()) {
      return fail(true, "--tasks: '" + name + "' given twice", "give each task once");
    }
    auto ex = LoadTask(*spec, data_dir);
    if (!ex.ok()) {
      return fail(false, ex.error(),
                  "--data-dir DIR (or $LMUL_DATA) holds one folder per task; see docs/eval.md");
    }
    const int n_total = static_cast<int>(ex->size());
    const int n_sel = LimitFor(limit, name, n_total);
    ex->resize(n_sel);
    const int shots = num_fewshot >= 0 ? num_fewshot : spec->default_fewshot;
    if (shots > 0) {
      if (!spec->load_fewshot) {
        return fail(
            true,
            "--num_fewshot " + std::to_string(shots) + ": task " + name + " has no few-shot split",
            "few-shot tasks: arc_easy, arc_challenge, gsm8k; --num_fewshot 0");
      }
      auto pool = spec->load_fewshot(data_dir + "/" + spec->folder);
      if (!pool.ok()) {
        return fail(false, "task " + name + " few-shot split: " + pool.error(),
                    "expected " + spec->fewshot_files + " under the data dir");
      }
      if (static_cast<size_t>(shots) > pool->size()) {
        return fail(true,
                    "--num_fewshot " + std::to_string(shots) + ": task " + name + " has only " +
                        std::to_string(pool->size()) + " few-shot examples",
                    "lower --num_fewshot");
      }
      auto applied = ApplyFewshot(*spec, *pool, shots, kFewshotSeed, &*ex);
      if (!applied.ok()) return fail(false, applied.error(), "lower --num_fewshot");
    }
    TaskInput in;
    in.spec = spec;
    in.n_selected = n_sel;
    in.n_total = n_total;  // the split's size (the banner's "first N of n_total")
    for (int i = 0; i < n_sel; ++i) {
      if (i % shard_count == shard_index) in.examples.push_back(std::move((*ex)[i]));
    }
    sel.tasks.push_back(name);
    sel.n_selected.push_back(n_sel);
    sel.n_total.push_back(n_total);
    sel.n_shot.push_back(shots);
    sel.inputs.push_back(std::move(in));
  }
  return sel;
}

}  // namespace lmul::eval
