// GSM8K (OpenAI JSONL {"question", "answer"}). lm-eval gsm8k (version 3.0), generate_until:
// prompt "Question: {question}\nAnswer:", greedy until "Question:", "</s>", "<|im_end|>"
// (and the model's end-of-generation tokens), at most 256 tokens; 5-shot by default from
// train.jsonl, each shot "Question: {question}\nAnswer: {answer}". Scored by
// exact_match,strict-match and exact_match,flexible-extract (eval/lm_eval.h).
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

Result<std::vector<Example>> LoadGsm8k(const std::string& path) {
  std::vector<Example> out;
  LMUL_RETURN_IF_ERROR(
      ForEachJsonObject(path, [&](const Line& line, const nlohmann::json& j) -> Status {
        auto q = GetStringField(path, line.number, j, "question");
        if (!q.ok()) return std::move(q).TakeError();
        auto a = GetStringField(path, line.number, j, "answer");
        if (!a.ok()) return std::move(a).TakeError();
        if (a->find("#### ") == std::string::npos) {
          return LineError(path, line.number,
                           "field 'answer': expected the final answer after '#### '");
        }
        Example ex;
        ex.index = static_cast<int>(out.size());
        ex.id = std::to_string(ex.index);
        ex.prompt = "Question: " + *q + "\nAnswer:";
        ex.target = *a;
        ex.shot_text = ex.prompt + " " + *a;
        out.push_back(std::move(ex));
        return Status::Ok();
      }));
  return out;
}

}  // namespace

TaskSpec Gsm8kTask() {
  TaskSpec t{"gsm8k",
             TaskKind::kGenerate,
             false,
             "gsm8k",
             "gsm8k/test.jsonl ({\"question\", \"answer\"} per line)",
             [](const std::string& dir) { return LoadGsm8k(dir + "/test.jsonl"); }};
  t.lm_eval_version = 3.0;
  t.load_fewshot = [](const std::string& dir) { return LoadGsm8k(dir + "/train.jsonl"); };
  t.fewshot_files = "gsm8k/train.jsonl";
  t.default_fewshot = 5;
  t.until = {"Question:", "</s>", "<|im_end|>"};
  t.max_gen_toks = 256;
  return t;
}

}  // namespace lmul::eval
