#include "engine/io/dequant.h"

#include <cstring>
#include <string>

#include "base/check.h"
#include "numeric/bits.h"

namespace lmul::engine {
namespace {

uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

float F16(const uint8_t* p) { return HalfToFloat(Load16(p)); }

// ---------------------------------------------------------------------------
// One block each; `y` receives block_size floats.

void BlockQ8_0(const uint8_t* b, float* y) {
  const float d = F16(b);
  const int8_t* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j]) * d;
}

void BlockQ4_0(const uint8_t* b, float* y) {
  const float d = F16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void BlockQ4_1(const uint8_t* b, float* y) {
  const float d = F16(b);
  const float m = F16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q5_0 / Q5_1: the fifth bit of element j (0..31) is bit j of the little-endian
// 32-bit qh (ggml dequantize_row_q5_0/q5_1).
uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void BlockQ5_0(const uint8_t* b, float* y) {
  const float d = F16(b);
  const uint32_t qh = Load32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int xh0 = static_cast<int>(((qh >> j) << 4) & 0x10);
    const int xh1 = static_cast<int>((qh >> (j + 12)) & 0x10);
    y[j] = static_cast<float>(((qs[j] & 0x0F) | xh0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | xh1) - 16) * d;
  }
}

void BlockQ5_1(const uint8_t* b, float* y) {
  const float d = F16(b);
  const float m = F16(b + 2);
  const uint32_t qh = Load32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int xh0 = static_cast<int>(((qh >> j) << 4) & 0x10);
    const int xh1 = static_cast<int>((qh >> (j + 12)) & 0x10);
    y[j] = static_cast<float>((qs[j] & 0x0F) | xh0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | xh1) * d + m;
  }
}

// ggml get_scale_min_k4: 6-bit scale and min of sub-block j (0..7) from 12 bytes.
void ScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void BlockQ4_K(const uint8_t* b, float* y) {
  const float d = F16(b);
  const float dmin = F16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    ScaleMinK4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

void BlockQ5_K(const uint8_t* b, float* y) {
  const float d = F16(b);
  const float dmin = F16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  int is = 0;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    ScaleMinK4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) {
      *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
    ql += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
}

void BlockQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = F16(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

namespace {

// Row decoders: n elements of one row from src (n a multiple of the block size).
void RowF32(const uint8_t* src, int64_t n, float* y) {
  std::memcpy(y, src, static_cast<size_t>(n) * 4);
}
void RowF16(const uint8_t* src, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = HalfToFloat(Load16(src + 2 * i));
}
void RowBF16(const uint8_t* src, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = Bf16CodeFloat(Load16(src + 2 * i));
}
// A block format: Block decodes kElems elements from kBytes bytes.
template <void (*Block)(const uint8_t*, float*), int kElems, int kBytes>
void RowBlocks(const uint8_t* src, int64_t n, float* y) {
  for (int64_t bi = 0; bi < n / kElems; ++bi) Block(src + bi * kBytes, y + bi * kElems);
}

// The dequantizable types, one row each (ggml's block sizes: 32 elements in 34 / 18 / 20 /
// 22 / 24 bytes for Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1; 256 in 144 / 176 / 210 for Q4_K /
// Q5_K / Q6_K; checked against the GGUF reader's type table below).
struct Decoder {
  GgmlType type;
  int block_size, type_size;
  void (*row)(const uint8_t* src, int64_t n, float* y);
};
constexpr Decoder kDecoders[] = {
    {GgmlType::kF32, 1, 4, RowF32},
    {GgmlType::kF16, 1, 2, RowF16},
    {GgmlType::kBF16, 1, 2, RowBF16},
    {GgmlType::kQ8_0, 32, 34, RowBlocks<BlockQ8_0, 32, 34>},
    {GgmlType::kQ4_0, 32, 18, RowBlocks<BlockQ4_0, 32, 18>},
    {GgmlType::kQ4_1, 32, 20, RowBlocks<BlockQ4_1, 32, 20>},
    {GgmlType::kQ5_0, 32, 22, RowBlocks<BlockQ5_0, 32, 22>},
    {GgmlType::kQ5_1, 32, 24, RowBlocks<BlockQ5_1, 32, 24>},
    {GgmlType::kQ4_K, 256, 144, RowBlocks<BlockQ4_K, 256, 144>},
    {GgmlType::kQ5_K, 256, 176, RowBlocks<BlockQ5_K, 256, 176>},
    {GgmlType::kQ6_K, 256, 210, RowBlocks<BlockQ6_K, 256, 210>},
};

const Decoder* FindDecoder(GgmlType type) {
  for (const Decoder& d : kDecoders) {
    if (d.type == type) {
      // The decoder's block geometry must be the reader's (which validated the sizes).
      const GgmlTypeInfo* info = GetGgmlTypeInfo(static_cast<uint32_t>(type));
      LMUL_CHECK(
          info != nullptr && info->block_size == d.block_size && info->type_size == d.type_size,
          "dequant: block geometry of %s", GgmlTypeName(type));
      return &d;
    }
  }
  return nullptr;
}

}  // namespace

bool CanDequantize(GgmlType type) { return FindDecoder(type) != nullptr; }

std::string DequantizableTypes() {
  std::string out;
  for (const Decoder& d : kDecoders) {
    if (!out.empty()) out += ' ';
    out += GgmlTypeName(d.type);
  }
  return out;
}

Status DequantizeRows(const GgufTensor& t, int64_t row_begin, int64_t n_rows, float* out) {
  const Decoder* dec = FindDecoder(t.type);
  if (dec == nullptr) {
    return MakeError("tensor '" + t.name + "': cannot dequantize type " + GgmlTypeName(t.type) +
                     " (supported: " + DequantizableTypes() + ")");
  }
  if (row_begin < 0 || n_rows < 0 || row_begin > t.n_rows() || n_rows > t.n_rows() - row_begin) {
    return MakeError("tensor '" + t.name + "': rows [" + std::to_string(row_begin) + ", " +
                     std::to_string(row_begin + n_rows) + ") out of range (" +
                     std::to_string(t.n_rows()) + " rows)");
  }
  const int64_t n = t.row_length();
  const size_t row_bytes = t.row_bytes();
  for (int64_t r = 0; r < n_rows; ++r) {
    dec->row(t.data.data() + static_cast<size_t>(row_begin + r) * row_bytes, n, out + r * n);
  }
  return Status::Ok();
}

Result<std::vector<float>> DequantizeTensor(const GgufTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements));
  Status st = DequantizeRows(t, 0, t.n_rows(), out.data());
  if (!st.ok()) return MakeError(st.error());
  return out;
}

}  // namespace lmul::engine
