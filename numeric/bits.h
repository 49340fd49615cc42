// Bit views of fp32, the bf16 rounding and the IEEE half decoder: the one home of these
// helpers for the whole tree (numeric/, kernels/, engine/, bench/, tests).
#ifndef LMUL_NUMERIC_BITS_H_
#define LMUL_NUMERIC_BITS_H_

#include <bit>
#include <cstdint>

namespace lmul {

// The IEEE-754 binary32 bit pattern of x, and back.
constexpr uint32_t FloatBits(float x) { return std::bit_cast<uint32_t>(x); }
constexpr float BitsFloat(uint32_t bits) { return std::bit_cast<float>(bits); }

// x rounded to nearest even to bf16 (the top 16 bits of an fp32), as a float:
// the bf16 accumulator and bf16 storage of the kernels. A NaN becomes the quiet
// NaN 0x7FC00000 with x's sign; overflow rounds to Inf; subnormals are kept.
// (The spec's form is Reduce(Format::Bf16(), x, Rounding::kRne), numeric/format.h;
// they agree for every x, kernels/arith_ops_test.cc.)
constexpr float RoundBf16(float x) {
  const uint32_t u = FloatBits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return BitsFloat((u & 0x80000000u) | 0x7FC00000u);
  return BitsFloat((u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u);
}

// The bf16 code (16 bits) of RoundBf16(x).
constexpr uint16_t Bf16CodeRne(float x) {
  return static_cast<uint16_t>(FloatBits(RoundBf16(x)) >> 16);
}

// The float of a bf16 code.
constexpr float Bf16CodeFloat(uint16_t code) { return BitsFloat(uint32_t{code} << 16); }

// The fp32 value of IEEE binary16 bits (exact; Inf and NaN payloads kept, subnormals
// normalised): the f16 scales of GGML's blocks (engine/io/dequant.cc, kernels/gemv.cc).
// Header-only so that it inlines into the callers' SIMD loops (kernels/gemv.cc calls it
// from AVX2 functions: an out-of-line SSE copy between 256-bit instructions was measured
// 10x slower there).
constexpr float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t man = h & 0x3FFu;
  uint32_t bits = 0;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);  // Inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {
    // Subnormal half: man * 2^-24, normalised.
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while ((man & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3FFu) << 13);
  }
  return BitsFloat(bits);
}

}  // namespace lmul

#endif  // LMUL_NUMERIC_BITS_H_
