// BoolQ (SuperGLUE validation JSONL): {"question","passage","label"} with label a bool,
// "true"/"false", or 0/1. lm-eval boolq: context "{passage}\nQuestion: {question}?\nAnswer:",
// continuations " no", " yes" (gold 1 = yes); acc only.
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

Result<std::vector<Example>> LoadBoolq(const std::string& dir) {
  const std::string path = dir + "/val.jsonl";
  std::vector<Example> out;
  LMUL_RETURN_IF_ERROR(
      ForEachJsonObject(path, [&](const Line& line, const nlohmann::json& j) -> Status {
        auto q = GetStringField(path, line.number, j, "question");
        if (!q.ok()) return std::move(q).TakeError();
        auto p = GetStringField(path, line.number, j, "passage");
        if (!p.ok()) return std::move(p).TakeError();
        auto it = j.find("label");
        if (it == j.end()) return LineError(path, line.number, "missing field 'label'");
        int gold = -1;
        if (it->is_boolean()) {
          gold = it->get<bool>() ? 1 : 0;
        } else if (it->is_string() && (*it == "true" || *it == "false")) {
          gold = *it == "true" ? 1 : 0;
        } else if (it->is_number_integer() && (*it == 0 || *it == 1)) {
          gold = it->get<int>();
        } else {
          return LineError(
              path, line.number,
              std::string("field 'label': expected true/false, \"true\"/\"false\" or 0/1, "
                          "found ") +
                  it->dump().substr(0, 40));
        }
        Example ex;
        ex.index = static_cast<int>(out.size());
        ex.id = std::to_string(ex.index);
        ex.gold = gold;
        const std::string context = *p + "\nQuestion: " + *q + "?\nAnswer:";
        ex.choices.push_back({context, " no", 2});
        ex.choices.push_back({context, " yes", 3});
        out.push_back(std::move(ex));
        return Status::Ok();
      }));
  return out;
}

}  // namespace

TaskSpec BoolqTask() {
  TaskSpec t{"boolq", TaskKind::kMultipleChoice, false, "boolq", "boolq/val.jsonl", LoadBoolq};
  t.lm_eval_version = 2.0;
  return t;
}

}  // namespace lmul::eval
