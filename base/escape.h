// EscapeUntrusted: makes a string from outside (GGUF metadata, file contents, user text)
// safe to print on a terminal or in a one-line error message.
//
// Valid UTF-8 outside the control ranges is kept as is; C0 controls, DEL and C1 controls
// (U+0080..U+009F) become \n, \r, \t or \xHH / \u00HH; bytes that are not valid UTF-8 become
// \xHH; a backslash becomes \\. Output longer than max_bytes is cut (at a character
// boundary) and ends in "...". An escape sequence (ESC [ ...) therefore cannot reach the
// terminal, and an invisible '\r' at the end of a label shows as "\r".
#ifndef LMUL_BASE_ESCAPE_H_
#define LMUL_BASE_ESCAPE_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace lmul {

// Length of the valid UTF-8 sequence starting at s[i] (1..4), or 0 when invalid
// (bad lead byte, truncated, overlong, surrogate or > U+10FFFF).
inline size_t Utf8SequenceLength(std::string_view s, size_t i, uint32_t* code_point = nullptr) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) {
    if (code_point) *code_point = c;
    return 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b(i + k) & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  if (code_point) *code_point = cp;
  return n;
}

// The byte offset of the first invalid UTF-8 sequence in s, or s.size() when s is valid.
inline size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return s.size();
}

inline std::string EscapeUntrusted(std::string_view s, size_t max_bytes = 256) {
  std::string out;
  char buf[16];
  size_t i = 0;
  while (i < s.size()) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    uint32_t cp = 0;
    const size_t n = Utf8SequenceLength(s, i, &cp);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(s[i]));
      out += buf;
      i += 1;
      continue;
    }
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp));
      out += buf;
    } else if (cp >= 0x80 && cp <= 0x9F) {
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(s.data() + i, n);
    }
    i += n;
  }
  return out;
}

// For text already composed of escaped parts (an error message): keeps newlines and
// backslashes, escapes every other control character and invalid byte as EscapeUntrusted
// does. The CLI passes every error line through it (a last line of defence).
inline std::string SanitizeForTerminal(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\n' || s[i] == '\\') {
      out += s[i++];
      continue;
    }
    const size_t n = Utf8SequenceLength(s, i);
    const size_t len = n == 0 ? 1 : n;
    out += EscapeUntrusted(s.substr(i, len), 16);  // printable: unchanged; else \xHH
    i += len;
  }
  return out;
}

}  // namespace lmul

#endif  // LMUL_BASE_ESCAPE_H_
