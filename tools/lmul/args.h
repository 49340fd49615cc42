// The argument-parsing discipline of every `lmul` subcommand (docs/robustness.md).
//
// Flags are untrusted input. Numbers are parsed whole (no trailing text, no wrap-around,
// no silent fallback to a default), checked against a range the flag documents, and a
// refusal is one line naming the flag, the accepted range and what was given:
//   --count: expected an integer in [1, 100000000], got '-1'
// Parse-time refusals are CLI::ValidationError, which main() turns into exit status 2
// (usage error); runtime errors exit 1; nothing exits >= 128.
//
// Two levels:
//   - pure parsers returning Result<T> (unit-tested in args_test.cc), usable anywhere;
//   - CLI11 glue (AddInt, AddReal, AddOutputPath) that runs them while CLI11 parses.
#ifndef LMUL_TOOLS_LMUL_ARGS_H_
#define LMUL_TOOLS_LMUL_ARGS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <istream>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/result.h"

namespace lmul::cli {

// A decimal integer in [lo, hi]: optional '-' (only when lo < 0), digits, nothing else
// (no '+', spaces, hex, exponent or trailing text). Overflow is an error, never a wrap.
Result<int64_t> ParseInt(std::string_view flag, std::string_view text, int64_t lo, int64_t hi);

// A finite decimal number in [lo, hi] (strtod syntax without hex floats, inf or nan).
Result<double> ParseReal(std::string_view flag, std::string_view text, double lo, double hi);

// "AxBxC": exactly n integers in [lo, hi] separated by `sep` ('x' or '/').
Result<std::vector<int64_t>> ParseDims(std::string_view flag, std::string_view text, char sep,
                                       size_t n, int64_t lo, int64_t hi);

// "I/N" with 0 <= I < N <= max_n.
struct Shard {
  int index = 0;
  int count = 1;
};
Result<Shard> ParseShard(std::string_view flag, std::string_view text, int max_n = 1 << 20);

// The machine's physical memory in bytes (sysconf); 0 when unknown.
uint64_t MachineMemoryBytes();

// Refuses work that needs more than `fraction` of the machine's memory, before allocating:
// "--samples 100000000000: needs ~2.4 TB for <what>, the machine has 24 GB". `bytes` is a
// long double so callers can multiply counts without overflow.
Status CheckMemory(std::string_view flag, std::string_view value, long double bytes,
                   std::string_view what, double fraction = 0.75);

// An output path can be written: "-" (stdout) passes; otherwise the file is opened for
// appending (created when absent and removed again), so a missing directory or a
// read-only location is reported before the work starts.
Status CheckWritable(std::string_view flag, const std::string& path);

// One line of untrusted text input (stdin of `lmul mul`, `lmul run -cnv`) into *line,
// without its '\n' (and a '\r' before it). Returns false at end of input; a line longer
// than max_bytes is an error (named by `what` and the line number), never an unbounded read.
Result<bool> ReadLineBounded(std::istream& in, std::string_view what, long line_no,
                             size_t max_bytes, std::string* line);

// A flag's value refused after parsing (a bad --arith spec, an unknown task, a --shape the
// machine cannot hold): PrintError's one line plus hint, and exit status 2.
int UsageError(const std::string& sub, const std::string& message, const std::string& hint = "");

// The display name of a CLI11 option spec ("-n,--n-tokens" -> "--n-tokens").
std::string FlagName(const std::string& spec);

// --- CLI11 glue: the value is parsed and range-checked while CLI11 parses ---

// An integer option in [lo, hi] stored in *out (any integral type whose range holds
// [lo, hi]); the default shown in --help is *out's value at registration.
template <typename T>
CLI::Option* AddInt(CLI::App* app, const std::string& spec, T* out, int64_t lo, int64_t hi,
                    const std::string& help) {
  static_assert(std::is_integral_v<T>);
  const std::string flag = FlagName(spec);
  return app
      ->add_option_function<std::string>(
          spec,
          [out, flag, lo, hi](const std::string& text) {
            auto v = ParseInt(flag, text, lo, hi);
            if (!v.ok()) throw CLI::ValidationError(v.error());
            *out = static_cast<T>(*v);
          },
          help)
      ->default_str(std::to_string(*out))
      ->type_name("INT");
}

// A real option in [lo, hi] (finite) stored in *out (float or double).
template <typename T>
CLI::Option* AddReal(CLI::App* app, const std::string& spec, T* out, double lo, double hi,
                     const std::string& help) {
  static_assert(std::is_floating_point_v<T>);
  const std::string flag = FlagName(spec);
  return app
      ->add_option_function<std::string>(
          spec,
          [out, flag, lo, hi](const std::string& text) {
            auto v = ParseReal(flag, text, lo, hi);
            if (!v.ok()) throw CLI::ValidationError(v.error());
            *out = static_cast<T>(*v);
          },
          help)
      ->type_name("REAL");
}

// An output file option: checked writable at parse time (CheckWritable).
CLI::Option* AddOutputPath(CLI::App* app, const std::string& spec, std::string* out,
                           const std::string& help);

}  // namespace lmul::cli

#endif  // LMUL_TOOLS_LMUL_ARGS_H_
