// Dequantization: exhaustive half/bf16 conversion, and hand-built blocks of each
// quantized type checked against element formulas written independently of the
// loop structure in dequant.cc (by element index). The real-file check against
// PyPI gguf is in dequant_model_test.cc.
#include "engine/io/dequant.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <random>

#include "engine/io/gguf_builder.h"
#include "numeric/bits.h"

namespace lmul::engine {
namespace {

uint32_t Bits(float f) { return FloatBits(f); }

TEST(DequantTest, HalfToFloatExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 x;
    const uint16_t h16 = static_cast<uint16_t>(h);
    std::memcpy(&x, &h16, 2);
    const float want = static_cast<float>(x);
    const float got = HalfToFloat(h16);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      EXPECT_EQ(Bits(got), Bits(want)) << "half 0x" << std::hex << h;
    }
  }
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(Bf16CodeFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bf16CodeFloat(0xC040), -3.0f);
}

// Dequantizes raw bytes of one row of `type` with ne[0] = n through a GGUF round trip.
std::vector<float> Dequant(GgmlType type, int64_t n, const std::vector<uint8_t>& bytes) {
  GgufBuilder b;
  b.AddTensor("t", type, {n}, bytes);
  const std::string path = ::testing::TempDir() + "/dq_" + std::to_string(getpid()) + ".gguf";
  EXPECT_TRUE(b.WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.error();
  auto v = DequantizeTensor((*f)->tensors()[0]);
  EXPECT_TRUE(v.ok()) << v.error();
  return *v;
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(rng());
  return v;
}

// A finite, moderate f16 scale at byte offset `at`.
void PutHalf(std::vector<uint8_t>* v, size_t at, uint16_t h) {
  (*v)[at] = h & 0xFF;
  (*v)[at + 1] = h >> 8;
}

TEST(DequantTest, Q4_0AndQ4_1ByElementFormula) {
  auto q40 = RandomBytes(2 * 18, 1);
  PutHalf(&q40, 0, 0x3400);   // 0.25
  PutHalf(&q40, 18, 0xB800);  // -0.5
  const auto y0 = Dequant(GgmlType::kQ4_0, 64, q40);
  for (int i = 0; i < 64; ++i) {
    const uint8_t* blk = q40.data() + (i / 32) * 18;
    const int j = i % 32;
    const int q = j < 16 ? (blk[2 + j] & 15) : (blk[2 + j - 16] >> 4);
    EXPECT_EQ(y0[i], static_cast<float>(q - 8) * HalfToFloat(blk[0] | blk[1] << 8)) << i;
  }
  auto q41 = RandomBytes(20, 2);
  PutHalf(&q41, 0, 0x2E66);  // ~0.1
  PutHalf(&q41, 2, 0xC000);  // -2
  const auto y1 = Dequant(GgmlType::kQ4_1, 32, q41);
  for (int j = 0; j < 32; ++j) {
    const int q = j < 16 ? (q41[4 + j] & 15) : (q41[4 + j - 16] >> 4);
    EXPECT_EQ(y1[j], static_cast<float>(q) * HalfToFloat(0x2E66) + -2.0f) << j;
  }
}

// ggml's 6-bit scale/min packing, written per element for the test.
void ScaleMin(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

TEST(DequantTest, KQuantsByElementFormula) {
  {  // Q4_K: element i in sub-block g = i/32; byte (i/64)*32 + i%32, nibble (i/32)%2.
    auto b = RandomBytes(144, 3);
    PutHalf(&b, 0, 0x2C00);
    PutHalf(&b, 2, 0x2400);
    const auto y = Dequant(GgmlType::kQ4_K, 256, b);
    for (int i = 0; i < 256; ++i) {
      int sc, m;
      ScaleMin(b.data() + 4, i / 32, &sc, &m);
      const uint8_t byte = b[16 + (i / 64) * 32 + i % 32];
      const int q = (i / 32) % 2 ? byte >> 4 : byte & 15;
      const float want = HalfToFloat(0x2C00) * sc * static_cast<float>(q) - HalfToFloat(0x2400) * m;
      EXPECT_EQ(y[i], want) << i;
    }
  }
  {  // Q5_K: plus bit (i/32) of qh[i%32].
    auto b = RandomBytes(176, 4);
    PutHalf(&b, 0, 0x2C00);
    PutHalf(&b, 2, 0x2400);
    const auto y = Dequant(GgmlType::kQ5_K, 256, b);
    for (int i = 0; i < 256; ++i) {
      int sc, m;
      ScaleMin(b.data() + 4, i / 32, &sc, &m);
      const uint8_t byte = b[48 + (i / 64) * 32 + i % 32];
      int q = (i / 32) % 2 ? byte >> 4 : byte & 15;
      q += ((b[16 + i % 32] >> (i / 32)) & 1) << 4;
      const float want = HalfToFloat(0x2C00) * sc * static_cast<float>(q) - HalfToFloat(0x2400) * m;
      EXPECT_EQ(y[i], want) << i;
    }
  }
  {  // Q6_K: half h = i/128, r = i%128: low 4 bits from ql[h*64 + r%64] (nibble r/64),
     // high 2 bits from qh[h*32 + r%32] (shift 2*(r/32)), scale sc[i/16].
    auto b = RandomBytes(210, 5);
    PutHalf(&b, 208, 0x2000);
    const auto y = Dequant(GgmlType::kQ6_K, 256, b);
    for (int i = 0; i < 256; ++i) {
      const int h = i / 128, r = i % 128;
      const uint8_t lo = b[h * 64 + r % 64];
      const int low = r / 64 ? lo >> 4 : lo & 15;
      const int high = (b[128 + h * 32 + r % 32] >> (2 * (r / 32))) & 3;
      const int q = (low | high << 4) - 32;
      const float sc = static_cast<float>(static_cast<int8_t>(b[192 + i / 16]));
      EXPECT_EQ(y[i], HalfToFloat(0x2000) * sc * static_cast<float>(q)) << i;
    }
  }
}

TEST(DequantTest, F16AndBf16Tensors) {
  std::vector<uint8_t> b = {0x00, 0x3C, 0x00, 0xC0};  // f16 1, -2
  const auto y = Dequant(GgmlType::kF16, 2, b);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  const auto z = Dequant(GgmlType::kBF16, 2, b);  // bf16 0x3C00, 0xC000
  EXPECT_EQ(z[0], Bf16CodeFloat(0x3C00));
  EXPECT_EQ(z[1], -2.0f);
}

}  // namespace
}  // namespace lmul::engine
