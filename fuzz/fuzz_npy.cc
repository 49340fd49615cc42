// The NPY reader of `lmul error --dist activations:FILE.npy` (analysis/precision/npy.h).
#include <cstdint>
#include <string>

#include "analysis/precision/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto pairs = lmul::precision::ParseNpyPairs(bytes, "fuzz.npy");
  if (pairs.ok() && pairs->size() % 2 != 0) __builtin_trap();  // (n, 2) pairs
  return 0;
}
