// ARC-Easy / ARC-Challenge (AI2 JSONL). lm-eval arc_easy/arc_challenge:
// context "Question: {stem}\nAnswer:", continuations " {choice text}"; acc, acc_norm.
// Few-shot (--num_fewshot) from the train split (lm-eval's training_split), each shot
// "Question: {stem}\nAnswer: {gold choice text}".
// The gold index is the position of answerKey among the labels (A-E or 1-4).
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

Result<std::vector<Example>> LoadArc(const std::string& path) {
  std::vector<Example> out;
  using VT = nlohmann::json::value_t;
  LMUL_RETURN_IF_ERROR(
      ForEachJsonObject(path, [&](const Line& line, const nlohmann::json& j) -> Status {
        auto id = GetStringField(path, line.number, j, "id");
        if (!id.ok()) return std::move(id).TakeError();
        auto q = GetField(path, line.number, j, "question", VT::object);
        if (!q.ok()) return std::move(q).TakeError();
        auto stem = GetStringField(path, line.number, **q, "stem");
        if (!stem.ok()) return std::move(stem).TakeError();
        auto choices = GetField(path, line.number, **q, "choices", VT::array);
        if (!choices.ok()) return std::move(choices).TakeError();
        auto key = GetStringField(path, line.number, j, "answerKey");
        if (!key.ok()) return std::move(key).TakeError();
        Example ex;
        ex.index = static_cast<int>(out.size());
        ex.id = *id;
        const std::string context = "Question: " + *stem + "\nAnswer:";
        std::string labels;
        for (const auto& c : **choices) {
          if (!c.is_object()) {
            return LineError(path, line.number, "question.choices: expected objects");
          }
          auto t = GetStringField(path, line.number, c, "text");
          if (!t.ok()) return std::move(t).TakeError();
          auto l = GetStringField(path, line.number, c, "label");
          if (!l.ok()) return std::move(l).TakeError();
          if (*l == *key) ex.gold = static_cast<int>(ex.choices.size());
          labels += (labels.empty() ? "" : ",") + *l;
          ex.choices.push_back({context, " " + *t, Utf8Length(*t)});
        }
        if (ex.choices.size() < 2) {
          return LineError(path, line.number, "question.choices: expected at least 2 choices");
        }
        if (ex.gold < 0) {
          return LineError(path, line.number,
                           "answerKey '" + *key + "' is not one of the labels [" + labels + "]");
        }
        ex.shot_text = context + ex.choices[ex.gold].continuation;
        out.push_back(std::move(ex));
        return Status::Ok();
      }));
  return out;
}

}  // namespace

TaskSpec ArcEasyTask() {
  TaskSpec t{"arc_easy",
             TaskKind::kMultipleChoice,
             true,
             "arc-easy",
             "arc-easy/ARC-Easy-Test.jsonl (AI2 JSONL)",
             [](const std::string& dir) { return LoadArc(dir + "/ARC-Easy-Test.jsonl"); }};
  t.load_fewshot = [](const std::string& dir) { return LoadArc(dir + "/ARC-Easy-Train.jsonl"); };
  t.fewshot_files = "arc-easy/ARC-Easy-Train.jsonl";
  return t;
}

TaskSpec ArcChallengeTask() {
  TaskSpec t{"arc_challenge",
             TaskKind::kMultipleChoice,
             true,
             "arc-challenge",
             "arc-challenge/ARC-Challenge-Test.jsonl (AI2 JSONL)",
             [](const std::string& dir) { return LoadArc(dir + "/ARC-Challenge-Test.jsonl"); }};
  t.load_fewshot = [](const std::string& dir) {
    return LoadArc(dir + "/ARC-Challenge-Train.jsonl");
  };
  t.fewshot_files = "arc-challenge/ARC-Challenge-Train.jsonl";
  return t;
}

}  // namespace lmul::eval
