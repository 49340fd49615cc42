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
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const V ua = hn::LoadU(d, reinterpret_cast<const int32_t*>(a + i));
    const V ub = hn::LoadU(d, reinterpret_cast<const int32_t*>(b + i));
    V r;
    if (one(ua, ub, &r)) {
      hn::StoreU(r, d, reinterpret_cast<int32_t*>(y + i));
    } else {
      for (size_t j = 0; j < N; ++j) y[i + j] = internal::MulOne(c, a[i + j], b[i + j]);
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
