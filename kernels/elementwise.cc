// Elementwise products: Highway SIMD, runtime dispatch once per call.
#include "kernels/elementwise.h"

#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/arith_ops.h"
#include "kernels/simd_ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmul::kernels::HWY_NAMESPACE {
namespace {

enum class Mode { kLMul, kExactFp32Out, kExactRound };

template <Mode mode, bool rne>
void Loop(const internal::ArithConsts& c, const float* a, const float* b, float* y, size_t n) {
  using D = hn::ScalableTag<int32_t>;
  using V = hn::Vec<D>;
  const D d;
  const size_t N = hn::Lanes(d);
  const VecConsts<D> k(d, c);
  const bool check_fma = c.exp8 && c.man_bits >= 12;
  // Without a native FMA the exactness check of m >= 12 products is unavailable:
  // those vectors take the scalar path.
  const bool scalar_only = mode == Mode::kExactRound && check_fma && !HWY_NATIVE_FMA;
  // One vector of results at a[i..i+N) -> y[i..i+N), from loaded bit patterns.
  auto one = [&](V ua, V ub, V* out) -> bool {
    const V ra = ReduceCarrier(d, k, ua, rne), rb = ReduceCarrier(d, k, ub, rne);
    if constexpr (mode == Mode::kLMul) {
      *out = LMulCarrierVec(d, k, ra, rb);
      return true;
    } else {
      if (scalar_only) return false;
      return ExactCarrierVec(d, k, mode == Mode::kExactFp32Out, check_fma, ra, rb, out);
    }
  };
  // Fast path (lmul/mitchell on exp8 formats): when every lane has normal
  // finite operands and an in-range product, the product is (a' + b') - c_off on
  // the signed patterns (the sign falls out of the add). Otherwise the vector
  // takes the general path above.
  const hn::RebindToUnsigned<D> du;
  using VU = hn::Vec<decltype(du)>;
  const VU keep = hn::Set(du, ~((1u << (23 - c.man_bits)) - 1u));
  const VU half = hn::Set(du, ((1u << (23 - c.man_bits)) - 1u) >> 1);
  const VU one_u = hn::Set(du, 1u);
  const VU abs_u = hn::Set(du, 0x7FFFFFFFu);
  const VU zl = hn::Set(du, c.c_zero_lim), max_u = hn::Set(du, 0x7F7FFFFFu);
  const VU lo = hn::Set(du, c.c_lo), range = hn::Set(du, c.c_hi - c.c_lo);
  const VU off = hn::Set(du, c.c_off);
  const int shift = 23 - c.man_bits;
  // Fast product of one vector and its "lane needs the general path" mask.
  auto fast = [&](V ua, V ub, V* out) {
    VU ra = hn::BitCast(du, ua), rb = hn::BitCast(du, ub);
    if (rne && shift != 0) {
      ra = hn::Add(ra, hn::Add(half, hn::And(hn::ShiftRightSame(ra, shift), one_u)));
      rb = hn::Add(rb, hn::Add(half, hn::And(hn::ShiftRightSame(rb, shift), one_u)));
    }
    ra = hn::And(ra, keep);
    rb = hn::And(rb, keep);
    const VU ma = hn::And(ra, abs_u), mb = hn::And(rb, abs_u);
    const VU sum = hn::Add(ma, mb);
    *out = hn::BitCast(d, hn::Sub(hn::Add(ra, rb), off));
    return hn::Or(hn::Or(hn::Lt(hn::Min(ma, mb), zl), hn::Lt(max_u, hn::Max(ma, mb))),
                  hn::Lt(range, hn::Sub(sum, lo)));
  };
  auto general = [&](size_t at, V ua, V ub) {
    V r;
    if (one(ua, ub, &r)) {
      hn::StoreU(r, d, reinterpret_cast<int32_t*>(y + at));
    } else {
      for (size_t j = 0; j < N; ++j) y[at + j] = internal::MulOne(c, a[at + j], b[at + j]);
    }
  };
  const bool try_fast = mode == Mode::kLMul && c.exp8;
  size_t i = 0;
  if (try_fast) {
    // 4 vectors per step (independent chains), one branch for all four.
    for (; i + 4 * N <= n; i += 4 * N) {
      V ua[4], ub[4], r[4];
      for (int u = 0; u < 4; ++u) {
        ua[u] = hn::LoadU(d, reinterpret_cast<const int32_t*>(a + i + u * N));
        ub[u] = hn::LoadU(d, reinterpret_cast<const int32_t*>(b + i + u * N));
      }
      const auto bad0 = fast(ua[0], ub[0], &r[0]), bad1 = fast(ua[1], ub[1], &r[1]);
      const auto bad2 = fast(ua[2], ub[2], &r[2]), bad3 = fast(ua[3], ub[3], &r[3]);
      if (hn::AllFalse(du, hn::Or(hn::Or(bad0, bad1), hn::Or(bad2, bad3)))) {
        for (int u = 0; u < 4; ++u) hn::StoreU(r[u], d, reinterpret_cast<int32_t*>(y + i + u * N));
        continue;
      }
      const bool ok[4] = {hn::AllFalse(du, bad0), hn::AllFalse(du, bad1), hn::AllFalse(du, bad2),
                          hn::AllFalse(du, bad3)};
      for (int u = 0; u < 4; ++u) {
        if (ok[u]) {
          hn::StoreU(r[u], d, reinterpret_cast<int32_t*>(y + i + u * N));
        } else {
          general(i + u * N, ua[u], ub[u]);
        }
      }
    }
  }
  for (; i + N <= n; i += N) {
    const V ua = hn::LoadU(d, reinterpret_cast<const int32_t*>(a + i));
    const V ub = hn::LoadU(d, reinterpret_cast<const int32_t*>(b + i));
    V r;
    if (try_fast && hn::AllFalse(du, fast(ua, ub, &r))) {
      hn::StoreU(r, d, reinterpret_cast<int32_t*>(y + i));
    } else {
      general(i, ua, ub);
    }
  }
  if (i < n) {
    const size_t rest = n - i;
    HWY_ALIGN int32_t ta[HWY_MAX_BYTES / 4] = {}, tb[HWY_MAX_BYTES / 4] = {};
    std::memcpy(ta, a + i, rest * 4);
    std::memcpy(tb, b + i, rest * 4);
    V r;
    if (one(hn::Load(d, ta), hn::Load(d, tb), &r)) {
      hn::Store(r, d, ta);
      std::memcpy(y + i, ta, rest * 4);
    } else {
      for (size_t j = 0; j < rest; ++j) y[i + j] = internal::MulOne(c, a[i + j], b[i + j]);
    }
  }
}

}  // namespace

void MulElementwiseSimd(const internal::ArithConsts& c, const float* a, const float* b, float* y,
                        size_t n) {
  if (!c.exact) {
    return c.rne ? Loop<Mode::kLMul, true>(c, a, b, y, n) : Loop<Mode::kLMul, false>(c, a, b, y, n);
  }
  if (c.exact_fp32_out) {
    return c.rne ? Loop<Mode::kExactFp32Out, true>(c, a, b, y, n)
                 : Loop<Mode::kExactFp32Out, false>(c, a, b, y, n);
  }
  return c.rne ? Loop<Mode::kExactRound, true>(c, a, b, y, n)
               : Loop<Mode::kExactRound, false>(c, a, b, y, n);
}

int64_t TargetOfThisCode() { return HWY_TARGET; }

}  // namespace lmul::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmul::kernels {

HWY_EXPORT(MulElementwiseSimd);
HWY_EXPORT(TargetOfThisCode);

void MulElementwise(const Arith& arith, const float* a, const float* b, float* y, size_t n) {
  const internal::ArithConsts c = internal::MakeConsts(arith);
  HWY_DYNAMIC_DISPATCH(MulElementwiseSimd)(c, a, b, y, n);
}

namespace internal {
int64_t DispatchedTarget() { return HWY_DYNAMIC_DISPATCH(TargetOfThisCode)(); }
}  // namespace internal

}  // namespace lmul::kernels
#endif  // HWY_ONCE
