#include "eval/data_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/escape.h"

namespace lmul::eval {

Result<std::string> ReadFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return MakeError(path + ": cannot open (" + std::strerror(errno) + ")");
  }
  if (!S_ISREG(st.st_mode)) return MakeError(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxDataFileBytes) {
    return MakeError(path + ": " + std::to_string(st.st_size) + " bytes, more than the " +
                     std::to_string(kMaxDataFileBytes) + " a dataset file may have");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return MakeError(path + ": read error");
  std::string text = ss.str();
  LMUL_RETURN_IF_ERROR(CheckText(path, text));
  return text;
}

Status CheckText(const std::string& path, std::string_view text) {
  const size_t bad = FirstInvalidUtf8(text);
  const size_t nul = text.find('\0');
  const size_t at = std::min(bad, nul);
  if (at == text.size()) return Status::Ok();
  int64_t line = 1;
  for (size_t i = 0; i < at; ++i) line += text[i] == '\n';
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[at]));
  return MakeError(path + ": byte offset " + std::to_string(at) + " (line " +
                   std::to_string(line) + "): " +
                   (at == nul ? std::string("NUL byte: a binary file, expected UTF-8 text")
                              : std::string("invalid UTF-8 (byte ") + byte +
                                    "); expected UTF-8 text (is this the right file?)"));
}

std::vector<Line> SplitLines(std::string_view text) {
  std::vector<Line> lines;
  size_t start = 0;
  int number = 1;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    size_t stop = end;
    if (stop > start && text[stop - 1] == '\r') --stop;  // CRLF: as Python's universal newlines
    lines.push_back({number++, text.substr(start, stop - start)});
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
