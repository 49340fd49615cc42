// GgufFile: a memory-mapped GGUF (v2/v3) reader that treats the file as hostile.
//
// File layout (little endian; llama.cpp ggml/include/gguf.h, docs/gguf.md):
//   1. magic "GGUF" (4 bytes)
//   2. version (uint32; 2 or 3 are accepted; 1 used 32-bit counts and is rejected)
//   3. n_tensors (uint64)            4. n_kv (uint64)
//   5. n_kv key/value pairs: key (gguf string), value type (uint32), value
//        gguf string = length (uint64) + that many bytes (no terminator)
//        array value = element type (uint32) + count (uint64) + elements (no nested arrays)
//   6. n_tensors tensor infos: name (gguf string), n_dims (uint32, <= 4),
//        ne[n_dims] (int64 each; ne[0] is the innermost, contiguous dimension),
//        ggml type (uint32), offset (uint64, relative to the data section, aligned)
//   7. padding to `general.alignment` (uint32 power of two, default 32)
//   8. the data section: tensor data at their offsets
//
// Every count, string length, offset, alignment and tensor extent is checked
// against the bytes left with overflow-safe arithmetic before it is used; an
// error names the file, the field and what was expected. Duplicate keys and
// tensor names are rejected.
//
// Shapes: GGUF lists dimensions innermost first (ne[]); GgufTensor::shape()
// returns them outermost first, the convention of the rest of lmul. A 2-D
// weight with ne = {d_in, d_out} is the row-major matrix (d_out, d_in).
#ifndef LMUL_ENGINE_IO_GGUF_H_
#define LMUL_ENGINE_IO_GGUF_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "engine/io/mapped_file.h"

namespace lmul::engine {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* GgufValueTypeName(GgufValueType t);

// ggml tensor types (numbering of ggml.h). Only some are dequantized
// (engine/io/dequant.h); the others are still sized so extents can be checked.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
};

struct GgmlTypeInfo {
  const char* name;
  int block_size;  // elements per block
  int type_size;   // bytes per block
};
// Null for a type number lmul does not know.
const GgmlTypeInfo* GetGgmlTypeInfo(uint32_t type);
const char* GgmlTypeName(GgmlType t);

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne;  // innermost first (GGUF order); 1..4 entries, each >= 1
  uint64_t offset = 0;      // absolute file offset of the data
  uint64_t n_bytes = 0;
  int64_t n_elements = 0;
  std::span<const uint8_t> data;  // [offset, offset + n_bytes) of the mapped file

  std::vector<int64_t> shape() const { return {ne.rbegin(), ne.rend()}; }  // outermost first
  int64_t row_length() const { return ne[0]; }
  int64_t n_rows() const { return n_elements / ne[0]; }
  size_t row_bytes() const;         // bytes of one row of ne[0] elements
  std::string ShapeString() const;  // "(49152, 576)", outermost first
};

class GgufFile {
 public:
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata. Errors: key missing, or of another type ("expected string, found uint32").
  bool Has(std::string_view key) const;
  std::vector<std::string> Keys() const;  // file order
  Result<GgufValueType> Type(std::string_view key) const;
  Result<std::string> GetString(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;   // any integer type (uint64 <= INT64_MAX)
  Result<double> GetFloat(std::string_view key) const;  // f32 / f64
  Result<bool> GetBool(std::string_view key) const;
  Result<std::vector<std::string>> GetStringArray(std::string_view key) const;
  Result<std::vector<int64_t>> GetIntArray(std::string_view key) const;   // any integer elements
  Result<std::vector<double>> GetFloatArray(std::string_view key) const;  // f32 / f64 elements
  // Number of elements of an array value.
  Result<uint64_t> ArraySize(std::string_view key) const;

  // Tensors, in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // Null when absent.
  const GgufTensor* FindTensor(std::string_view name) const;
  // Error naming the file and tensor when absent.
  Result<const GgufTensor*> GetTensor(std::string_view name) const;
  // Drops the resident pages of a tensor's data (MappedFile::ReleasePages); reading it
  // later maps them again.
  void ReleasePages(const GgufTensor& t) const { file_->ReleasePages(t.data); }

 private:
  struct Value {
    GgufValueType type;
    GgufValueType elem_type;  // arrays only
    uint64_t count;           // arrays only
    size_t offset;            // of the value payload (array: of its first element)
  };
  GgufFile() = default;
  Status Parse();
  Result<const Value*> Find(std::string_view key, const char* expected) const;
  std::string TypeError(std::string_view key, const char* expected, const Value& v) const;

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::map<std::string, Value, std::less<>> values_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_IO_GGUF_H_
