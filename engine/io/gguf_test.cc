// GgufFile: metadata and tensor round trips through GgufBuilder, specific hostile
// inputs (each with the error it must produce), and a fuzz-style sweep that truncates
// a synthetic file at every length and overwrites every byte with several values,
// asserting a clean error or a consistent file and never a crash.
#include "engine/io/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/io/dequant.h"
#include "engine/io/gguf_builder.h"

namespace lmul::engine {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + std::to_string(getpid()) + "_" + name;
}

std::string WriteBytes(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = TempPath(name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  if (!bytes.empty()) {
    EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  }
  std::fclose(f);
  return path;
}

GgufBuilder SampleBuilder() {
  GgufBuilder b;
  b.AddString("general.architecture", "llama");
  b.AddUint32("llama.block_count", 2);
  b.AddInt32("neg", -5);
  b.AddUint64("big", 1ull << 40);
  b.AddUint8("small", 7);
  b.AddFloat32("llama.rope.freq_base", 10000.0f);
  b.AddFloat64("f64", 0.125);
  b.AddBool("flag", true);
  b.AddStringArray("tokenizer.ggml.tokens", {"a", "", "<|im_start|>", "\xC3\xA9"});
  b.AddInt32Array("tokenizer.ggml.token_type", {1, 2, 3, -4});
  b.AddFloat32Array("scores", {0.5f, -1.0f});
  std::vector<float> w(2 * 32);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.25f - 3.0f;
  b.AddTensorF32("w", {32, 2}, w);
  // One Q8_0 block: d = 0.5 (f16 0x3800), q = -16..15.
  std::vector<uint8_t> q8 = {0x00, 0x38};
  for (int i = 0; i < 32; ++i) q8.push_back(static_cast<uint8_t>(static_cast<int8_t>(i - 16)));
  b.AddTensor("q", GgmlType::kQ8_0, {32}, q8);
  return b;
}

TEST(GgufTest, MetadataRoundTrip) {
  const std::string path = TempPath("sample.gguf");
  ASSERT_TRUE(SampleBuilder().WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error();
  const GgufFile& g = **f;
  EXPECT_EQ(g.path(), path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_TRUE(g.Has("llama.block_count"));
  EXPECT_FALSE(g.Has("llama.block"));
  EXPECT_EQ(*g.GetString("general.architecture"), "llama");
  EXPECT_EQ(*g.GetInt("llama.block_count"), 2);
  EXPECT_EQ(*g.GetInt("neg"), -5);
  EXPECT_EQ(*g.GetInt("big"), int64_t{1} << 40);
  EXPECT_EQ(*g.GetInt("small"), 7);
  EXPECT_EQ(*g.GetFloat("llama.rope.freq_base"), 10000.0);
  EXPECT_EQ(*g.GetFloat("f64"), 0.125);
  EXPECT_EQ(*g.GetBool("flag"), true);
  EXPECT_EQ(*g.GetStringArray("tokenizer.ggml.tokens"),
            (std::vector<std::string>{"a", "", "<|im_start|>", "\xC3\xA9"}));
  EXPECT_EQ(*g.GetIntArray("tokenizer.ggml.token_type"), (std::vector<int64_t>{1, 2, 3, -4}));
  EXPECT_EQ(*g.GetFloatArray("scores"), (std::vector<double>{0.5, -1.0}));
  EXPECT_EQ(*g.ArraySize("tokenizer.ggml.tokens"), 4u);
  EXPECT_EQ(g.Keys().size(), 11u);
  EXPECT_EQ(g.Keys()[0], "general.architecture");

  // Type errors name the file, the key, what was expected and what was found.
  auto s = g.GetString("llama.block_count");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find(path), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("'llama.block_count'"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("expected string, found uint32"), std::string::npos) << s.error();
  EXPECT_FALSE(g.GetInt("llama.rope.freq_base").ok());
  EXPECT_FALSE(g.GetFloat("llama.block_count").ok());
  EXPECT_FALSE(g.GetBool("small").ok());
  EXPECT_FALSE(g.GetIntArray("tokenizer.ggml.tokens").ok());
  EXPECT_FALSE(g.GetStringArray("scores").ok());
  EXPECT_FALSE(g.GetFloatArray("tokenizer.ggml.token_type").ok());
  auto missing = g.GetInt("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("'nope' not found"), std::string::npos) << missing.error();
}

TEST(GgufTest, Tensors) {
  const std::string path = TempPath("tensors.gguf");
  ASSERT_TRUE(SampleBuilder().WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error();
  ASSERT_EQ((*f)->tensors().size(), 2u);
  const GgufTensor* w = (*f)->FindTensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape(), (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(w->ShapeString(), "(2, 32)");
  EXPECT_EQ(w->n_elements, 64);
  EXPECT_EQ(w->n_rows(), 2);
  EXPECT_EQ(w->offset % 32, 0u);
  auto wv = DequantizeTensor(*w);
  ASSERT_TRUE(wv.ok());
  for (int i = 0; i < 64; ++i) EXPECT_EQ((*wv)[i], static_cast<float>(i) * 0.25f - 3.0f);
  const GgufTensor* q = (*f)->FindTensor("q");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::kQ8_0);
  EXPECT_EQ(q->n_bytes, 34u);
  auto qv = DequantizeTensor(*q);
  ASSERT_TRUE(qv.ok());
  for (int i = 0; i < 32; ++i) EXPECT_EQ((*qv)[i], 0.5f * static_cast<float>(i - 16));
  EXPECT_EQ((*f)->FindTensor("x"), nullptr);
  auto gt = (*f)->GetTensor("x");
  ASSERT_FALSE(gt.ok());
  EXPECT_NE(gt.error().find("tensor 'x' not found"), std::string::npos);
  // Row range checks.
  float row[32];
  EXPECT_TRUE(DequantizeRows(*w, 1, 1, row).ok());
  EXPECT_EQ(row[0], 32 * 0.25f - 3.0f);
  EXPECT_FALSE(DequantizeRows(*w, 2, 1, row).ok());
  EXPECT_FALSE(DequantizeRows(*w, -1, 1, row).ok());
}

TEST(GgufTest, NonDefaultAlignmentAndVersion2) {
  GgufBuilder b(/*version=*/2, /*alignment=*/64);
  b.AddTensorF32("a", {3}, {1, 2, 3});
  b.AddTensorF32("b", {5}, {4, 5, 6, 7, 8});
  const std::string path = TempPath("align64.gguf");
  ASSERT_TRUE(b.WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  auto bv = DequantizeTensor(*(*f)->FindTensor("b"));
  ASSERT_TRUE(bv.ok());
  EXPECT_EQ((*bv)[4], 8.0f);
}

// Expects Open to fail with a message containing the path and `needle`.
void ExpectOpenError(const std::vector<uint8_t>& bytes, const std::string& needle) {
  const std::string path = WriteBytes("bad.gguf", bytes);
  auto f = GgufFile::Open(path);
  ASSERT_FALSE(f.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(f.error().rfind(path, 0), 0u) << f.error();
  EXPECT_NE(f.error().find(needle), std::string::npos) << f.error();
}

std::vector<uint8_t> Header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  std::vector<uint8_t> v = {'G', 'G', 'U', 'F'};
  auto put = [&](const void* p, size_t n) {
    v.insert(v.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  put(&version, 4);
  put(&n_tensors, 8);
  put(&n_kv, 8);
  return v;
}

template <typename T>
void Append(std::vector<uint8_t>* v, T x) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &x, sizeof(T));
  v->insert(v->end(), b, b + sizeof(T));
}

void AppendString(std::vector<uint8_t>* v, const std::string& s) {
  Append<uint64_t>(v, s.size());
  v->insert(v->end(), s.begin(), s.end());
}

// A tensor-info record: name, n_dims, ne..., type, offset.
void AppendTensorInfo(std::vector<uint8_t>* v, const std::string& name,
                      const std::vector<int64_t>& ne, uint32_t type, uint64_t offset) {
  AppendString(v, name);
  Append<uint32_t>(v, static_cast<uint32_t>(ne.size()));
  for (int64_t d : ne) Append<int64_t>(v, d);
  Append<uint32_t>(v, type);
  Append<uint64_t>(v, offset);
}

TEST(GgufTest, HostileHeaders) {
  ExpectOpenError({}, "magic");
  ExpectOpenError({'G', 'G'}, "magic");
  ExpectOpenError({'G', 'G', 'M', 'L', 0, 0, 0, 0}, "not a GGUF file");
  ExpectOpenError(Header(1, 0, 0), "v1 is not supported");
  ExpectOpenError(Header(0x03000000, 0, 0), "big-endian");
  ExpectOpenError(Header(4, 0, 0), "expected 2 or 3, found 4");
  std::vector<uint8_t> h = Header(3, 0, 0);
  h.resize(h.size() - 3);
  ExpectOpenError(h, "metadata kv count");
  ExpectOpenError(Header(3, 0, ~0ull), "pairs cannot fit");
  ExpectOpenError(Header(3, 1ull << 62, 0), "tensors cannot fit");
  // Header alone with no tensors or keys is a valid (empty) file.
  auto ok = GgufFile::Open(WriteBytes("empty_ok.gguf", Header(3, 0, 0)));
  EXPECT_TRUE(ok.ok()) << ok.error();
}

TEST(GgufTest, HostileMetadata) {
  {  // String length beyond the file.
    auto v = Header(3, 0, 1);
    AppendString(&v, "k");
    Append<uint32_t>(&v, 8);
    Append<uint64_t>(&v, ~0ull);
    ExpectOpenError(v, "string length");
  }
  {  // Key length beyond the file.
    auto v = Header(3, 0, 1);
    Append<uint64_t>(&v, 1ull << 63);
    Append<uint64_t>(&v, 0);
    ExpectOpenError(v, "exceeds the");
  }
  {  // Empty key.
    auto v = Header(3, 0, 1);
    AppendString(&v, "");
    Append<uint32_t>(&v, 4);
    Append<uint32_t>(&v, 1);
    ExpectOpenError(v, "non-empty key");
  }
  {  // Unknown value type.
    auto v = Header(3, 0, 1);
    AppendString(&v, "k");
    Append<uint32_t>(&v, 13);
    Append<uint32_t>(&v, 0);
    ExpectOpenError(v, "expected a value type 0..12, found 13");
  }
  {  // Duplicate key.
    auto v = Header(3, 0, 2);
    for (int i = 0; i < 2; ++i) {
      AppendString(&v, "k");
      Append<uint32_t>(&v, 4);
      Append<uint32_t>(&v, 1);
    }
    ExpectOpenError(v, "duplicate key");
  }
  {  // Nested array.
    auto v = Header(3, 0, 1);
    AppendString(&v, "k");
    Append<uint32_t>(&v, 9);
    Append<uint32_t>(&v, 9);
    Append<uint64_t>(&v, 0);
    ExpectOpenError(v, "nested arrays");
  }
  {  // Array count overflowing count * element size.
    auto v = Header(3, 0, 1);
    AppendString(&v, "k");
    Append<uint32_t>(&v, 9);
    Append<uint32_t>(&v, 10);
    Append<uint64_t>(&v, 1ull << 61);
    ExpectOpenError(v, "elements of 8 bytes exceed");
  }
  {  // String array count beyond the file.
    auto v = Header(3, 0, 1);
    AppendString(&v, "k");
    Append<uint32_t>(&v, 9);
    Append<uint32_t>(&v, 8);
    Append<uint64_t>(&v, 1000);
    ExpectOpenError(v, "strings cannot fit");
  }
  {  // Bool that is not 0/1.
    auto v = Header(3, 0, 1);
    AppendString(&v, "k");
    Append<uint32_t>(&v, 7);
    Append<uint8_t>(&v, 2);
    ExpectOpenError(v, "expected a bool");
  }
  {  // Alignment not a power of two / wrong type.
    auto v = Header(3, 0, 1);
    AppendString(&v, "general.alignment");
    Append<uint32_t>(&v, 4);
    Append<uint32_t>(&v, 48);
    ExpectOpenError(v, "expected a power of two, found 48");
    auto w = Header(3, 0, 1);
    AppendString(&w, "general.alignment");
    Append<uint32_t>(&w, 10);
    Append<uint64_t>(&w, 32);
    ExpectOpenError(w, "expected uint32, found uint64");
  }
  {  // uint64 beyond int64 is reported by GetInt, not silently wrapped.
    GgufBuilder b;
    b.AddUint64("huge", ~0ull);
    const std::string path = TempPath("huge.gguf");
    ASSERT_TRUE(b.WriteFile(path).ok());
    auto f = GgufFile::Open(path);
    ASSERT_TRUE(f.ok());
    auto x = (*f)->GetInt("huge");
    ASSERT_FALSE(x.ok());
    EXPECT_NE(x.error().find("exceeds the int64 range"), std::string::npos);
  }
}

TEST(GgufTest, HostileTensorInfos) {
  auto one = [](const std::string& name, const std::vector<int64_t>& ne, uint32_t type,
                uint64_t offset, size_t data_bytes) {
    auto v = Header(3, 1, 0);
    AppendTensorInfo(&v, name, ne, type, offset);
    v.resize((v.size() + 31) / 32 * 32, 0);
    v.resize(v.size() + data_bytes, 0);
    return v;
  };
  ExpectOpenError(one("t", {}, 0, 0, 64), "n_dims");
  ExpectOpenError(one("t", {1, 1, 1, 1, 1}, 0, 0, 64), "expected 1..4, found 5");
  ExpectOpenError(one("t", {0}, 0, 0, 64), "expected a dimension >= 1, found 0");
  ExpectOpenError(one("t", {-4}, 0, 0, 64), "found -4");
  ExpectOpenError(one("t", {1ll << 40, 1ll << 40}, 0, 0, 64), "overflows int64");
  ExpectOpenError(one("t", {4}, 5, 0, 64), "unknown ggml type 5");
  ExpectOpenError(one("t", {16}, 8, 0, 64), "multiple of the Q8_0 block size 32");
  ExpectOpenError(one("t", {4}, 0, 8, 64), "multiple of the alignment 32");
  ExpectOpenError(one("t", {16}, 0, 32, 64), "extend beyond the end of the file");
  ExpectOpenError(one("t", {17}, 0, 0, 64), "extend beyond the end of the file");
  ExpectOpenError(one("t", {4}, 0, 1ull << 63, 64), "extend beyond the end of the file");
  // Exactly fitting is fine.
  auto fits = GgufFile::Open(WriteBytes("fits.gguf", one("t", {16}, 0, 0, 64)));
  EXPECT_TRUE(fits.ok()) << fits.error();
  {  // Duplicate tensor name.
    auto v = Header(3, 2, 0);
    AppendTensorInfo(&v, "t", {4}, 0, 0);
    AppendTensorInfo(&v, "t", {4}, 0, 32);
    v.resize(256, 0);
    ExpectOpenError(v, "duplicate tensor name");
  }
  {  // Data section beyond the file.
    auto v = Header(3, 1, 0);
    AppendTensorInfo(&v, "t", {4}, 0, 0);
    ExpectOpenError(v, "data section");
  }
  {  // Unsupported dequantization is an error, not a crash.
    auto v = one("t", {256}, 10, 0, 84);
    auto f = GgufFile::Open(WriteBytes("q2k.gguf", v));
    ASSERT_TRUE(f.ok()) << f.error();
    auto d = DequantizeTensor((*f)->tensors()[0]);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().find("cannot dequantize type Q2_K"), std::string::npos) << d.error();
  }
}

// Reads everything a successfully opened file offers (to make sure no getter or
// dequantizer reads out of bounds on a mutated file).
void Exercise(const GgufFile& g) {
  for (const std::string& k : g.Keys()) {
    (void)g.GetString(k);
    (void)g.GetInt(k);
    (void)g.GetFloat(k);
    (void)g.GetBool(k);
    (void)g.GetStringArray(k);
    (void)g.GetIntArray(k);
    (void)g.GetFloatArray(k);
  }
  for (const GgufTensor& t : g.tensors()) {
    if (CanDequantize(t.type) && t.n_elements < (1 << 20)) (void)DequantizeTensor(t);
  }
}

TEST(GgufTest, FuzzTruncationsAndByteMutations) {
  const std::vector<uint8_t> good = SampleBuilder().Build();
  const std::string path = TempPath("fuzz.gguf");
  int n_errors = 0, n_ok = 0;
  auto check = [&](const std::vector<uint8_t>& bytes) {
    WriteBytes("fuzz.gguf", bytes);
    auto f = GgufFile::Open(path);
    if (f.ok()) {
      ++n_ok;
      Exercise(**f);
    } else {
      ++n_errors;
      ASSERT_EQ(f.error().rfind(path + ": ", 0), 0u) << f.error();
    }
  };
  // Every truncation: all must fail except the full file.
  for (size_t len = 0; len < good.size(); ++len) {
    check(std::vector<uint8_t>(good.begin(), good.begin() + len));
  }
  EXPECT_EQ(n_ok, 0) << "a truncated file opened";
  // Every byte of the header region overwritten with several values.
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t val : {0x00, 0xFF, 0x80, 0x7F, 0x01}) {
      if (good[i] == val) continue;
      std::vector<uint8_t> m = good;
      m[i] = val;
      check(m);
    }
  }
  // Random multi-byte mutations.
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> m = good;
    const int n_mut = 1 + static_cast<int>(rng() % 4);
    for (int j = 0; j < n_mut; ++j) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    check(m);
  }
  std::printf("fuzz: %d clean errors, %d files still valid after mutation\n", n_errors, n_ok);
  EXPECT_GT(n_errors, 1000);
}

}  // namespace
}  // namespace lmul::engine
