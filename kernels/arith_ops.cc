#include "kernels/arith_ops.h"

#include <vector>

namespace lmul::kernels::internal {
namespace {

const uint32_t* DecodeTable(const Format& f) {
  auto build = [](const Format& fmt) {
    std::vector<uint32_t> t(fmt.MagnitudeMask() + 1);
    for (uint32_t m = 0; m <= fmt.MagnitudeMask(); ++m) t[m] = Bits(Decode(fmt, m));
    return t;
  };
  switch (f.kind) {
    case Format::Kind::kFp16: {
      static const std::vector<uint32_t> t = build(Format::Fp16());
      return t.data();
    }
    case Format::Kind::kE5M2: {
      static const std::vector<uint32_t> t = build(Format::E5M2());
      return t.data();
    }
    case Format::Kind::kE4M3: {
      static const std::vector<uint32_t> t = build(Format::E4M3());
      return t.data();
    }
    default:
      return nullptr;
  }
}

}  // namespace

ArithConsts MakeConsts(const Arith& arith) {
  ArithConsts c;
  const Format& f = arith.format;
  c.arith = arith;
  c.exact = arith.op == Op::kExact;
  c.exp8 = f.exp_bits == 8;
  c.rne = arith.reduce == Rounding::kRne;
  c.man_bits = f.man_bits;
  c.shift = c.exp8 ? 23 - f.man_bits : 0;
  c.code_sign = f.SignBit();
  c.code_mask = f.MagnitudeMask();
  const int s = c.shift;
  c.offset = static_cast<int64_t>(arith.Offset()) << s;
  c.min_field = (int64_t{1} << f.man_bits) << s;
  c.max_field = static_cast<int64_t>(f.MaxFiniteField()) << s;
  c.sat_field = f.has_inf ? f.InfField() : f.MaxFiniteField();
  c.nan_field = f.NanField() << s;
  c.decode_table = c.exp8 ? nullptr : DecodeTable(f);
  c.exact_fp32_out = c.exact && (arith.wide || f.kind == Format::Kind::kFp32);
  c.has_inf = f.has_inf;
  c.c_zero_lim = Bits(std::ldexp(1.0f, f.MinNormalExp()));
  c.c_max_bits = Bits(Decode(f, f.MaxFiniteField()));
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

uint32_t EncodeOperand(const ArithConsts& c, float x) {
  const Format& f = c.arith.format;
  if (c.exp8) {
    const uint32_t u = Bits(x);
    const uint32_t sign = u & 0x80000000u;
    uint32_t mag = u & 0x7FFFFFFFu;
    if (mag > 0x7F800000u) return sign | 0x7FC00000u;
    if (c.shift == 0) return u;
    const uint32_t low = (1u << c.shift) - 1;
    if (c.rne) mag += (low >> 1) + ((mag >> c.shift) & 1u);
    return sign | (mag & ~low);
  }
  if (c.exact) return Bits(Reduce(f, x, c.arith.reduce));
  return Encode(f, x, c.arith.reduce);
}

uint32_t ReduceToCarrier(const ArithConsts& c, float x) {
  if (c.exp8) return EncodeOperand(c, x);
  return Bits(Reduce(c.arith.format, x, c.arith.reduce));
}

float RoundRneToFormat(const ArithConsts& c, float x) {
  const Format& f = c.arith.format;
  const uint32_t u = Bits(x);
  const uint32_t sign = u & 0x80000000u;
  uint32_t mag = u & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return Float(sign | 0x7FC00000u);
  if (mag == 0x7F800000u) return Float(sign | (f.has_inf ? 0x7F800000u : 0x7FC00000u));
  const int shift = 23 - f.man_bits;
  if (c.exp8) {
    if (shift == 0) return x;
    const uint32_t low = (1u << shift) - 1;
    mag = (mag + (low >> 1) + ((mag >> shift) & 1u)) & ~low;
    return Float(sign | mag);
  }
  const int emin = 1 - f.bias;
  const int e = static_cast<int>(mag >> 23) - 127;
  if (e >= emin) {
    const uint32_t low = (1u << shift) - 1;
    mag = (mag + (low >> 1) + ((mag >> shift) & 1u)) & ~low;
  } else {
    const float q = std::ldexp(1.0f, emin - f.man_bits);
    mag = Bits(std::nearbyint(Float(mag) / q) * q);
  }
  const uint32_t max_bits = Bits(Decode(f, f.MaxFiniteField()));
  if (mag > max_bits) mag = f.has_inf ? 0x7F800000u : max_bits;
  return Float(sign | mag);
}

float ExactSlow(const ArithConsts& c, float a, float b, float r) {
  const double d = static_cast<double>(a) * static_cast<double>(b);
  if (static_cast<double>(r) == d) return RoundRneToFormat(c, r);
  const Format& f = c.arith.format;
  const uint32_t ca = Encode(f, a, Rounding::kRne), cb = Encode(f, b, Rounding::kRne);
  return Decode(f, ExactMulCodes(f, ca, cb, f));
}

}  // namespace lmul::kernels::internal
