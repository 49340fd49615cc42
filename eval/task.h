// Tasks of `lmul eval`: what an example is, how a dataset folder is read, and the
// registry (one small file per task in eval/tasks/, listed in registry.cc).
//
// Every task reduces to lm-evaluation-harness request types:
//   kMultipleChoice  loglikelihood(context_i, continuation_i) for each choice i; acc is
//                    argmax_i loglik == gold, acc_norm argmax_i loglik / len(choice text).
//   kLastWord        one (context, target) pair: greedy match (acc) and its loglik
//                    (perplexity = exp(-mean loglik)), as lambada_openai.
//   kRolling         loglikelihood_rolling of a whole document (wikitext): windows over
//                    the token sequence, every token scored once.
#ifndef LMUL_EVAL_TASK_H_
#define LMUL_EVAL_TASK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"

namespace lmul::eval {

enum class TaskKind { kMultipleChoice, kLastWord, kRolling };
const char* TaskKindName(TaskKind k);

struct Choice {
  std::string context;       // prompt (shared by all choices for most tasks)
  std::string continuation;  // scored text, with its leading delimiter (" Paris")
  int64_t norm_len = 0;      // acc_norm divisor: characters of the choice text (lm-eval)
};

struct Example {
  int index = 0;   // position in the dataset file(s), 0-based
  std::string id;  // dataset id when it has one, else the index
  std::vector<Choice> choices;
  int gold = -1;  // kMultipleChoice: index into choices
  // kRolling: the document (choices empty) and lm-eval's word and byte counts of it.
  std::string document;
  int64_t n_words = 0, n_bytes = 0;
};

struct TaskSpec {
  std::string name;    // "arc_easy"
  TaskKind kind;       //
  bool acc_norm;       // report acc_norm (lm-eval does for arc, piqa, hellaswag)
  std::string folder;  // under the data directory: "arc-easy"
  std::string files;   // human description of the expected files, for error hints
  // Reads <data_dir>/<folder>/...; errors name the file, the line and what was expected.
  std::function<Result<std::vector<Example>>(const std::string& task_dir)> load;
};

// All registered tasks, in a fixed order.
const std::vector<TaskSpec>& Tasks();
const TaskSpec* FindTask(const std::string& name);
std::string TaskNames();  // "wikitext2, arc_easy, ..."

// Loads a task's examples from <data_dir>/<spec.folder>.
Result<std::vector<Example>> LoadTask(const TaskSpec& spec, const std::string& data_dir);

// Task constructors (one file each in eval/tasks/).
TaskSpec WikiText2Task();
TaskSpec ArcEasyTask();
TaskSpec ArcChallengeTask();
TaskSpec PiqaTask();
TaskSpec HellaSwagTask();
TaskSpec LambadaTask();
TaskSpec WinograndeTask();
TaskSpec BoolqTask();

}  // namespace lmul::eval

#endif  // LMUL_EVAL_TASK_H_
