// WinoGrande (partial scoring, as lm-eval winogrande): each option fills the blank of the
// sentence; score log P(continuation | context with option i); acc only.
// Accepted per line (winogrande/winogrande.jsonl):
//   {"context_options": [a, b], "continuation": c, "gold": 0|1}    (lm-eval request form)
//   {"sentence": "... _ ...", "option1": a, "option2": b, "answer": "1"|"2"}  (original)
// For the original form: context_i = sentence[:blank] + option_i,
// continuation = " " + sentence[blank+1:].strip() (lm-eval's partial target).
#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

std::string Strip(std::string_view s) {
  const char* ws = " \t\n\r\f\v";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string_view::npos) return "";
  const size_t b = s.find_last_not_of(ws);
  return std::string(s.substr(a, b - a + 1));
}

Result<std::vector<Example>> LoadWinogrande(const std::string& dir) {
  const std::string path = dir + "/winogrande.jsonl";
  using VT = nlohmann::json::value_t;
  std::vector<Example> out;
  LMUL_RETURN_IF_ERROR(
      ForEachJsonObject(path, [&](const Line& line, const nlohmann::json& j) -> Status {
        Example ex;
        ex.index = static_cast<int>(out.size());
        ex.id = std::to_string(ex.index);
        if (j.contains("context_options")) {
          auto opts = GetField(path, line.number, j, "context_options", VT::array);
          if (!opts.ok()) return std::move(opts).TakeError();
          auto cont = GetStringField(path, line.number, j, "continuation");
          if (!cont.ok()) return std::move(cont).TakeError();
          auto gold = GetField(path, line.number, j, "gold", VT::number_integer);
          if (!gold.ok()) return std::move(gold).TakeError();
          if ((*opts)->size() != 2) {
            return LineError(path, line.number, "field 'context_options': expected 2 strings");
          }
          for (const auto& o : **opts) {
            if (!o.is_string()) {
              return LineError(path, line.number, "field 'context_options': expected 2 strings");
            }
            ex.choices.push_back({o.get<std::string>(), *cont, Utf8Length(*cont)});
          }
          const int64_t g = (*gold)->get<int64_t>();
          if (g != 0 && g != 1)
            return LineError(path, line.number, "field 'gold': expected 0 or 1");
          ex.gold = static_cast<int>(g);
        } else {
          auto s = GetStringField(path, line.number, j, "sentence");
          if (!s.ok()) return std::move(s).TakeError();
          auto o1 = GetStringField(path, line.number, j, "option1");
          if (!o1.ok()) return std::move(o1).TakeError();
          auto o2 = GetStringField(path, line.number, j, "option2");
          if (!o2.ok()) return std::move(o2).TakeError();
          auto a = GetStringField(path, line.number, j, "answer");
          if (!a.ok()) return std::move(a).TakeError();
          const size_t blank = s->find('_');
          if (blank == std::string::npos) {
            return LineError(path, line.number, "field 'sentence': expected a '_' blank");
          }
          if (*a != "1" && *a != "2") {
            return LineError(path, line.number, "field 'answer': expected \"1\" or \"2\"");
          }
          std::string cont(1, ' ');
          cont += Strip(std::string_view(*s).substr(blank + 1));
          for (const std::string* o : {&*o1, &*o2}) {
            ex.choices.push_back({s->substr(0, blank) + *o, cont, Utf8Length(cont)});
          }
          ex.gold = (*a)[0] - '1';
        }
        out.push_back(std::move(ex));
        return Status::Ok();
      }));
  return out;
}

}  // namespace

TaskSpec WinograndeTask() {
  return {"winogrande", TaskKind::kMultipleChoice,     false,
          "winogrande", "winogrande/winogrande.jsonl", LoadWinogrande};
}

}  // namespace lmul::eval
