// The JSON text helpers of the bench harnesses (`lmul bench gemm|elementwise`,
// bench/kernel_bench.cc; `lmul bench decode`, bench/decode_bench.cc): their records are
// written with fixed number formats, so the JSON is built as text from these two.
#ifndef LMUL_BENCH_JSON_TEXT_H_
#define LMUL_BENCH_JSON_TEXT_H_

#include <cstdio>
#include <string>

namespace lmul::bench {

// v printed with a printf format of one double ("%.3f").
inline std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// s as a JSON string literal: quotes, backslashes and control characters escaped.
inline std::string JsonString(const std::string& s) {
  std::string r = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      r += '\\';
      r += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(ch));
      r += buf;
    } else {
      r += ch;
    }
  }
  return r + "\"";
}

}  // namespace lmul::bench

#endif  // LMUL_BENCH_JSON_TEXT_H_
