#include "engine/io/gguf_builder.h"

#include <cstdio>
#include <cstring>

#include "base/check.h"

namespace lmul::engine {

template <typename T>
void GgufBuilder::Put(std::vector<uint8_t>* out, T v) const {
  const size_t n = out->size();
  out->resize(n + sizeof(T));
  std::memcpy(out->data() + n, &v, sizeof(T));
}

void GgufBuilder::PutString(std::vector<uint8_t>* out, const std::string& s) const {
  Put<uint64_t>(out, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

void GgufBuilder::AddKey(const std::string& key, GgufValueType type) {
  ++n_kv_;
  PutString(&kv_, key);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(type));
}

void GgufBuilder::AddUint8(const std::string& key, uint8_t v) {
  AddKey(key, GgufValueType::kUint8);
  Put(&kv_, v);
}
void GgufBuilder::AddUint32(const std::string& key, uint32_t v) {
  AddKey(key, GgufValueType::kUint32);
  Put(&kv_, v);
}
void GgufBuilder::AddInt32(const std::string& key, int32_t v) {
  AddKey(key, GgufValueType::kInt32);
  Put(&kv_, v);
}
void GgufBuilder::AddUint64(const std::string& key, uint64_t v) {
  AddKey(key, GgufValueType::kUint64);
  Put(&kv_, v);
}
void GgufBuilder::AddFloat32(const std::string& key, float v) {
  AddKey(key, GgufValueType::kFloat32);
  Put(&kv_, v);
}
void GgufBuilder::AddFloat64(const std::string& key, double v) {
  AddKey(key, GgufValueType::kFloat64);
  Put(&kv_, v);
}
void GgufBuilder::AddBool(const std::string& key, bool v) {
  AddKey(key, GgufValueType::kBool);
  Put<uint8_t>(&kv_, v ? 1 : 0);
}
void GgufBuilder::AddString(const std::string& key, const std::string& v) {
  AddKey(key, GgufValueType::kString);
  PutString(&kv_, v);
}
void GgufBuilder::AddStringArray(const std::string& key, const std::vector<std::string>& v) {
  AddKey(key, GgufValueType::kArray);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(GgufValueType::kString));
  Put<uint64_t>(&kv_, v.size());
  for (const std::string& s : v) PutString(&kv_, s);
}
void GgufBuilder::AddInt32Array(const std::string& key, const std::vector<int32_t>& v) {
  AddKey(key, GgufValueType::kArray);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(GgufValueType::kInt32));
  Put<uint64_t>(&kv_, v.size());
  for (int32_t x : v) Put(&kv_, x);
}
void GgufBuilder::AddFloat32Array(const std::string& key, const std::vector<float>& v) {
  AddKey(key, GgufValueType::kArray);
  Put<uint32_t>(&kv_, static_cast<uint32_t>(GgufValueType::kFloat32));
  Put<uint64_t>(&kv_, v.size());
  for (float x : v) Put(&kv_, x);
}

void GgufBuilder::AddTensor(const std::string& name, GgmlType type, const std::vector<int64_t>& ne,
                            std::vector<uint8_t> data) {
  tensors_.push_back({name, type, ne, std::move(data)});
}

void GgufBuilder::AddTensorF32(const std::string& name, const std::vector<int64_t>& ne,
                               const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  AddTensor(name, GgmlType::kF32, ne, std::move(bytes));
}

std::vector<uint8_t> GgufBuilder::Build() const {
  std::vector<uint8_t> out;
  Put<uint32_t>(&out, 0x46554747u);  // "GGUF" little endian
  Put<uint32_t>(&out, version_);
  Put<uint64_t>(&out, tensors_.size());
  const bool write_alignment = alignment_ != 32;
  Put<uint64_t>(&out, n_kv_ + (write_alignment ? 1 : 0));
  out.insert(out.end(), kv_.begin(), kv_.end());
  if (write_alignment) {
    PutString(&out, "general.alignment");
    Put<uint32_t>(&out, static_cast<uint32_t>(GgufValueType::kUint32));
    Put<uint32_t>(&out, alignment_);
  }
  uint64_t offset = 0;
  std::vector<uint64_t> offsets;
  for (const Tensor& t : tensors_) {
    PutString(&out, t.name);
    Put<uint32_t>(&out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) Put<int64_t>(&out, d);
    Put<uint32_t>(&out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(&out, offset);
    offsets.push_back(offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
  const size_t data_start = out.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.resize(data_start + offsets[i], 0);
    out.insert(out.end(), tensors_[i].data.begin(), tensors_[i].data.end());
  }
  return out;
}

Status GgufBuilder::WriteFile(const std::string& path) const {
  const std::vector<uint8_t> bytes = Build();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return MakeError(path + ": cannot open for writing");
  const size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const bool ok = n == bytes.size() && std::fclose(f) == 0;
  if (!ok) return MakeError(path + ": write failed");
  return Status::Ok();
}

}  // namespace lmul::engine
