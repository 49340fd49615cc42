// Number formats of the L-Mul spec and their encode/decode (docs/numerics.md §1-2).
//
// Every format embeds exactly in fp32, so values travel on the "fp32 carrier":
// a float whose value is representable in the format. A format also has its own
// native code ("code"): the bit pattern of width 1 + exp_bits + man_bits,
// sign in the top bit, then the biased exponent, then the mantissa. The low
// (exp_bits + man_bits) bits of a code are the "magnitude field" that L-Mul adds.
//
// This file is part of the scalar reference: it is written to be read.
#ifndef LMUL_NUMERIC_FORMAT_H_
#define LMUL_NUMERIC_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "numeric/bits.h"  // FloatBits, BitsFloat

namespace lmul {

// How an fp32 input (or an exact product) is reduced to a format.
enum class Rounding {
  kRne,    // round to nearest, ties to even; subnormals kept; overflow -> Inf
           // (e4m3: saturate to +-448)
  kTrunc,  // toward zero; overflow -> +-max finite; below the smallest
           // subnormal -> signed zero
};

const char* RoundingName(Rounding r);

struct Format {
  enum class Kind : uint8_t { kFp32, kBf16, kFp16, kE5M2, kE4M3, kE8M };

  Kind kind = Kind::kFp32;
  int exp_bits = 8;
  int man_bits = 23;
  int bias = 127;
  // IEEE-style: exponent all-ones encodes Inf (mantissa 0) and NaN. False for
  // e4m3 (OCP "FN"): only S.1111.111 is NaN and there is no Inf.
  bool has_inf = true;

  static Format Fp32() { return {Kind::kFp32, 8, 23, 127, true}; }
  static Format Bf16() { return {Kind::kBf16, 8, 7, 127, true}; }
  static Format Fp16() { return {Kind::kFp16, 5, 10, 15, true}; }
  static Format E5M2() { return {Kind::kE5M2, 5, 2, 15, true}; }
  static Format E4M3() { return {Kind::kE4M3, 4, 3, 7, false}; }
  // e8mK, K = 1..23: fp32 exponent, K-bit mantissa (the paper's "k-bit L-Mul").
  static Format E8M(int k) { return {Kind::kE8M, 8, k, 127, true}; }

  // "fp32", "bf16", "fp16", "e5m2", "e4m3", "e8m1".."e8m23".
  static Result<Format> Parse(std::string_view name);
  std::string Name() const;
  // The list of valid names, for error messages and --help.
  static const char* ValidNames();

  int Width() const { return 1 + exp_bits + man_bits; }
  uint32_t SignBit() const { return 1u << (exp_bits + man_bits); }
  uint32_t MagnitudeMask() const { return SignBit() - 1; }
  uint32_t ExpFieldMax() const { return (1u << exp_bits) - 1; }
  // Largest finite magnitude field: 0x7E for e4m3, else the field just below Inf.
  uint32_t MaxFiniteField() const {
    return has_inf ? (ExpFieldMax() << man_bits) - 1 : MagnitudeMask() - 1;
  }
  uint32_t InfField() const { return ExpFieldMax() << man_bits; }  // has_inf only
  // Canonical NaN magnitude: exponent all-ones, mantissa MSB set (e4m3: 0x7F).
  uint32_t NanField() const {
    return has_inf ? InfField() | (1u << (man_bits - 1)) : MagnitudeMask();
  }
  int MinNormalExp() const { return 1 - bias; }  // unbiased exponent of the smallest normal
  int MaxExp() const { return MaxFiniteField() >> man_bits; }  // biased, of max finite

  bool IsNan(uint32_t code) const;
  bool IsInf(uint32_t code) const;
  // True for +-0 and subnormals (exponent field zero).
  bool IsZeroOrSubnormal(uint32_t code) const {
    return ((code & MagnitudeMask()) >> man_bits) == 0;
  }

  bool operator==(const Format&) const = default;
};

// Code of the format -> value on the fp32 carrier (exact).
float Decode(const Format& f, uint32_t code);

// fp32 value -> code of the format under a rounding mode. NaN -> NaN (sign kept);
// Inf -> Inf (e4m3: NaN); finite values per `Rounding`.
uint32_t Encode(const Format& f, float x, Rounding r);

// Rounds the exact value (-1)^negative * sig * 2^exp2 (sig < 2^63) to a code of
// the format. The common core of Encode and of exact products.
uint32_t RoundToCode(const Format& f, bool negative, uint64_t sig, int exp2, Rounding r);

// Decode(f, Encode(f, x, r)): x reduced to the format, on the fp32 carrier.
float Reduce(const Format& f, float x, Rounding r);

}  // namespace lmul

#endif  // LMUL_NUMERIC_FORMAT_H_
