// Internal: per-arithmetic constants and fast scalar operations shared by the
// elementwise and GEMM kernels. Every function here is bit-exact with the spec
// (numeric/arith.h); kernels/arith_ops_test.cc checks that.
//
// Operands are "carrier bits": the fp32 bit pattern of the operand reduced to
// the format. L-Mul on carrier bits is one add of the magnitudes for every
// format (ArithConsts::c_*, below): LMulCarrierAny is the one scalar L-Mul of the
// kernels (numeric/arith.h is the spec; its code form is the spec's own).
#ifndef LMUL_KERNELS_ARITH_OPS_H_
#define LMUL_KERNELS_ARITH_OPS_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#include "numeric/arith.h"
#include "numeric/bits.h"

namespace lmul::kernels::internal {

// Everything a kernel needs to know about one Arith, computed once per call.
struct ArithConsts {
  Arith arith;
  bool exact = false;  // op == kExact
  bool exp8 = false;   // format has the fp32 exponent (fp32, bf16, e8mK)
  bool rne = false;    // operand reduction rounds to nearest even
  int man_bits = 23;
  int shift = 0;  // 23 - man_bits (exp8 formats)
  // exact: true when a*b needs no rounding beyond fp32's (output fp32).
  bool exact_fp32_out = false;

  // The carrier form used by the SIMD kernels for EVERY format: operands are
  // carrier bits; a normal operand's fp32 pattern is (field + R) << shift with
  // R = (127 - bias) << man_bits, so L-Mul is one u32 add of the magnitudes:
  //   sum = |a| + |b|  (no u32 overflow);  product magnitude = sum - c_off
  //   sum < c_lo: underflow -> 0;  sum > c_hi: -> c_sat;  else sum - c_off.
  bool has_inf = true;
  uint32_t c_zero_lim = 0;  // carrier bits of the smallest normal: below = zero/subnormal
  uint32_t c_max_bits = 0;  // carrier bits of the largest finite value
  uint32_t c_sat = 0;       // saturated result: Inf, or e4m3's 448
  uint32_t c_off = 0;       // (offset + R) << shift
  uint32_t c_lo = 0;        // c_off + c_zero_lim
  uint32_t c_hi = 0;        // c_off + c_max_bits
  // Reduction of fp32 to the format (non-exp8 formats): below the smallest
  // normal the quantum is q = 2^(emin - man_bits).
  float q = 1.0f, inv_q = 1.0f;
};

ArithConsts MakeConsts(const Arith& arith);

// RNE rounding of a float to the format of `c.arith` (value on the carrier).
// Matches lmul::Reduce(format, x, kRne) for every x.
float RoundRneToFormat(const ArithConsts& c, float x);

// x reduced to the format (rne or trunc per the arith) as carrier bits, for
// every format: BitsFloat of it is arith.Reduce(x). NaN canonical (sign | quiet NaN).
uint32_t ReduceToCarrier(const ArithConsts& c, float x);

// lmul/mitchell on carrier operands of any format (the scalar twin of
// LMulCarrierVec in kernels/simd_ops-inl.h).
inline float LMulCarrierAny(const ArithConsts& c, uint32_t a, uint32_t b) {
  const uint32_t sign = (a ^ b) & 0x80000000u;
  const uint32_t ma = a & 0x7FFFFFFFu, mb = b & 0x7FFFFFFFu;
  const bool zero_op = ma < c.c_zero_lim || mb < c.c_zero_lim;
  if (ma > 0x7F800000u || mb > 0x7F800000u) return BitsFloat(sign | 0x7FC00000u);
  if (ma == 0x7F800000u || mb == 0x7F800000u) {
    return BitsFloat(sign | (zero_op ? 0x7FC00000u : 0x7F800000u));
  }
  const uint32_t sum = ma + mb;
  if (zero_op || sum < c.c_lo) return BitsFloat(sign);
  if (sum > c.c_hi) return BitsFloat(sign | c.c_sat);
  return BitsFloat(sign | (sum - c.c_off));
}

// exact: operands are carrier floats (already reduced).
float ExactSlow(const ArithConsts& c, float a, float b, float r);
inline float ExactProduct(const ArithConsts& c, float a, float b) {
  const float r = a * b;
  if (std::isnan(r)) return BitsFloat(((FloatBits(a) ^ FloatBits(b)) & 0x80000000u) | 0x7FC00000u);
  if (c.exact_fp32_out) return r;  // fp32 multiply is the exact product rounded rne
  return ExactSlow(c, a, b, r);
}

// The full operation on raw fp32 inputs: y = arith.Mul(x, y), bit-exact.
inline float MulOne(const ArithConsts& c, float x, float y) {
  const uint32_t a = ReduceToCarrier(c, x), b = ReduceToCarrier(c, y);
  if (c.exact) return ExactProduct(c, BitsFloat(a), BitsFloat(b));
  return LMulCarrierAny(c, a, b);
}

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_ARITH_OPS_H_
