#include "kernels/arith_ops.h"

#include <vector>

namespace lmul::kernels::internal {
ArithConsts MakeConsts(const Arith& arith) {
  ArithConsts c;
  const Format& f = arith.format;
  c.arith = arith;
  c.exact = arith.op == Op::kExact;
  c.exp8 = f.exp_bits == 8;
  c.rne = arith.reduce == Rounding::kRne;
  c.man_bits = f.man_bits;
  c.shift = c.exp8 ? 23 - f.man_bits : 0;
  c.exact_fp32_out = c.exact && (arith.wide || f.kind == Format::Kind::kFp32);
  c.has_inf = f.has_inf;
  c.c_zero_lim = FloatBits(std::ldexp(1.0f, f.MinNormalExp()));
  c.c_max_bits = FloatBits(Decode(f, f.MaxFiniteField()));
  c.c_sat = f.has_inf ? 0x7F800000u : c.c_max_bits;
  const uint32_t r = static_cast<uint32_t>(127 - f.bias) << f.man_bits;
  const int shift = 23 - f.man_bits;
  c.c_off = (arith.Offset() + r) << shift;
  c.c_lo = c.c_off + c.c_zero_lim;
  c.c_hi = c.c_off + c.c_max_bits;
  c.q = std::ldexp(1.0f, f.MinNormalExp() - f.man_bits);
  c.inv_q = std::ldexp(1.0f, f.man_bits - f.MinNormalExp());
  return c;
}

uint32_t ReduceToCarrier(const ArithConsts& c, float x) {
  if (c.exp8) {  // the fp32 exponent: reduction is a rounding of the mantissa bits
    const uint32_t u = FloatBits(x);
    const uint32_t sign = u & 0x80000000u;
    uint32_t mag = u & 0x7FFFFFFFu;
    if (mag > 0x7F800000u) return sign | 0x7FC00000u;
    if (c.shift == 0) return u;
    const uint32_t low = (1u << c.shift) - 1;
    if (c.rne) mag += (low >> 1) + ((mag >> c.shift) & 1u);
    return sign | (mag & ~low);
  }
  return FloatBits(Reduce(c.arith.format, x, c.arith.reduce));
}

float RoundRneToFormat(const ArithConsts& c, float x) {
  const Format& f = c.arith.format;
  const uint32_t u = FloatBits(x);
  const uint32_t sign = u & 0x80000000u;
  uint32_t mag = u & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return BitsFloat(sign | 0x7FC00000u);
  if (mag == 0x7F800000u) return BitsFloat(sign | (f.has_inf ? 0x7F800000u : 0x7FC00000u));
  const int shift = 23 - f.man_bits;
  if (c.exp8) {
    if (shift == 0) return x;
    const uint32_t low = (1u << shift) - 1;
    mag = (mag + (low >> 1) + ((mag >> shift) & 1u)) & ~low;
    return BitsFloat(sign | mag);
  }
  const int emin = 1 - f.bias;
  const int e = static_cast<int>(mag >> 23) - 127;
  if (e >= emin) {
    const uint32_t low = (1u << shift) - 1;
    mag = (mag + (low >> 1) + ((mag >> shift) & 1u)) & ~low;
  } else {
    const float q = std::ldexp(1.0f, emin - f.man_bits);
    mag = FloatBits(std::nearbyint(BitsFloat(mag) / q) * q);
  }
  const uint32_t max_bits = FloatBits(Decode(f, f.MaxFiniteField()));
  if (mag > max_bits) mag = f.has_inf ? 0x7F800000u : max_bits;
  return BitsFloat(sign | mag);
}

float ExactSlow(const ArithConsts& c, float a, float b, float r) {
  const double d = static_cast<double>(a) * static_cast<double>(b);
  if (static_cast<double>(r) == d) return RoundRneToFormat(c, r);
  const Format& f = c.arith.format;
  const uint32_t ca = Encode(f, a, Rounding::kRne), cb = Encode(f, b, Rounding::kRne);
  return Decode(f, ExactMulCodes(f, ca, cb, f));
}

}  // namespace lmul::kernels::internal
