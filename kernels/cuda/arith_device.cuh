// The arithmetic spec on the GPU: a line-by-line port of numeric/format.cc and
// numeric/arith.cc (Encode, Decode, RoundToCode, AddFieldsCodes, ExactMulCodes) to
// __device__ code, plus the fast form the GEMM inner loop uses on operands already
// reduced to the format (LMulReduced). The port is not the spec: lmul_cuda_test checks it
// bit for bit against the host reference (exhaustively where the domain is small).
#ifndef LMUL_KERNELS_CUDA_ARITH_DEVICE_CUH_
#define LMUL_KERNELS_CUDA_ARITH_DEVICE_CUH_

#include <cstdint>

#include "numeric/arith.h"
#include "numeric/bits.h"

namespace lmul::kernels::cuda::dev {

// lmul::Format as a trivially copyable kernel argument.
struct Fmt {
  int exp_bits, man_bits, bias;
  bool has_inf;

  __host__ __device__ uint32_t SignBit() const { return 1u << (exp_bits + man_bits); }
  __host__ __device__ uint32_t MagnitudeMask() const { return SignBit() - 1; }
  __host__ __device__ uint32_t ExpFieldMax() const { return (1u << exp_bits) - 1; }
  __host__ __device__ uint32_t MaxFiniteField() const {
    return has_inf ? (ExpFieldMax() << man_bits) - 1 : MagnitudeMask() - 1;
  }
  __host__ __device__ uint32_t InfField() const { return ExpFieldMax() << man_bits; }
  __host__ __device__ uint32_t NanField() const {
    return has_inf ? InfField() | (1u << (man_bits - 1)) : MagnitudeMask();
  }
  __host__ __device__ int MinNormalExp() const { return 1 - bias; }
  __host__ __device__ bool IsNan(uint32_t code) const {
    const uint32_t mag = code & MagnitudeMask();
    return has_inf ? mag > InfField() : mag == MagnitudeMask();
  }
  __host__ __device__ bool IsInf(uint32_t code) const {
    return has_inf && (code & MagnitudeMask()) == InfField();
  }
  __host__ __device__ bool IsZeroOrSubnormal(uint32_t code) const {
    return ((code & MagnitudeMask()) >> man_bits) == 0;
  }
};

// lmul::Arith as a kernel argument, with the constants of the fast forms.
struct DevArith {
  Fmt fmt;          // operand format
  Fmt out;          // OutputFormat(): fp32 for exact+wide
  Op op;            // kLMul, kMitchell, kExact
  bool rne;         // operand reduction: rne (else trunc)
  uint32_t offset;  // Offset(): the constant subtracted from the magnitude fields
  // LMulReduced on fp32 carriers (docs/kernels.md §7): a carrier magnitude is
  // (field << (23 - M)) + ((127 - bias) << 23), so the field sum minus `offset` is the
  // carrier sum minus carrier_offset.
  uint32_t carrier_offset;   // (offset << (23 - M)) + ((127 - bias) << 23)
  uint32_t min_normal_bits;  // carrier of the smallest normal: smaller = zero operand
  uint32_t underflow_sum;    // carrier_offset + min_normal_bits: smaller sum = zero result
  uint32_t max_finite_bits;  // carrier of the largest finite value
  uint32_t overflow_bits;    // result above it: Inf (e4m3: the largest finite)
  bool clamp_overflow;       // overflow = min(result, overflow_bits): e8 formats and e4m3
  // Reduce of formats with a narrower exponent (fp16, e5m2, e4m3) below their smallest
  // normal: |x| * sub_scale rounded to an integer n (exact scaling), then n * sub_quantum.
  float sub_scale;    // 2^(M - emin)
  float sub_quantum;  // 2^(emin - M): one unit of the format's subnormals
};

inline Fmt ToFmt(const Format& f) { return Fmt{f.exp_bits, f.man_bits, f.bias, f.has_inf}; }

DevArith MakeDevArith(const Arith& a);  // lmul_cuda.cu (host)

// ---- format.cc ----

__device__ __forceinline__ float Decode(const Fmt& f, uint32_t code) {
  const uint32_t sign = (code & f.SignBit()) ? 0x80000000u : 0u;
  const uint32_t mag = code & f.MagnitudeMask();
  if (f.IsNan(code)) return __uint_as_float(sign | 0x7FC00000u);
  if (f.IsInf(code)) return __uint_as_float(sign | 0x7F800000u);
  if (f.exp_bits == 8) return __uint_as_float(sign | (mag << (23 - f.man_bits)));
  const uint32_t exp_field = mag >> f.man_bits;
  const uint32_t man = mag & ((1u << f.man_bits) - 1);
  const uint32_t sig = exp_field == 0 ? man : (man | (1u << f.man_bits));
  const int e = (exp_field == 0 ? 1 : static_cast<int>(exp_field)) - f.bias - f.man_bits;
  if (sig == 0) return __uint_as_float(sign);
  const int msb = 31 - __clz(sig);
  const int unbiased = e + msb;
  const uint32_t frac = (sig << (23 - msb)) & 0x7FFFFFu;
  return __uint_as_float(sign | (static_cast<uint32_t>(unbiased + 127) << 23) | frac);
}

__device__ __forceinline__ uint32_t RoundToCode(const Fmt& f, bool negative, uint64_t sig, int exp2,
                                                bool rne) {
  const uint32_t sign = negative ? f.SignBit() : 0u;
  if (sig == 0) return sign;
  const int m = f.man_bits;
  const int msb = 63 - __clzll(static_cast<long long>(sig));
  const int e = exp2 + msb;
  const int emin = f.MinNormalExp();
  const int quantum = (e < emin ? emin : e) - m;
  const int shift = quantum - exp2;
  uint64_t n;
  if (shift <= 0) {
    n = sig << (-shift);
  } else if (shift >= 64) {
    n = 0;
  } else {
    n = sig >> shift;
    if (rne) {
      const uint64_t rem = sig & ((uint64_t{1} << shift) - 1);
      const uint64_t half = uint64_t{1} << (shift - 1);
      if (rem > half || (rem == half && (n & 1))) ++n;
    }
  }
  int64_t field;
  if (e < emin) {
    field = static_cast<int64_t>(n);
  } else {
    field = (static_cast<int64_t>(e + f.bias) << m) + static_cast<int64_t>(n) - (int64_t{1} << m);
  }
  if (field > static_cast<int64_t>(f.MaxFiniteField())) {
    if (!rne || !f.has_inf) return sign | f.MaxFiniteField();
    return sign | f.InfField();
  }
  return sign | static_cast<uint32_t>(field);
}

__device__ __forceinline__ uint32_t Encode(const Fmt& f, float x, bool rne) {
  const uint32_t bits = __float_as_uint(x);
  const bool negative = bits >> 31;
  const uint32_t sign = negative ? f.SignBit() : 0u;
  const uint32_t exp_field = (bits >> 23) & 0xFF;
  const uint32_t frac = bits & 0x7FFFFF;
  if (exp_field == 0xFF) {
    if (frac != 0 || !f.has_inf) return sign | f.NanField();
    return sign | f.InfField();
  }
  if (exp_field == 0) return RoundToCode(f, negative, frac, -149, rne);
  return RoundToCode(f, negative, frac | 0x800000u, static_cast<int>(exp_field) - 150, rne);
}

// Decode(Encode(x)) without leaving the fp32 carrier. In the format's normal range the
// value keeps the top 9 + M bits of its pattern, after adding the rne increment (a carry
// into the exponent is the rounding up to the next binade); above the largest finite it
// saturates (trunc, or e4m3) or becomes Inf (rne). Formats with the fp32 exponent (fp32,
// bf16, e8mK) have no other range: their subnormals are fp32's. Narrower exponents (fp16,
// e5m2, e4m3) round smaller magnitudes to a multiple of their subnormal unit.
__device__ __forceinline__ float Reduce(const DevArith& a, float x) {
  const uint32_t bits = __float_as_uint(x);
  const uint32_t sign = bits & 0x80000000u;
  const uint32_t mag = bits & 0x7FFFFFFFu;
  if (mag > 0x7F800000u) return __uint_as_float(sign | 0x7FC00000u);  // NaN
  if (mag == 0x7F800000u) return a.fmt.has_inf ? x : __uint_as_float(sign | 0x7FC00000u);
  const bool e8 = a.fmt.exp_bits == 8;
  if (e8 || mag >= a.min_normal_bits) {
    const int drop = 23 - a.fmt.man_bits;
    const uint32_t mask = (1u << drop) - 1;  // drop == 0 (fp32): mask 0, no change
    uint32_t r = mag;
    if (a.rne && drop > 0) r += (mask >> 1) + ((mag >> drop) & 1u);
    r &= ~mask;
    if (!e8 && r > a.max_finite_bits) {
      r = (a.rne && a.fmt.has_inf) ? 0x7F800000u : a.max_finite_bits;
    }
    return __uint_as_float(sign | r);
  }
  const float scaled = __uint_as_float(mag) * a.sub_scale;  // < 2^M, exact
  const float n = a.rne ? rintf(scaled) : truncf(scaled);
  return __uint_as_float(sign | __float_as_uint(n * a.sub_quantum));
}

// The bf16 accumulator step: numeric/bits.h's RoundBf16, the one home of the rounding
// (a constexpr host function, callable here with --expt-relaxed-constexpr, which
// kernels/cuda/CMakeLists.txt sets), and FlushSubnormal (FTZ/DAZ).
__device__ __forceinline__ float RoundBf16Rne(float x) { return ::lmul::RoundBf16(x); }
__device__ __forceinline__ float FlushSubnormal(float x) {
  return (__float_as_uint(x) & 0x7FFFFFFFu) < 0x00800000u
             ? __uint_as_float(__float_as_uint(x) & 0x80000000u)
             : x;
}

// ---- arith.cc ----

__device__ __forceinline__ uint32_t AddFieldsCodes(const Fmt& f, uint32_t a, uint32_t b,
                                                   uint32_t c) {
  const uint32_t sign = (a ^ b) & f.SignBit();
  const uint32_t nan = sign | f.NanField();
  if (f.IsNan(a) || f.IsNan(b)) return nan;
  const bool a_zero = f.IsZeroOrSubnormal(a);
  const bool b_zero = f.IsZeroOrSubnormal(b);
  if (f.IsInf(a) || f.IsInf(b)) return (a_zero || b_zero) ? nan : sign | f.InfField();
  if (a_zero || b_zero) return sign;
  const int64_t s = static_cast<int64_t>(a & f.MagnitudeMask()) +
                    static_cast<int64_t>(b & f.MagnitudeMask()) - static_cast<int64_t>(c);
  if (s < (int64_t{1} << f.man_bits)) return sign;
  if (s > static_cast<int64_t>(f.MaxFiniteField())) {
    return sign | (f.has_inf ? f.InfField() : f.MaxFiniteField());
  }
  return sign | static_cast<uint32_t>(s);
}

__device__ __forceinline__ void SplitFinite(const Fmt& f, uint32_t code, uint64_t* sig, int* exp2) {
  const uint32_t mag = code & f.MagnitudeMask();
  const uint32_t exp_field = mag >> f.man_bits;
  const uint32_t man = mag & ((1u << f.man_bits) - 1);
  *sig = exp_field == 0 ? man : (man | (1u << f.man_bits));
  *exp2 = (exp_field == 0 ? 1 : static_cast<int>(exp_field)) - f.bias - f.man_bits;
}

__device__ __forceinline__ uint32_t ExactMulCodes(const Fmt& in, uint32_t a, uint32_t b,
                                                  const Fmt& out) {
  const bool negative = ((a ^ b) & in.SignBit()) != 0;
  const uint32_t sign = negative ? out.SignBit() : 0u;
  if (in.IsNan(a) || in.IsNan(b)) return sign | out.NanField();
  const bool a_zero = (a & in.MagnitudeMask()) == 0;
  const bool b_zero = (b & in.MagnitudeMask()) == 0;
  if (in.IsInf(a) || in.IsInf(b)) {
    if (a_zero || b_zero) return sign | out.NanField();
    return sign | (out.has_inf ? out.InfField() : out.MaxFiniteField());
  }
  uint64_t sa, sb;
  int ea, eb;
  SplitFinite(in, a, &sa, &ea);
  SplitFinite(in, b, &sb, &eb);
  return RoundToCode(out, negative, sa * sb, ea + eb, /*rne=*/true);
}

// L-Mul / Mitchell of two operands already reduced to the format, on fp32 carriers:
// AddFieldsCodes without leaving the carrier. Equal to Arith::MulReduced (tested).
__device__ __forceinline__ float LMulReduced(const DevArith& a, float x, float y) {
  const uint32_t ux = __float_as_uint(x), uy = __float_as_uint(y);
  const uint32_t sign = (ux ^ uy) & 0x80000000u;
  const uint32_t ax = ux & 0x7FFFFFFFu, ay = uy & 0x7FFFFFFFu;
  const uint32_t sum = ax + ay;  // both finite: < 2^32
  uint32_t r = sum - a.carrier_offset;
  r = sum < a.underflow_sum ? 0u : r;
  r = r > a.max_finite_bits ? a.overflow_bits : r;
  r = (ax < a.min_normal_bits || ay < a.min_normal_bits) ? 0u : r;
  if (max(ax, ay) >= 0x7F800000u) {  // Inf or NaN operand (rare)
    const bool nan =
        ax > 0x7F800000u || ay > 0x7F800000u || ax < a.min_normal_bits || ay < a.min_normal_bits;
    r = nan ? 0x7FC00000u : 0x7F800000u;
  }
  return __uint_as_float(sign | r);
}

// LMulReduced for operands that are neither Inf nor NaN (the GEMM's tiles without
// specials; elementwise pairs without them), mostly on the integer pipe:
//   t = |x| + |y| - carrier_offset - min_normal_bits, the result's carrier offset from the
//   smallest normal: in [0, max - min normal] when the result is normal, above it (below
//   0xC0000000) on overflow, wrapped to 0xC0000000 or more on underflow (the sum is at least
//   2 min normal and carrier_offset at most 0x3F800000).
// kClamp (clamp_overflow: the fp32-exponent formats, whose Inf is the carrier right after the
// largest finite since the result's low 23 - M bits are zero, and e4m3, which saturates): the
// overflow is min(t, overflow - min normal); otherwise a compare and select.
// Sign and zero operands go to the fp32 pipe: the magnitude times f(x) * f(y) with f = +-1,
// or +-0 for a zero or subnormal operand (exact; the sign is sign(x) xor sign(y) also for
// zero results).
// 5 (kClamp) or 6 integer operations and 2 multiplies per product, the per-operand parts
// hoisted by the compiler out of the 4 x 4 tile.
__device__ __forceinline__ float SignZeroFactor(const DevArith& a, float x) {
  const uint32_t u = __float_as_uint(x);
  return __uint_as_float((u & 0x80000000u) |
                         ((u & 0x7FFFFFFFu) < a.min_normal_bits ? 0u : 0x3F800000u));
}

template <bool kClamp>
__device__ __forceinline__ float LMulReducedFinite(const DevArith& a, float x, float y) {
  // A zero or subnormal operand counts as the smallest normal here (its factor zeroes the
  // result): then t stays in the three regions above and the magnitude stays finite.
  const uint32_t mx = max(__float_as_uint(x) & 0x7FFFFFFFu, a.min_normal_bits);
  const uint32_t my = max(__float_as_uint(y) & 0x7FFFFFFFu, a.min_normal_bits);
  const uint32_t t = mx + my - a.underflow_sum;
  uint32_t r;
  if constexpr (kClamp) {
    r = min(t, a.overflow_bits - a.min_normal_bits) + a.min_normal_bits;
  } else {
    r = t + a.min_normal_bits;
    r = t > a.max_finite_bits - a.min_normal_bits ? a.overflow_bits : r;
  }
  r = t >= 0xC0000000u ? 0u : r;
  return __fmul_rn(__uint_as_float(r), __fmul_rn(SignZeroFactor(a, x), SignZeroFactor(a, y)));
}

// Exact product of reduced operands kept in fp32 (exact/fp32, exact/*,wide): the IEEE
// product (rne, subnormals kept), except that a NaN result is sign(x^y) | 0x7FC00000.
__device__ __forceinline__ float ExactWideReduced(float x, float y) {
  const uint32_t ux = __float_as_uint(x), uy = __float_as_uint(y);
  const uint32_t ax = ux & 0x7FFFFFFFu, ay = uy & 0x7FFFFFFFu;
  const bool nan = ax > 0x7F800000u || ay > 0x7F800000u || (ax == 0x7F800000u && ay == 0) ||
                   (ay == 0x7F800000u && ax == 0);
  if (nan) return __uint_as_float(((ux ^ uy) & 0x80000000u) | 0x7FC00000u);
  return __fmul_rn(x, y);
}

// Arith::MulReduced: the product of two operands representable in the format.
template <int kKind>
__device__ __forceinline__ float MulReduced(const DevArith& a, float x, float y);

// The three forms the kernels are instantiated for.
enum Kind : int { kLMulFast = 0, kExactWide = 1, kGeneral = 2 };

template <>
__device__ __forceinline__ float MulReduced<kLMulFast>(const DevArith& a, float x, float y) {
  return LMulReduced(a, x, y);
}
template <>
__device__ __forceinline__ float MulReduced<kExactWide>(const DevArith&, float x, float y) {
  return ExactWideReduced(x, y);
}
template <>
__device__ __forceinline__ float MulReduced<kGeneral>(const DevArith& a, float x, float y) {
  const uint32_t cx = Encode(a.fmt, x, true), cy = Encode(a.fmt, y, true);
  const uint32_t code = a.op == Op::kExact ? ExactMulCodes(a.fmt, cx, cy, a.out)
                                           : AddFieldsCodes(a.fmt, cx, cy, a.offset);
  return Decode(a.out, code);
}

}  // namespace lmul::kernels::cuda::dev

#endif  // LMUL_KERNELS_CUDA_ARITH_DEVICE_CUH_
