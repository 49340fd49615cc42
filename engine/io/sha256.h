// SHA-256 (FIPS 180-4), for checking dequantized tensors against goldens made
// with Python's hashlib. Small and slow-ish (~200 MB/s); not for hot paths.
#ifndef LMUL_ENGINE_IO_SHA256_H_
#define LMUL_ENGINE_IO_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace lmul::engine {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t n);
  std::string HexDigest();  // finalizes

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_IO_SHA256_H_
