// Internal: per-arithmetic constants and fast scalar operations shared by the
// elementwise and GEMM kernels. Every function here is bit-exact with the spec
// (numeric/arith.h); kernels/arith_ops_test.cc checks that.
//
// Two operand representations are used by the kernels:
//   - "carrier bits": the fp32 bit pattern of the operand reduced to the
//     format. For formats with an 8-bit exponent (fp32, bf16, e8mK) the code of
//     the format is exactly carrier_bits >> (23 - man_bits), so L-Mul can add
//     carrier bit patterns directly (fields scaled by 2^(23 - man_bits)).
//   - "codes": the format's own code, for lmul/mitchell on fp16, e5m2, e4m3.
#ifndef LMUL_KERNELS_ARITH_OPS_H_
#define LMUL_KERNELS_ARITH_OPS_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#include "numeric/arith.h"

namespace lmul::kernels::internal {

inline uint32_t Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float Float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// Everything a kernel needs to know about one Arith, computed once per call.
struct ArithConsts {
  Arith arith;
  bool exact = false;  // op == kExact
  bool exp8 = false;   // format has the fp32 exponent (fp32, bf16, e8mK)
  bool rne = false;    // operand reduction rounds to nearest even
  int man_bits = 23;
  int shift = 0;           // 23 - man_bits (exp8 formats)
  uint32_t code_sign = 0;  // sign bit of a code
  uint32_t code_mask = 0;  // magnitude mask of a code
  // lmul/mitchell, in the units of the representation (carrier bits for exp8,
  // code fields otherwise):
  int64_t offset = 0;      // subtracted constant
  int64_t min_field = 0;   // smallest normal field: sums below flush to zero
  int64_t max_field = 0;   // largest finite field: sums above saturate
  uint32_t sat_field = 0;  // Inf field (e4m3: max finite)
  uint32_t nan_field = 0;  // canonical NaN magnitude, in representation units
  // Non-exp8 formats: fp32 bit pattern of every magnitude field (code_mask + 1 entries).
  const uint32_t* decode_table = nullptr;
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

// Operand x reduced to the format, as carrier bits (exp8 or exact) or code.
// NaN results are canonical (sign | NaN field).
uint32_t EncodeOperand(const ArithConsts& c, float x);

// RNE rounding of a float to the format of `c.arith` (value on the carrier).
// Matches lmul::Reduce(format, x, kRne) for every x.
float RoundRneToFormat(const ArithConsts& c, float x);

// RNE rounding of a float to bf16 (the bf16 accumulator). NaN -> canonical quiet NaN.
inline float RoundBf16(float x) {
  const uint32_t u = Bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return Float((u & 0x80000000u) | 0x7FC00000u);
  return Float((u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u);
}

// Product of two operands in the kernel representation; returns the fp32 result.
// lmul/mitchell on exp8: operands are carrier bits.
inline float LMulCarrier(const ArithConsts& c, uint32_t a, uint32_t b) {
  const uint32_t sign = (a ^ b) & 0x80000000u;
  const uint32_t ma = a & 0x7FFFFFFFu, mb = b & 0x7FFFFFFFu;
  if (ma >= 0x7F800000u || mb >= 0x7F800000u) {  // Inf or NaN
    if (ma > 0x7F800000u || mb > 0x7F800000u) return Float(sign | 0x7FC00000u);
    if (ma < 0x00800000u || mb < 0x00800000u) return Float(sign | 0x7FC00000u);
    return Float(sign | 0x7F800000u);
  }
  if (ma < 0x00800000u || mb < 0x00800000u) return Float(sign);
  const int64_t s = static_cast<int64_t>(ma) + mb - c.offset;
  if (s < c.min_field) return Float(sign);
  if (s > c.max_field) return Float(sign | 0x7F800000u);
  return Float(sign | static_cast<uint32_t>(s));
}

// lmul/mitchell on fp16/e5m2/e4m3: operands are codes.
inline float LMulCode(const ArithConsts& c, uint32_t a, uint32_t b) {
  const uint32_t sign32 = ((a ^ b) & c.code_sign) ? 0x80000000u : 0u;
  const uint32_t ma = a & c.code_mask, mb = b & c.code_mask;
  const uint32_t special =
      c.arith.format.has_inf ? (c.sat_field) : c.code_mask;  // Inf or NaN from here
  const uint32_t zero_lim = 1u << c.man_bits;
  if (ma >= special || mb >= special) {
    const uint32_t nan = sign32 | 0x7FC00000u;
    if (!c.arith.format.has_inf) return Float(nan);  // e4m3: only NaN
    if (ma > special || mb > special) return Float(nan);
    if (ma < zero_lim || mb < zero_lim) return Float(nan);
    return Float(sign32 | 0x7F800000u);
  }
  if (ma < zero_lim || mb < zero_lim) return Float(sign32);
  const int64_t s = static_cast<int64_t>(ma) + mb - c.offset;
  if (s < c.min_field) return Float(sign32);
  const uint32_t field = s > c.max_field ? c.sat_field : static_cast<uint32_t>(s);
  return Float(sign32 | c.decode_table[field]);
}

// x reduced to the format (rne or trunc per the arith) as carrier bits, for
// every format. NaN canonical.
uint32_t ReduceToCarrier(const ArithConsts& c, float x);

// lmul/mitchell on carrier operands of any format (the scalar twin of
// LMulCarrierVec in kernels/simd_ops-inl.h).
inline float LMulCarrierAny(const ArithConsts& c, uint32_t a, uint32_t b) {
  const uint32_t sign = (a ^ b) & 0x80000000u;
  const uint32_t ma = a & 0x7FFFFFFFu, mb = b & 0x7FFFFFFFu;
  const bool zero_op = ma < c.c_zero_lim || mb < c.c_zero_lim;
  if (ma > 0x7F800000u || mb > 0x7F800000u) return Float(sign | 0x7FC00000u);
  if (ma == 0x7F800000u || mb == 0x7F800000u) {
    return Float(sign | (zero_op ? 0x7FC00000u : 0x7F800000u));
  }
  const uint32_t sum = ma + mb;
  if (zero_op || sum < c.c_lo) return Float(sign);
  if (sum > c.c_hi) return Float(sign | c.c_sat);
  return Float(sign | (sum - c.c_off));
}

// exact: operands are carrier floats (already reduced).
float ExactSlow(const ArithConsts& c, float a, float b, float r);
inline float ExactProduct(const ArithConsts& c, float a, float b) {
  const float r = a * b;
  if (std::isnan(r)) return Float(((Bits(a) ^ Bits(b)) & 0x80000000u) | 0x7FC00000u);
  if (c.exact_fp32_out) return r;  // fp32 multiply is the exact product rounded rne
  return ExactSlow(c, a, b, r);
}

// The full operation on raw fp32 inputs: y = arith.Mul(x, y), bit-exact.
inline float MulOne(const ArithConsts& c, float x, float y) {
  const uint32_t a = EncodeOperand(c, x), b = EncodeOperand(c, y);
  if (c.exact) return ExactProduct(c, Float(a), Float(b));
  if (c.exp8) return LMulCarrier(c, a, b);
  return LMulCode(c, a, b);
}

// The Highway target the dispatched kernels run on (HWY_AVX3, ...); tests use
// hwy::SetSupportedTargetsForTest to run every target the CPU supports.
int64_t DispatchedTarget();

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_ARITH_OPS_H_
