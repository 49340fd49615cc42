// HellaSwag validation in llama.cpp's 6-lines-per-item text form:
//   "<activity_label>: <ctx>", gold index 0..3, ending 0..3 (already preprocessed).
// lm-eval hellaswag: context = the query, continuations " {ending}"; acc, acc_norm.
// Differences from lm-eval (see the data's PROVENANCE.md): ctx_b is not capitalised and
// only the [header]/[step]/[substeps]/[title] tags were removed by the extractor.
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

Result<std::vector<Example>> LoadHellaSwag(const std::string& dir) {
  const std::string path = dir + "/hellaswag_val_full.txt";
  auto text = ReadFile(path);
  if (!text.ok()) return std::move(text).TakeError();
  std::vector<Line> lines = SplitLines(*text);
  if (lines.size() % 6 != 0) {
    return MakeError(path + ": " + std::to_string(lines.size()) +
                     " lines (expected 6 per item: context, gold index, 4 endings)");
  }
  std::vector<Example> out;
  for (size_t i = 0; i < lines.size(); i += 6) {
    Example ex;
    ex.index = static_cast<int>(i / 6);
    ex.id = std::to_string(ex.index);
    const std::string context(lines[i].text);
    if (context.empty())
      return LineError(path, lines[i].number, "expected a context, found an empty line");
    const std::string_view g = lines[i + 1].text;
    if (g.size() != 1 || g[0] < '0' || g[0] > '3') {
      return LineError(
          path, lines[i + 1].number,
          "expected the gold index 0..3, found '" + std::string(g.substr(0, 20)) + "'");
    }
    ex.gold = g[0] - '0';
    for (int k = 0; k < 4; ++k) {
      const std::string ending(lines[i + 2 + k].text);
      if (ending.empty()) {
        return LineError(path, lines[i + 2 + k].number, "expected an ending, found an empty line");
      }
      ex.choices.push_back({context, " " + ending, Utf8Length(ending)});
    }
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace

TaskSpec HellaSwagTask() {
  return {"hellaswag",
          TaskKind::kMultipleChoice,
          true,
          "hellaswag",
          "hellaswag/hellaswag_val_full.txt (llama.cpp 6-line form)",
          LoadHellaSwag};
}

}  // namespace lmul::eval
