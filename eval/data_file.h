// Hostile-input helpers for dataset loaders: whole-file reading, line splitting with
// 1-based line numbers, JSON lines parsed with nlohmann::json (no exceptions escape),
// typed field access whose errors read "file:line: field 'x': expected string, found number".
#ifndef LMUL_EVAL_DATA_FILE_H_
#define LMUL_EVAL_DATA_FILE_H_

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace lmul::eval {

// A dataset text file: at most kMaxDataFileBytes, valid UTF-8 without NUL bytes (else the
// error names the byte offset and line: random bytes are refused, not evaluated).
inline constexpr uint64_t kMaxDataFileBytes = uint64_t{1} << 31;
Result<std::string> ReadFile(const std::string& path);
// The UTF-8 / NUL check of ReadFile on text already in memory.
Status CheckText(const std::string& path, std::string_view text);

struct Line {
  int number;  // 1-based
  std::string_view text;
};
// Lines without their "\n" or "\r\n" (CRLF files read as LF ones, as Python's universal
// newlines do).
// A final line without "\n" counts; an empty file has no lines.
std::vector<Line> SplitLines(std::string_view text);

// "path:line: message"
Error LineError(const std::string& path, int line, const std::string& message);

// Parses one JSONL line as an object.
Result<nlohmann::json> ParseJsonObject(const std::string& path, const Line& line);
// Reads a JSONL file and calls fn(line, object) for every non-blank line in order; the
// first error (unreadable file, a line that is not a JSON object, or fn's) stops the walk.
Status ForEachJsonObject(const std::string& path,
                         const std::function<Status(const Line&, const nlohmann::json&)>& fn);
// Field accessors: a missing field or a wrong type is an error naming file, line, field.
Result<std::string> GetStringField(const std::string& path, int line, const nlohmann::json& obj,
                                   const std::string& field);
Result<const nlohmann::json*> GetField(const std::string& path, int line, const nlohmann::json& obj,
                                       const std::string& field, nlohmann::json::value_t type);
const char* JsonTypeName(const nlohmann::json& v);

// Number of Unicode code points of UTF-8 text (Python's len(str)); invalid bytes count 1.
int64_t Utf8Length(std::string_view s);

}  // namespace lmul::eval

#endif  // LMUL_EVAL_DATA_FILE_H_
