// lmul mul --arith SPEC: multiply pairs read from stdin with one arithmetic.
//
// Input: one pair per line, two whitespace-separated tokens, each a decimal
// float or an fp32 bit pattern 0xHHHHHHHH. Empty lines and lines starting
// with '#' are skipped. Output: one line per pair,
//   0xHHHHHHHH <decimal value>
// the first token being the result's fp32 bit pattern (8 uppercase hex digits).
#include <cerrno>
#include <cinttypes>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "base/escape.h"
#include "numeric/arith.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

// Parses "0xHHHHHHHH" (exactly 8 hex digits: a bit pattern) or a decimal float (digits,
// '.', exponent, sign; or inf / infinity / nan with an optional sign). Returns nullopt on
// anything else: hex floats ("+0x1p3"), short patterns ("0x3FC0000"), NUL bytes.
std::optional<float> ParseOperand(const std::string& tok) {
  if (tok.find('\0') != std::string::npos) return std::nullopt;
  if (tok.size() > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) {
    if (tok.size() != 10) return std::nullopt;
    uint32_t bits = 0;
    for (size_t i = 2; i < tok.size(); ++i) {
      const char c = tok[i];
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return std::nullopt;
      bits = bits << 4 | static_cast<uint32_t>(d);
    }
    return lmul::BitsFloat(bits);
  }
  std::string word;
  for (char c : tok) word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!word.empty() && (word[0] == '+' || word[0] == '-')) word.erase(0, 1);
  const bool special = word == "inf" || word == "infinity" || word == "nan";
  for (char c : tok) {
    const bool numeric = (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
                         c == '+' || c == '-';
    if (!numeric && !special) return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(tok.c_str(), &end);
  if (end == tok.c_str() || *end != '\0') return std::nullopt;
  return v;  // ERANGE: strtof already returned +-HUGE_VALF or the rounded tiny value
}

int RunMul(const std::string& spec) {
  auto arith = lmul::Arith::Parse(spec);
  if (!arith.ok()) {
    return lmul::cli::UsageError("mul", arith.error(), "e.g. lmul mul --arith lmul/bf16");
  }
  std::string line;
  long line_no = 0;
  char out[64];
  while (true) {
    ++line_no;
    // A pair of operands fits in far less; a longer line is not one (and is not buffered).
    auto more = lmul::cli::ReadLineBounded(std::cin, "stdin", line_no, 4096, &line);
    if (!more.ok()) {
      return lmul::cli::PrintError("mul", more.error(), "each line is 'X Y' (two operands)");
    }
    if (!*more) break;
    std::istringstream in(line);
    std::string a_tok, b_tok, extra;
    if (!(in >> a_tok)) continue;  // blank line
    if (a_tok[0] == '#') continue;
    if (!(in >> b_tok) || (in >> extra)) {
      return lmul::cli::PrintError(
          "mul",
          "stdin line " + std::to_string(line_no) + ": expected two operands, got '" +
              lmul::EscapeUntrusted(line, 80) + "'",
          "each line is 'X Y' with X, Y decimal floats or 0xHHHHHHHH fp32 bit patterns");
    }
    auto a = ParseOperand(a_tok);
    auto b = ParseOperand(b_tok);
    if (!a || !b) {
      return lmul::cli::PrintError(
          "mul",
          "stdin line " + std::to_string(line_no) + ": cannot parse operand '" +
              lmul::EscapeUntrusted(a ? b_tok : a_tok, 80) + "'",
          "operands are decimal floats (1.5, -2e-3, inf, nan) or fp32 bit patterns (0x3FC00000)");
    }
    const float y = arith->Mul(*a, *b);
    std::snprintf(out, sizeof out, "0x%08" PRIX32 " %.9g\n", lmul::FloatBits(y),
                  static_cast<double>(y));
    std::fputs(out, stdout);
  }
  return 0;
}

lmul::cli::Registrar reg("mul", "Multiply pairs of numbers from stdin with one arithmetic",
                         [](CLI::App* app) {
                           auto spec = std::make_shared<std::string>();
                           app->add_option("--arith", *spec, lmul::Arith::Help())->required();
                           app->footer(
                               "stdin: one pair per line, decimal or 0xHHHHHHHH; stdout: "
                               "0xHHHHHHHH <decimal> per pair");
                           return [spec] { return RunMul(*spec); };
                         });

}  // namespace
