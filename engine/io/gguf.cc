#include "engine/io/gguf.h"

#include <cstring>
#include <limits>
#include <set>

#include "base/escape.h"

namespace lmul::engine {
namespace {

// GGML_MAX_DIMS of ggml.
constexpr uint32_t kMaxDims = 4;

// Table from PyPI gguf 0.19.0 (gguf.GGML_QUANT_SIZES), which mirrors ggml.c's type_traits.
struct TypeRow {
  uint32_t id;
  GgmlTypeInfo info;
};
constexpr TypeRow kTypes[] = {
    {0, {"F32", 1, 4}},         {1, {"F16", 1, 2}},         {2, {"Q4_0", 32, 18}},
    {3, {"Q4_1", 32, 20}},      {6, {"Q5_0", 32, 22}},      {7, {"Q5_1", 32, 24}},
    {8, {"Q8_0", 32, 34}},      {9, {"Q8_1", 32, 40}},      {10, {"Q2_K", 256, 84}},
    {11, {"Q3_K", 256, 110}},   {12, {"Q4_K", 256, 144}},   {13, {"Q5_K", 256, 176}},
    {14, {"Q6_K", 256, 210}},   {15, {"Q8_K", 256, 292}},   {16, {"IQ2_XXS", 256, 66}},
    {17, {"IQ2_XS", 256, 74}},  {18, {"IQ3_XXS", 256, 98}}, {19, {"IQ1_S", 256, 50}},
    {20, {"IQ4_NL", 32, 18}},   {21, {"IQ3_S", 256, 110}},  {22, {"IQ2_S", 256, 82}},
    {23, {"IQ4_XS", 256, 136}}, {24, {"I8", 1, 1}},         {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},        {27, {"I64", 1, 8}},        {28, {"F64", 1, 8}},
    {29, {"IQ1_M", 256, 56}},   {30, {"BF16", 1, 2}},       {34, {"TQ1_0", 256, 54}},
    {35, {"TQ2_0", 256, 66}},
};

// Size in bytes of one scalar value; 0 for string/array.
size_t ScalarSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    default:
      return 0;
  }
}

bool IsValidValueType(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kFloat64); }

bool IsIntType(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Reads an integer scalar of type t at p; `*overflow` when a uint64 exceeds INT64_MAX.
int64_t LoadInt(GgufValueType t, const uint8_t* p, bool* overflow) {
  *overflow = false;
  switch (t) {
    case GgufValueType::kUint8:
      return Load<uint8_t>(p);
    case GgufValueType::kInt8:
      return Load<int8_t>(p);
    case GgufValueType::kUint16:
      return Load<uint16_t>(p);
    case GgufValueType::kInt16:
      return Load<int16_t>(p);
    case GgufValueType::kUint32:
      return Load<uint32_t>(p);
    case GgufValueType::kInt32:
      return Load<int32_t>(p);
    case GgufValueType::kInt64:
      return Load<int64_t>(p);
    case GgufValueType::kUint64: {
      const uint64_t u = Load<uint64_t>(p);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        *overflow = true;
        return 0;
      }
      return static_cast<int64_t>(u);
    }
    default:
      *overflow = true;
      return 0;
  }
}

// Bounds-checked cursor over the mapped bytes; every error names file, field, offset.
class Cursor {
 public:
  Cursor(const std::string& path, std::span<const uint8_t> bytes) : path_(path), bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  const uint8_t* at(size_t off) const { return bytes_.data() + off; }

  Error Fail(const std::string& field, const std::string& expected) const {
    return MakeError(path_ + ": " + field + " at offset " + std::to_string(pos_) + ": " + expected);
  }

  template <typename T>
  Status Read(const std::string& field, T* out) {
    if (remaining() < sizeof(T)) {
      return Fail(field, "expected " + std::to_string(sizeof(T)) + " bytes, file ends after " +
                             std::to_string(remaining()));
    }
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status Skip(const std::string& field, uint64_t n) {
    if (n > remaining()) {
      return Fail(field, "expected " + std::to_string(n) + " bytes, file ends after " +
                             std::to_string(remaining()));
    }
    pos_ += static_cast<size_t>(n);
    return Status::Ok();
  }

  // A gguf string: uint64 length + bytes. Returns a view into the mapping.
  Status ReadString(const std::string& field, std::string_view* out) {
    uint64_t len = 0;
    LMUL_RETURN_IF_ERROR(Read(field + " (string length)", &len));
    if (len > remaining()) {
      return Fail(field, "string length " + std::to_string(len) + " exceeds the " +
                             std::to_string(remaining()) + " bytes left in the file");
    }
    *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += static_cast<size_t>(len);
    return Status::Ok();
  }

 private:
  const std::string& path_;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Multiplies non-negative a*b; false on overflow of int64.
bool MulOverflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

const char* GgufValueTypeName(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

const GgmlTypeInfo* GetGgmlTypeInfo(uint32_t type) {
  for (const TypeRow& r : kTypes) {
    if (r.id == type) return &r.info;
  }
  return nullptr;
}

const char* GgmlTypeName(GgmlType t) {
  const GgmlTypeInfo* info = GetGgmlTypeInfo(static_cast<uint32_t>(t));
  return info ? info->name : "unknown";
}

size_t GgufTensor::row_bytes() const {
  const GgmlTypeInfo* info = GetGgmlTypeInfo(static_cast<uint32_t>(type));
  return static_cast<size_t>(ne[0] / info->block_size) * info->type_size;
}

std::string GgufTensor::ShapeString() const {
  std::string s = "(";
  for (size_t i = ne.size(); i-- > 0;) {
    s += std::to_string(ne[i]);
    if (i > 0) s += ", ";
  }
  return s + ")";
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  auto mapped = MappedFile::Open(path);
  if (!mapped.ok()) return std::move(mapped).TakeError();
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->file_ = std::move(mapped).value();
  Status st = f->Parse();
  if (!st.ok()) return MakeError(st.error());
  return f;
}

Status GgufFile::Parse() {
  const std::string& p = file_->path();
  Cursor c(p, file_->bytes());

  // Header.
  char magic[4];
  if (c.remaining() < 4) {
    return MakeError(p + ": magic: expected \"GGUF\", file has only " +
                     std::to_string(c.remaining()) + " bytes");
  }
  LMUL_RETURN_IF_ERROR(c.Read("magic", &magic));
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    return MakeError(p + ": magic: expected \"GGUF\" (not a GGUF file)");
  }
  LMUL_RETURN_IF_ERROR(c.Read("version", &version_));
  if (version_ == 1) return MakeError(p + ": version: GGUF v1 is not supported (expected 2 or 3)");
  if (version_ != 2 && version_ != 3) {
    std::string msg = p + ": version: expected 2 or 3, found " + std::to_string(version_);
    if ((version_ & 0xFFFF) == 0) msg += " (a big-endian file? only little endian is supported)";
    return MakeError(msg);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  LMUL_RETURN_IF_ERROR(c.Read("tensor count", &n_tensors));
  LMUL_RETURN_IF_ERROR(c.Read("metadata kv count", &n_kv));
  // Each kv needs >= 12 bytes (key length + type) and each tensor info >= 24 bytes
  // (name length, n_dims, type, offset): reject counts the file cannot hold before allocating.
  if (n_kv > c.remaining() / 12) {
    return c.Fail("metadata kv count", std::to_string(n_kv) + " pairs cannot fit in the " +
                                           std::to_string(c.remaining()) + " bytes left");
  }
  if (n_tensors > c.remaining() / 24) {
    return c.Fail("tensor count", std::to_string(n_tensors) + " tensors cannot fit in the " +
                                      std::to_string(c.remaining()) + " bytes left");
  }

  // Key/value pairs.
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string field = "metadata kv #" + std::to_string(i);
    std::string_view key;
    LMUL_RETURN_IF_ERROR(c.ReadString(field + " key", &key));
    if (key.empty()) return c.Fail(field + " key", "expected a non-empty key");
    const std::string kfield = "metadata '" + EscapeUntrusted(key, 80) + "'";
    if (values_.count(key) != 0) return c.Fail(kfield, "duplicate key");
    uint32_t type = 0;
    LMUL_RETURN_IF_ERROR(c.Read(kfield + " type", &type));
    if (!IsValidValueType(type)) {
      return c.Fail(kfield + " type", "expected a value type 0..12, found " + std::to_string(type));
    }
    Value v{static_cast<GgufValueType>(type), GgufValueType::kUint8, 0, c.pos()};
    if (v.type == GgufValueType::kString) {
      std::string_view s;
      LMUL_RETURN_IF_ERROR(c.ReadString(kfield, &s));
    } else if (v.type == GgufValueType::kArray) {
      uint32_t et = 0;
      LMUL_RETURN_IF_ERROR(c.Read(kfield + " array element type", &et));
      if (!IsValidValueType(et)) {
        return c.Fail(kfield + " array element type",
                      "expected a value type 0..12, found " + std::to_string(et));
      }
      v.elem_type = static_cast<GgufValueType>(et);
      if (v.elem_type == GgufValueType::kArray) {
        return c.Fail(kfield + " array element type", "nested arrays are not supported");
      }
      LMUL_RETURN_IF_ERROR(c.Read(kfield + " array length", &v.count));
      v.offset = c.pos();
      if (v.elem_type == GgufValueType::kString) {
        if (v.count > c.remaining() / 8) {
          return c.Fail(kfield + " array length",
                        std::to_string(v.count) + " strings cannot fit in the " +
                            std::to_string(c.remaining()) + " bytes left");
        }
        for (uint64_t j = 0; j < v.count; ++j) {
          std::string_view s;
          LMUL_RETURN_IF_ERROR(c.ReadString(kfield + "[" + std::to_string(j) + "]", &s));
        }
      } else {
        const size_t es = ScalarSize(v.elem_type);
        if (v.count > c.remaining() / es) {
          return c.Fail(kfield + " array length",
                        std::to_string(v.count) + " elements of " + std::to_string(es) +
                            " bytes exceed the " + std::to_string(c.remaining()) + " bytes left");
        }
        LMUL_RETURN_IF_ERROR(c.Skip(kfield, v.count * es));
      }
    } else {
      if (v.type == GgufValueType::kBool) {
        uint8_t b = 0;
        LMUL_RETURN_IF_ERROR(c.Read(kfield, &b));
        if (b > 1) {
          return MakeError(p + ": " + kfield + ": expected a bool (0 or 1), found " +
                           std::to_string(b));
        }
      } else {
        LMUL_RETURN_IF_ERROR(c.Skip(kfield, ScalarSize(v.type)));
      }
    }
    keys_.emplace_back(key);
    values_.emplace(std::string(key), v);
  }

  // Alignment.
  if (Has("general.alignment")) {
    auto it = values_.find(std::string_view("general.alignment"));
    if (it->second.type != GgufValueType::kUint32) {
      return MakeError(p + ": metadata 'general.alignment': expected uint32, found " +
                       GgufValueTypeName(it->second.type));
    }
    const uint32_t a = Load<uint32_t>(file_->bytes().data() + it->second.offset);
    if (a == 0 || (a & (a - 1)) != 0) {
      return MakeError(p + ": metadata 'general.alignment': expected a power of two, found " +
                       std::to_string(a));
    }
    alignment_ = a;
  }

  // Tensor infos.
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    const std::string field = "tensor info #" + std::to_string(i);
    std::string_view name;
    LMUL_RETURN_IF_ERROR(c.ReadString(field + " name", &name));
    const std::string tfield = "tensor '" + EscapeUntrusted(name, 80) + "'";
    if (tensor_index_.count(name) != 0) return c.Fail(tfield, "duplicate tensor name");
    t.name = std::string(name);
    uint32_t n_dims = 0;
    LMUL_RETURN_IF_ERROR(c.Read(tfield + " n_dims", &n_dims));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return c.Fail(tfield + " n_dims", "expected 1.." + std::to_string(kMaxDims) + ", found " +
                                            std::to_string(n_dims));
    }
    t.ne.resize(n_dims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      LMUL_RETURN_IF_ERROR(c.Read(tfield + " ne[" + std::to_string(d) + "]", &t.ne[d]));
      if (t.ne[d] < 1) {
        return c.Fail(tfield + " ne[" + std::to_string(d) + "]",
                      "expected a dimension >= 1, found " + std::to_string(t.ne[d]));
      }
      if (MulOverflows(n_elements, t.ne[d], &n_elements)) {
        return c.Fail(tfield + " shape", "element count overflows int64");
      }
    }
    t.n_elements = n_elements;
    uint32_t type = 0;
    LMUL_RETURN_IF_ERROR(c.Read(tfield + " type", &type));
    const GgmlTypeInfo* info = GetGgmlTypeInfo(type);
    if (info == nullptr) {
      return c.Fail(tfield + " type", "unknown ggml type " + std::to_string(type));
    }
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % info->block_size != 0) {
      return c.Fail(tfield + " ne[0]", "expected a multiple of the " + std::string(info->name) +
                                           " block size " + std::to_string(info->block_size) +
                                           ", found " + std::to_string(t.ne[0]));
    }
    int64_t n_bytes = 0;
    if (MulOverflows(n_elements / info->block_size, info->type_size, &n_bytes)) {
      return c.Fail(tfield + " shape", "byte size overflows int64");
    }
    t.n_bytes = static_cast<uint64_t>(n_bytes);
    LMUL_RETURN_IF_ERROR(c.Read(tfield + " offset", &t.offset));
    if (t.offset % alignment_ != 0) {
      return c.Fail(tfield + " offset", "expected a multiple of the alignment " +
                                            std::to_string(alignment_) + ", found " +
                                            std::to_string(t.offset));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // Data section: starts at the next multiple of the alignment.
  const uint64_t end_of_infos = c.pos();
  const uint64_t file_size = file_->size();
  data_offset_ = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
  if (!tensors_.empty() && data_offset_ > file_size) {
    return MakeError(p + ": data section: expected to start at offset " +
                     std::to_string(data_offset_) + ", beyond the end of the file (size " +
                     std::to_string(file_size) + ")");
  }
  for (GgufTensor& t : tensors_) {
    const uint64_t avail = file_size - data_offset_;
    if (t.offset > avail || t.n_bytes > avail - t.offset) {
      return MakeError(p + ": tensor '" + EscapeUntrusted(t.name, 80) + "' data: " + std::to_string(t.n_bytes) +
                       " bytes at data offset " + std::to_string(t.offset) +
                       " extend beyond the end of the file (data section holds " +
                       std::to_string(avail) + " bytes)");
    }
    t.offset += data_offset_;
    t.data = file_->bytes().subspan(t.offset, t.n_bytes);
  }
  return Status::Ok();
}

bool GgufFile::Has(std::string_view key) const { return values_.find(key) != values_.end(); }

std::vector<std::string> GgufFile::Keys() const { return keys_; }

Result<GgufValueType> GgufFile::Type(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    return MakeError(path() + ": metadata key '" + EscapeUntrusted(key, 80) + "' not found");
  }
  return it->second.type;
}

std::string GgufFile::TypeError(std::string_view key, const char* expected, const Value& v) const {
  std::string found = GgufValueTypeName(v.type);
  if (v.type == GgufValueType::kArray) {
    found += std::string(" of ") + GgufValueTypeName(v.elem_type);
  }
  return path() + ": metadata '" + EscapeUntrusted(key, 80) + "': expected " + expected + ", found " +
         found;
}

Result<const GgufFile::Value*> GgufFile::Find(std::string_view key, const char* expected) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    return MakeError(path() + ": metadata key '" + EscapeUntrusted(key, 80) + "' not found (expected " +
                     expected + ")");
  }
  return &it->second;
}

Result<std::string> GgufFile::GetString(std::string_view key) const {
  auto v = Find(key, "string");
  if (!v.ok()) return std::move(v).TakeError();
  if ((*v)->type != GgufValueType::kString) return MakeError(TypeError(key, "string", **v));
  const uint8_t* p = file_->bytes().data() + (*v)->offset;
  const uint64_t len = Load<uint64_t>(p);
  return std::string(reinterpret_cast<const char*>(p + 8), len);
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  auto v = Find(key, "integer");
  if (!v.ok()) return std::move(v).TakeError();
  if (!IsIntType((*v)->type)) return MakeError(TypeError(key, "an integer", **v));
  bool overflow = false;
  const int64_t x = LoadInt((*v)->type, file_->bytes().data() + (*v)->offset, &overflow);
  if (overflow) {
    return MakeError(path() + ": metadata '" + std::string(key) +
                     "': uint64 value exceeds the int64 range");
  }
  return x;
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  auto v = Find(key, "float");
  if (!v.ok()) return std::move(v).TakeError();
  const uint8_t* p = file_->bytes().data() + (*v)->offset;
  if ((*v)->type == GgufValueType::kFloat32) return static_cast<double>(Load<float>(p));
  if ((*v)->type == GgufValueType::kFloat64) return Load<double>(p);
  return MakeError(TypeError(key, "float32 or float64", **v));
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  auto v = Find(key, "bool");
  if (!v.ok()) return std::move(v).TakeError();
  if ((*v)->type != GgufValueType::kBool) return MakeError(TypeError(key, "bool", **v));
  return file_->bytes()[(*v)->offset] != 0;
}

Result<uint64_t> GgufFile::ArraySize(std::string_view key) const {
  auto v = Find(key, "array");
  if (!v.ok()) return std::move(v).TakeError();
  if ((*v)->type != GgufValueType::kArray) return MakeError(TypeError(key, "array", **v));
  return (*v)->count;
}

Result<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  auto v = Find(key, "array of string");
  if (!v.ok()) return std::move(v).TakeError();
  if ((*v)->type != GgufValueType::kArray || (*v)->elem_type != GgufValueType::kString) {
    return MakeError(TypeError(key, "array of string", **v));
  }
  std::vector<std::string> out;
  out.reserve((*v)->count);
  const uint8_t* p = file_->bytes().data() + (*v)->offset;  // validated by Parse
  for (uint64_t i = 0; i < (*v)->count; ++i) {
    const uint64_t len = Load<uint64_t>(p);
    out.emplace_back(reinterpret_cast<const char*>(p + 8), len);
    p += 8 + len;
  }
  return out;
}

Result<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  auto v = Find(key, "array of integer");
  if (!v.ok()) return std::move(v).TakeError();
  if ((*v)->type != GgufValueType::kArray || !IsIntType((*v)->elem_type)) {
    return MakeError(TypeError(key, "array of integer", **v));
  }
  const size_t es = ScalarSize((*v)->elem_type);
  std::vector<int64_t> out((*v)->count);
  const uint8_t* p = file_->bytes().data() + (*v)->offset;
  for (uint64_t i = 0; i < (*v)->count; ++i) {
    bool overflow = false;
    out[i] = LoadInt((*v)->elem_type, p + i * es, &overflow);
    if (overflow) {
      return MakeError(path() + ": metadata '" + EscapeUntrusted(key, 80) + "'[" + std::to_string(i) +
                       "]: uint64 value exceeds the int64 range");
    }
  }
  return out;
}

Result<std::vector<double>> GgufFile::GetFloatArray(std::string_view key) const {
  auto v = Find(key, "array of float");
  if (!v.ok()) return std::move(v).TakeError();
  const GgufValueType et = (*v)->elem_type;
  if ((*v)->type != GgufValueType::kArray ||
      (et != GgufValueType::kFloat32 && et != GgufValueType::kFloat64)) {
    return MakeError(TypeError(key, "array of float32 or float64", **v));
  }
  std::vector<double> out((*v)->count);
  const uint8_t* p = file_->bytes().data() + (*v)->offset;
  for (uint64_t i = 0; i < (*v)->count; ++i) {
    out[i] = et == GgufValueType::kFloat32 ? static_cast<double>(Load<float>(p + i * 4))
                                           : Load<double>(p + i * 8);
  }
  return out;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<const GgufTensor*> GgufFile::GetTensor(std::string_view name) const {
  const GgufTensor* t = FindTensor(name);
  if (t == nullptr) return MakeError(path() + ": tensor '" + std::string(name) + "' not found");
  return t;
}

}  // namespace lmul::engine
