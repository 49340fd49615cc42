#include "tools/lmul/args.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/escape.h"
#include "tools/lmul/command.h"

namespace lmul::cli {
namespace {

std::string Quote(std::string_view text) { return "'" + EscapeUntrusted(text, 64) + "'"; }

std::string Str(std::string_view s) { return std::string(s); }

std::string Real(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string Bytes(long double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (b >= 1000 && u < 6) b /= 1000, ++u;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3Lg %s", b, units[u]);
  return buf;
}

}  // namespace

Result<int64_t> ParseInt(std::string_view flag, std::string_view text, int64_t lo, int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  auto fail = [&](const std::string& why) {
    return MakeError(Str(flag) + ": expected an integer in " + range + ", got " + Quote(text) +
                     (why.empty() ? "" : " (" + why + ")"));
  };
  size_t i = 0;
  bool neg = false;
  if (i < text.size() && text[i] == '-') neg = true, ++i;
  if (i == text.size()) return fail("");
  uint64_t mag = 0;
  constexpr uint64_t kMax = uint64_t{1} << 63;  // |INT64_MIN|
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return fail("");
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (mag > (kMax - d) / 10) return fail("out of range");
    mag = mag * 10 + d;
  }
  if (neg && lo >= 0 && mag != 0) return fail("negative values are not accepted");
  if (!neg && mag == kMax) return fail("out of range");
  const int64_t v = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  if (v < lo || v > hi) return fail("out of range");
  return v;
}

Result<double> ParseReal(std::string_view flag, std::string_view text, double lo, double hi) {
  const std::string range = "[" + Real(lo) + ", " + Real(hi) + "]";
  auto fail = [&](const std::string& why) {
    return MakeError(Str(flag) + ": expected a number in " + range + ", got " + Quote(text) +
                     (why.empty() ? "" : " (" + why + ")"));
  };
  // Digits, one '.', an optional exponent and a leading sign: nothing strtod would read as
  // hex, inf or nan, and no text after the number.
  const std::string s(text);
  if (s.empty() || s.size() > 64) return fail("");
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) {
      return fail("");
    }
  }
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return fail("");
  if (!std::isfinite(v) || errno == ERANGE) return fail("out of range");
  if (!(v >= lo && v <= hi)) return fail("out of range");
  return v;
}

Result<std::vector<int64_t>> ParseDims(std::string_view flag, std::string_view text, char sep,
                                       size_t n, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  size_t start = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t p = k + 1 < n ? text.find(sep, start) : text.size();
    if (p == std::string_view::npos) break;
    auto v = ParseInt(flag, text.substr(start, p - start), lo, hi);
    if (!v.ok()) {
      return MakeError(Str(flag) + " " + Quote(text) + ": dimension " + std::to_string(k + 1) +
                       ": expected an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    }
    out.push_back(*v);
    start = p + 1;
  }
  if (out.size() != n) {
    std::string form;
    for (size_t k = 0; k < n; ++k) form += (k ? std::string(1, sep) : "") + "N";
    return MakeError(Str(flag) + ": expected " + form + ", got " + Quote(text));
  }
  return out;
}

Result<Shard> ParseShard(std::string_view flag, std::string_view text, int max_n) {
  auto d = ParseDims(flag, text, '/', 2, 0, max_n);
  if (!d.ok() || (*d)[1] < 1 || (*d)[0] >= (*d)[1]) {
    return MakeError(Str(flag) + " " + Quote(text) +
                     ": expected I/N with 0 <= I < N <= " + std::to_string(max_n));
  }
  return Shard{static_cast<int>((*d)[0]), static_cast<int>((*d)[1])};
}

uint64_t MachineMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

Status CheckMemory(std::string_view flag, std::string_view value, long double bytes,
                   std::string_view what, double fraction) {
  const uint64_t mem = MachineMemoryBytes();
  if (mem == 0) return Status::Ok();
  if (bytes > static_cast<long double>(mem) * fraction) {
    return MakeError(Str(flag) + " " + EscapeUntrusted(value, 64) + ": needs ~" + Bytes(bytes) +
                     " for " + Str(what) + ", more than " +
                     std::to_string(static_cast<int>(fraction * 100)) + "% of this machine's " +
                     Bytes(mem));
  }
  return Status::Ok();
}

Result<bool> ReadLineBounded(std::istream& in, std::string_view what, long line_no,
                             size_t max_bytes, std::string* line) {
  line->clear();
  bool any = false;
  for (int c; (c = in.get()) != std::char_traits<char>::eof();) {
    any = true;
    if (c == '\n') break;
    if (line->size() == max_bytes) {
      return MakeError(Str(what) + " line " + std::to_string(line_no) + ": longer than " +
                       std::to_string(max_bytes) + " bytes");
    }
    line->push_back(static_cast<char>(c));
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return any;
}

Status CheckWritable(std::string_view flag, const std::string& path) {
  if (path == "-") return Status::Ok();
  if (path.empty()) return MakeError(Str(flag) + ": empty path");
  struct stat st;
  const bool existed = ::stat(path.c_str(), &st) == 0;
  if (existed && S_ISDIR(st.st_mode)) {
    return MakeError(Str(flag) + " " + Quote(path) + ": is a directory, expected a file path");
  }
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr) {
    return MakeError(Str(flag) + " " + Quote(path) + ": cannot write (" + std::strerror(errno) +
                     "); checked before starting");
  }
  std::fclose(f);
  if (!existed) std::remove(path.c_str());
  return Status::Ok();
}

std::string FlagName(const std::string& spec) {
  std::string best;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t p = spec.find(',', start);
    if (p == std::string::npos) p = spec.size();
    const std::string part = spec.substr(start, p - start);
    if (part.size() > best.size()) best = part;
    start = p + 1;
  }
  return best;
}

int UsageError(const std::string& sub, const std::string& message, const std::string& hint) {
  PrintError(sub, message, hint);
  return 2;
}

CLI::Option* AddOutputPath(CLI::App* app, const std::string& spec, std::string* out,
                           const std::string& help) {
  const std::string flag = FlagName(spec);
  return app
      ->add_option_function<std::string>(
          spec,
          [out, flag](const std::string& path) {
            Status st = CheckWritable(flag, path);
            if (!st.ok()) throw CLI::ValidationError(st.error());
            *out = path;
          },
          help)
      ->type_name("FILE");
}

}  // namespace lmul::cli
