// What `lmul eval` runs, from its flags' text: the arithmetic list, --limit, --shard, task
// names (lmul's and lm-evaluation-harness's), and the few-shot contexts (lm-eval's sampler).
// Parsers return one-line errors naming the flag and what was expected.
#ifndef LMUL_EVAL_SELECTION_H_
#define LMUL_EVAL_SELECTION_H_

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/model/policy.h"
#include "eval/evaluator.h"
#include "eval/task.h"

namespace lmul::eval {

// --arith values: each is split at ';'; a piece containing '=' is one inline policy, a
// piece without is split at ',' into presets. Names (Policy::Name()) must be distinct.
struct ArithList {
  std::vector<engine::Policy> policies;  // [0] = the reference
  std::vector<std::string> names;
};
// "a,b,,c" split on `sep`, empty pieces kept (the grammars below refuse them by name).
std::vector<std::string> SplitOn(const std::string& text, char sep);

Result<ArithList> ParseArithList(const std::vector<std::string>& args);

// --limit: comma-separated items N | X | TASK=N | TASK=X; N an integer >= 0 (the first N
// examples), X a fraction 0 < X < 1 (the first ceil(X * size) examples, lm-eval's
// get_sample_size). A bare item applies to tasks not named. TASK may be an lm-eval name.
struct LimitSpec {
  double fallback = -1;                                  // < 0: no limit
  std::vector<std::pair<std::string, double>> per_task;  // canonical task names
};
Result<LimitSpec> ParseLimit(const std::string& text);
// Examples selected out of n for a task.
int LimitFor(const LimitSpec& spec, const std::string& task, int n);

// --shard I/N with 0 <= I < N.
Result<std::pair<int, int>> ParseShard(const std::string& text);

// A task by lmul's name or lm-evaluation-harness's (wikitext -> wikitext2, lambada_openai ->
// lambada); null if neither.
const TaskSpec* FindTaskOrAlias(const std::string& name);
// lm-eval's name of a task (spec.lm_eval_name, else spec.name).
const std::string& LmEvalName(const TaskSpec& spec);

// lm-eval's few-shot seed (evaluator.simple_evaluate's fewshot_random_seed default).
inline constexpr uint64_t kFewshotSeed = 1234;

// Prepends k few-shot examples to each of `examples` (in order, examples[i] being the i-th
// document lm-eval builds requests for) as lm-eval's ContextSampler does: one
// random.Random(seed) per task, sample(pool, k) per document in document order; each shot
// rendered "{shot_text}\n\n" (shot_text = doc_to_text + target_delimiter + target). The
// prefix goes before every choice's context (multiple choice) or the prompt (generation).
// Returns the pool indices chosen per document (for tests and the JSON).
Result<std::vector<std::vector<size_t>>> ApplyFewshot(const TaskSpec& spec,
                                                      const std::vector<Example>& pool, int k,
                                                      uint64_t seed,
                                                      std::vector<Example>* examples);

// The tasks of one `lmul eval` run, loaded, cut and shared out before the model runs:
// `tasks` (comma-separated, lmul or lm-eval names, each once) from data_dir, the first
// LimitFor(limit) examples of each, num_fewshot few-shot shots (< 0: the task's default),
// then the examples with index % shard_count == shard_index.
struct TaskSelection {
  std::vector<TaskInput> inputs;   // one per task, in the order given
  std::vector<std::string> tasks;  // canonical names
  std::vector<int> n_selected, n_total, n_shot;
  // On failure: a one-line message naming the flag or file, a hint, and whether it is a
  // usage error (a flag: exit 2) or a runtime one (data missing or unreadable: exit 1).
  std::string error, hint;
  bool usage_error = false;
  bool ok() const { return error.empty(); }
  size_t n_examples() const;  // this shard's examples over all tasks
};
TaskSelection SelectTasks(const std::string& tasks, const LimitSpec& limit, int num_fewshot,
                          int shard_index, int shard_count, const std::string& data_dir);

}  // namespace lmul::eval

#endif  // LMUL_EVAL_SELECTION_H_
