// Per-target vector operations of the spec on the fp32 carrier (Highway).
// Included once per target by files that use foreach_target.h; every function
// here is bit-exact with numeric/arith.h (see kernels/elementwise_test.cc).
//
// Representation: kernels/arith_ops.h "carrier form" (ArithConsts::c_*).

// Per-target include guard (Highway's pattern).
#if defined(LMUL_KERNELS_SIMD_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LMUL_KERNELS_SIMD_OPS_INL_H_
#undef LMUL_KERNELS_SIMD_OPS_INL_H_
#else
#define LMUL_KERNELS_SIMD_OPS_INL_H_
#endif

#include "hwy/highway.h"
#include "kernels/arith_ops.h"

HWY_BEFORE_NAMESPACE();
namespace lmul::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Broadcast constants of one arithmetic, built once per call (outside loops).
template <class D>
struct VecConsts {
  using V = hn::Vec<D>;
  explicit VecConsts(D d, const internal::ArithConsts& c)
      : sign(hn::Set(d, static_cast<int32_t>(0x80000000u))),
        abs(hn::Set(d, 0x7FFFFFFF)),
        inf(hn::Set(d, 0x7F800000)),
        qnan(hn::Set(d, 0x7FC00000)),
        low(hn::Set(d, static_cast<int32_t>((1u << (23 - c.man_bits)) - 1))),
        half(hn::Set(d, static_cast<int32_t>(((1u << (23 - c.man_bits)) - 1) >> 1))),
        one(hn::Set(d, 1)),
        zero_lim(hn::Set(d, static_cast<int32_t>(c.c_zero_lim))),
        max_bits(hn::Set(d, static_cast<int32_t>(c.c_max_bits))),
        sat(hn::Set(d, static_cast<int32_t>(c.c_sat))),
        off(hn::Set(d, static_cast<int32_t>(c.c_off))),
        lo_flipped(hn::Set(d, static_cast<int32_t>(c.c_lo ^ 0x80000000u))),
        hi_flipped(hn::Set(d, static_cast<int32_t>(c.c_hi ^ 0x80000000u))),
        tiny(hn::Set(d, 0x0D800000)),  // 2^-100
        shift(23 - c.man_bits),
        exp8(c.exp8),
        rne(c.rne),
        has_inf(c.has_inf) {
    const hn::Rebind<float, D> df;
    q = hn::BitCast(d, hn::Set(df, c.q));
    inv_q = hn::BitCast(d, hn::Set(df, c.inv_q));
  }
  V sign, abs, inf, qnan, low, half, one, zero_lim, max_bits, sat, off, lo_flipped, hi_flipped,
      tiny, q, inv_q;
  int shift;
  bool exp8, rne, has_inf;
};

// fp32 bit patterns (as i32) -> operands reduced to the format (carrier bits),
// rounding `rne` or toward zero; NaN canonical. Matches lmul::Reduce.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ReduceCarrier(D d, const VecConsts<D>& k, V u, bool rne) {
  const hn::Rebind<float, D> df;
  const V sign = hn::And(u, k.sign);
  V mag = hn::And(u, k.abs);
  auto is_nan = hn::Gt(mag, k.inf);
  if (k.shift != 0) {
    V rounded = mag;
    if (rne) {
      const V lsb = hn::And(hn::ShiftRightSame(mag, k.shift), k.one);
      rounded = hn::Add(rounded, hn::Add(k.half, lsb));
    }
    rounded = hn::AndNot(k.low, rounded);
    if (k.exp8) {
      mag = rounded;  // overflow rounds to Inf (rne) or stays finite (trunc)
    } else {
      const auto finite = hn::Lt(mag, k.inf);
      // Below the smallest normal: round |x| / q to an integer, scale back.
      const auto fx = hn::Mul(hn::BitCast(df, mag), hn::BitCast(df, k.inv_q));
      const auto fr = rne ? hn::Round(fx) : hn::Trunc(fx);
      const V sub = hn::BitCast(d, hn::Mul(fr, hn::BitCast(df, k.q)));
      mag = hn::IfThenElse(hn::Lt(mag, k.zero_lim), sub, rounded);
      const V over_to = (rne && k.has_inf) ? k.inf : k.max_bits;
      mag = hn::IfThenElse(hn::And(finite, hn::Gt(mag, k.max_bits)), over_to, mag);
      if (!k.has_inf) is_nan = hn::Or(is_nan, hn::Eq(hn::And(u, k.abs), k.inf));  // Inf -> NaN
    }
  }
  mag = hn::IfThenElse(is_nan, k.qnan, mag);
  return hn::Or(sign, mag);
}

// L-Mul / Mitchell on carrier operands (any finite or special values; with
// kSpecials = false the caller guarantees there is no Inf/NaN operand).
template <bool kSpecials = true, class D, class V = hn::Vec<D>>
HWY_INLINE V LMulCarrierVec(D /*d*/, const VecConsts<D>& k, V a, V b) {
  const V sign = hn::And(hn::Xor(a, b), k.sign);
  const V ma = hn::And(a, k.abs), mb = hn::And(b, k.abs);
  const V sum = hn::Add(ma, mb);               // < 2^32 as u32
  const V sum_flipped = hn::Xor(sum, k.sign);  // u32 order as i32 order
  V mag = hn::Sub(sum, k.off);
  mag = hn::IfThenElse(hn::Gt(sum_flipped, k.hi_flipped), k.sat, mag);
  const auto zero = hn::Or(hn::Or(hn::Lt(ma, k.zero_lim), hn::Lt(mb, k.zero_lim)),
                           hn::Lt(sum_flipped, k.lo_flipped));
  mag = hn::IfThenZeroElse(zero, mag);
  if constexpr (!kSpecials) return hn::Or(sign, mag);
  // Specials (Inf only exists for has_inf formats; NaN is canonical already).
  const auto a_inf = hn::Eq(ma, k.inf), b_inf = hn::Eq(mb, k.inf);
  const auto any_inf = hn::Or(a_inf, b_inf);
  mag = hn::IfThenElse(any_inf, k.inf, mag);
  const auto zero_op = hn::Or(hn::Lt(ma, k.zero_lim), hn::Lt(mb, k.zero_lim));
  const auto nan = hn::Or(hn::Or(hn::Gt(ma, k.inf), hn::Gt(mb, k.inf)), hn::And(any_inf, zero_op));
  mag = hn::IfThenElse(nan, k.qnan, mag);
  return hn::Or(sign, mag);
}

// exact on carrier operands. Returns false (and leaves *out unset) when some
// lane needs the slow path (product not exact in fp32 and rounded again).
template <class D, class V = hn::Vec<D>>
HWY_INLINE bool ExactCarrierVec(D d, const VecConsts<D>& k, bool fp32_out, bool check_fma, V a, V b,
                                V* out) {
  const hn::Rebind<float, D> df;
  const auto fa = hn::BitCast(df, a), fb = hn::BitCast(df, b);
  const auto fr = hn::Mul(fa, fb);
  const V r = hn::BitCast(d, fr);
  const V sign = hn::And(hn::Xor(a, b), k.sign);
  const V mr = hn::And(r, k.abs);
  const auto nan = hn::Gt(mr, k.inf);
  if (fp32_out) {
    *out = hn::IfThenElse(nan, hn::Or(sign, k.qnan), r);
    return true;
  }
  // The fp32 product is exact unless it is tiny (possible fp32 rounding below
  // 2^-100), overflowed, or (m >= 12) the significand needs > 24 bits.
  const V ma = hn::And(a, k.abs), mb = hn::And(b, k.abs);
  const auto finite_ops = hn::And(hn::Lt(ma, k.inf), hn::Lt(mb, k.inf));
  const auto nonzero_ops = hn::And(hn::Gt(ma, hn::Zero(d)), hn::Gt(mb, hn::Zero(d)));
  auto suspicious =
      hn::And(hn::And(finite_ops, nonzero_ops), hn::Or(hn::Lt(mr, k.tiny), hn::Eq(mr, k.inf)));
  if (check_fma) {
    const auto err = hn::MulAdd(fa, fb, hn::Neg(fr));
    suspicious =
        hn::Or(suspicious, hn::And(hn::RebindMask(d, hn::Ne(err, hn::Zero(df))), finite_ops));
  }
  if (!hn::AllFalse(d, suspicious)) return false;
  const V rounded = ReduceCarrier(d, k, r, /*rne=*/true);
  *out = hn::IfThenElse(nan, hn::Or(sign, k.qnan), rounded);
  return true;
}

}  // namespace lmul::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
