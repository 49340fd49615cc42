// GgufBuilder: writes small GGUF v3 files (tests, synthetic models). The layout is
// the one documented in engine/io/gguf.h. Tensor data are raw bytes of the given
// ggml type; AddTensorF32 is a shortcut for fp32.
#ifndef LMUL_ENGINE_IO_GGUF_BUILDER_H_
#define LMUL_ENGINE_IO_GGUF_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf.h"

namespace lmul::engine {

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3, uint32_t alignment = 32)
      : version_(version), alignment_(alignment) {}

  void AddUint8(const std::string& key, uint8_t v);
  void AddUint32(const std::string& key, uint32_t v);
  void AddInt32(const std::string& key, int32_t v);
  void AddUint64(const std::string& key, uint64_t v);
  void AddFloat32(const std::string& key, float v);
  void AddFloat64(const std::string& key, double v);
  void AddBool(const std::string& key, bool v);
  void AddString(const std::string& key, const std::string& v);
  void AddStringArray(const std::string& key, const std::vector<std::string>& v);
  void AddInt32Array(const std::string& key, const std::vector<int32_t>& v);
  void AddFloat32Array(const std::string& key, const std::vector<float>& v);

  // ne innermost first (GGUF order); data must be the exact byte size of the type.
  void AddTensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                 std::vector<uint8_t> data);
  void AddTensorF32(const std::string& name, const std::vector<int64_t>& ne,
                    const std::vector<float>& values);

  // The file's bytes. general.alignment is written when it is not 32.
  std::vector<uint8_t> Build() const;
  Status WriteFile(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  void AddKey(const std::string& key, GgufValueType type);
  template <typename T>
  void Put(std::vector<uint8_t>* out, T v) const;
  void PutString(std::vector<uint8_t>* out, const std::string& s) const;

  uint32_t version_;
  uint32_t alignment_;
  uint64_t n_kv_ = 0;
  std::vector<uint8_t> kv_;  // serialized key/value pairs
  std::vector<Tensor> tensors_;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_IO_GGUF_BUILDER_H_
