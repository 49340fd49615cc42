// Helpers shared by the libFuzzer targets (fuzz/*.cc, docs/robustness.md).
#ifndef LMUL_FUZZ_FUZZ_UTIL_H_
#define LMUL_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace lmul::fuzz {

// A per-process scratch folder ($TMPDIR or /tmp), created once; the loaders under test
// take paths, so each input is written to a file there.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string d = std::string(t && *t ? t : "/tmp") + "/lmul_fuzz_" + std::to_string(getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}

inline void WriteBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace lmul::fuzz

#endif  // LMUL_FUZZ_FUZZ_UTIL_H_
