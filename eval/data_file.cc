#include "eval/data_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lmul::eval {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return MakeError(path + ": read error");
  return ss.str();
}

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  size_t start = 0;
  int number = 1;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back({number++, text.substr(start, end - start)});
    start = end + 1;
  }
  return lines;
}

Error LineError(const std::string& path, int line, const std::string& message) {
  return MakeError(path + ":" + std::to_string(line) + ": " + message);
}

const char* JsonTypeName(const nlohmann::json& v) { return v.type_name(); }

Result<nlohmann::json> ParseJsonObject(const std::string& path, const Line& line) {
  nlohmann::json j = nlohmann::json::parse(line.text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return LineError(path, line.number, "expected a JSON object, found invalid JSON");
  if (!j.is_object()) {
    return LineError(path, line.number,
                     std::string("expected a JSON object, found ") + JsonTypeName(j));
  }
  return j;
}

Result<const nlohmann::json*> GetField(const std::string& path, int line, const nlohmann::json& obj,
                                       const std::string& field, nlohmann::json::value_t type) {
  auto it = obj.find(field);
  if (it == obj.end()) return LineError(path, line, "missing field '" + field + "'");
  const bool ok = it->type() == type ||
                  (type == nlohmann::json::value_t::number_integer && it->is_number_unsigned());
  if (!ok) {
    nlohmann::json want(type);
    return LineError(
        path, line,
        "field '" + field + "': expected " + want.type_name() + ", found " + JsonTypeName(*it));
  }
  return &*it;
}

Status ForEachJsonObject(const std::string& path,
                         const std::function<Status(const Line&, const nlohmann::json&)>& fn) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::move(text).TakeError();
  for (const Line& line : SplitLines(*text)) {
    if (line.text.empty()) continue;  // blank lines only (a trailing newline)
    auto j = ParseJsonObject(path, line);
    if (!j.ok()) return std::move(j).TakeError();
    LMUL_RETURN_IF_ERROR(fn(line, *j));
  }
  return Status::Ok();
}

Result<std::string> GetStringField(const std::string& path, int line, const nlohmann::json& obj,
                                   const std::string& field) {
  auto f = GetField(path, line, obj, field, nlohmann::json::value_t::string);
  if (!f.ok()) return std::move(f).TakeError();
  return (*f)->get<std::string>();
}

int64_t Utf8Length(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) ++n;  // not a continuation byte
  }
  return n;
}

}  // namespace lmul::eval
