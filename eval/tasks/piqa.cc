// PIQA validation: valid.jsonl {"goal","sol1","sol2"} + valid-labels.lst (0/1 per line).
// lm-eval piqa: context "Question: {goal}\nAnswer:", continuations " {sol1}", " {sol2}".
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

Result<std::vector<Example>> LoadPiqa(const std::string& dir) {
  const std::string qpath = dir + "/valid.jsonl", lpath = dir + "/valid-labels.lst";
  auto qtext = ReadFile(qpath);
  if (!qtext.ok()) return std::move(qtext).TakeError();
  auto ltext = ReadFile(lpath);
  if (!ltext.ok()) return std::move(ltext).TakeError();
  const std::vector<Line> qlines = SplitLines(*qtext), llines = SplitLines(*ltext);
  if (qlines.size() != llines.size()) {
    return MakeError(lpath + ": " + std::to_string(llines.size()) + " labels for " +
                     std::to_string(qlines.size()) + " lines of " + qpath +
                     " (expected one label per line)");
  }
  std::vector<Example> out;
  for (size_t i = 0; i < qlines.size(); ++i) {
    auto j = ParseJsonObject(qpath, qlines[i]);
    if (!j.ok()) return std::move(j).TakeError();
    auto goal = GetStringField(qpath, qlines[i].number, *j, "goal");
    if (!goal.ok()) return std::move(goal).TakeError();
    auto s1 = GetStringField(qpath, qlines[i].number, *j, "sol1");
    if (!s1.ok()) return std::move(s1).TakeError();
    auto s2 = GetStringField(qpath, qlines[i].number, *j, "sol2");
    if (!s2.ok()) return std::move(s2).TakeError();
    const std::string_view l = llines[i].text;
    if (l != "0" && l != "1") {
      return LineError(lpath, llines[i].number,
                       "expected a label 0 or 1, found '" + std::string(l.substr(0, 20)) + "'");
    }
    Example ex;
    ex.index = static_cast<int>(i);
    ex.id = std::to_string(i);
    ex.gold = l[0] - '0';
    const std::string context = "Question: " + *goal + "\nAnswer:";
    ex.choices.push_back({context, " " + *s1, Utf8Length(*s1)});
    ex.choices.push_back({context, " " + *s2, Utf8Length(*s2)});
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace

TaskSpec PiqaTask() {
  return {
      "piqa",  TaskKind::kMultipleChoice, true, "piqa", "piqa/valid.jsonl + piqa/valid-labels.lst",
      LoadPiqa};
}

}  // namespace lmul::eval
