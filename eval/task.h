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
//   kGenerate        generate_until(prompt): greedy tokens until a stop sequence (gsm8k);
//                    the text is scored by the task's filters and exact match (eval/lm_eval.h).
#ifndef LMUL_EVAL_TASK_H_
#define LMUL_EVAL_TASK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace lmul::eval {

enum class TaskKind { kMultipleChoice, kLastWord, kRolling, kGenerate };
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
  // kGenerate: the prompt (doc_to_text) and the reference answer (doc_to_target).
  std::string prompt, target;
  // Few-shot splits: this example as a shot, doc_to_text + target_delimiter + target
  // ("Question: ...\nAnswer: {gold choice}"); empty where the task has no few-shot form.
  std::string shot_text;
};

struct TaskSpec {
  TaskSpec() = default;
  TaskSpec(std::string name_, TaskKind kind_, bool acc_norm_, std::string folder_,
           std::string files_,
           std::function<Result<std::vector<Example>>(const std::string&)> load_)
      : name(std::move(name_)),
        kind(kind_),
        acc_norm(acc_norm_),
        folder(std::move(folder_)),
        files(std::move(files_)),
        load(std::move(load_)) {}

  std::string name;  // "arc_easy"
  TaskKind kind = TaskKind::kMultipleChoice;
  bool acc_norm = false;  // report acc_norm (lm-eval does for arc, piqa, hellaswag)
  std::string folder;     // under the data directory: "arc-easy"
  std::string files;      // human description of the expected files, for error hints
  // Reads <data_dir>/<folder>/...; errors name the file, the line and what was expected.
  std::function<Result<std::vector<Example>>(const std::string& task_dir)> load;
  // --- lm-evaluation-harness conventions (set after construction by the task files) ---
  std::string lm_eval_name;      // lm-eval's task name when it differs ("wikitext")
  double lm_eval_version = 1.0;  // the task yaml's metadata.version
  // Few-shot split (lm-eval's fewshot_split / training_split) in <task dir>; null: none.
  std::function<Result<std::vector<Example>>(const std::string& task_dir)> load_fewshot;
  std::string fewshot_files;  // human description, for error hints
  int default_fewshot = 0;    // the yaml's num_fewshot (gsm8k: 5)
  // kGenerate: lm-eval's generation_kwargs (greedy).
  std::vector<std::string> until;
  int max_gen_toks = 256;
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
TaskSpec Gsm8kTask();

}  // namespace lmul::eval

#endif  // LMUL_EVAL_TASK_H_
