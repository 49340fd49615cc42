// Bit views of fp32 and the bf16 rounding: the one home of these helpers for
// the whole tree (numeric/, kernels/, engine/, bench/, tests).
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

}  // namespace lmul

#endif  // LMUL_NUMERIC_BITS_H_
