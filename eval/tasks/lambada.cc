// LAMBADA (OpenAI version): lambada_test.jsonl {"text": ...}. lm-eval lambada_openai:
// context = " ".join(text.split(" ")[:-1]), target = " " + text.split(" ")[-1];
// acc = the target's tokens are all the greedy argmax; perplexity = exp(-mean loglik).
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

Result<std::vector<Example>> LoadLambada(const std::string& dir) {
  const std::string path = dir + "/lambada_test.jsonl";
  std::vector<Example> out;
  LMUL_RETURN_IF_ERROR(
      ForEachJsonObject(path, [&](const Line& line, const nlohmann::json& j) -> Status {
        auto t = GetStringField(path, line.number, j, "text");
        if (!t.ok()) return std::move(t).TakeError();
        const size_t sp = t->rfind(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == t->size()) {
          return LineError(path, line.number,
                           "field 'text': expected a passage ending in ' <last word>'");
        }
        Example ex;
        ex.index = static_cast<int>(out.size());
        ex.id = std::to_string(ex.index);
        const std::string target = t->substr(sp + 1);
        ex.choices.push_back({t->substr(0, sp), " " + target, Utf8Length(target)});
        out.push_back(std::move(ex));
        return Status::Ok();
      }));
  return out;
}

}  // namespace

TaskSpec LambadaTask() {
  TaskSpec t{"lambada",
             TaskKind::kLastWord,
             false,
             "lambada-openai",
             "lambada-openai/lambada_test.jsonl ({\"text\": ...} per line)",
             LoadLambada};
  t.lm_eval_name = "lambada_openai";
  return t;
}

}  // namespace lmul::eval
