// Elementwise products: the driver (the kernel plan's ElementwiseKernels() entry for the
// op and arithmetic) and the Highway SIMD kernels, dispatched at run time per call.
#include "kernels/elementwise.h"

#include <algorithm>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "base/check.h"
#include "kernels/arith_ops.h"
#include "kernels/hwy/simd_ops-inl.h"
#include "kernels/plan.h"
#include "kernels/worker_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lmul::kernels::HWY_NAMESPACE {
namespace {

enum class Mode { kLMul, kExactFp32Out, kExactRound };

template <Mode mode, bool rne, bool trunc = true>
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
  // Fast path (lmul/mitchell, every format): when every lane has operands that
  // are normal and finite in the format after rounding the mantissa (then the
  // reduction to the format is that rounding alone) and an in-range product, the
  // product is (a' + b') - c_off on the signed patterns (the sign falls out of
  // the add). Otherwise the vector takes the general path above. The range test
  // is unsigned arithmetic on vectors, reduced with max over a step of 8 vectors
  // and compared once:
  //   e_ab = max(|a'| - zl, |b'| - zl) > max_bits - zl  <=>  an operand is zero,
  //          subnormal, above the largest finite, Inf or NaN (wraps below zl);
  //   e_s  = |a'| + |b'| - c_lo > c_hi - c_lo            <=>  the product is out of range.
  const hn::RebindToUnsigned<D> du;
  using VU = hn::Vec<decltype(du)>;
  const VU keep = hn::Set(du, ~((1u << (23 - c.man_bits)) - 1u));
  const VU half = hn::Set(du, ((1u << (23 - c.man_bits)) - 1u) >> 1);
  const VU one_u = hn::Set(du, 1u);
  const VU abs_u = hn::Set(du, 0x7FFFFFFFu);
  const VU keep_abs = hn::And(keep, abs_u), sign_u = hn::Set(du, 0x80000000u);
  const VU zl = hn::Set(du, c.c_zero_lim), lim_ab = hn::Set(du, c.c_max_bits - c.c_zero_lim);
  const VU lo = hn::Set(du, c.c_lo), lim_s = hn::Set(du, c.c_hi - c.c_lo);
  const VU off = hn::Set(du, c.c_off);
  const int shift = 23 - c.man_bits;
  // Fast product of one vector; *e_ab and *e_s take its range terms (max-reduced).
  auto fast = [&](V ua, V ub, V* out, VU* e_ab, VU* e_s) {
    VU ra = hn::BitCast(du, ua), rb = hn::BitCast(du, ub);
    VU ma, mb, sum;
    if (trunc) {  // shift != 0 (trunc = false: fp32, nothing to drop)
      if (rne) {
        ra = hn::Add(ra, hn::Add(half, hn::And(hn::ShiftRightSame(ra, shift), one_u)));
        rb = hn::Add(rb, hn::Add(half, hn::And(hn::ShiftRightSame(rb, shift), one_u)));
      }
      // Magnitudes truncated in one AND each; in range, |p| = |a'| + |b'| - c_off
      // has bit 31 clear, so the sign bit is ORed in (one vpternlogd on AVX-512).
      ma = hn::And(ra, keep_abs);
      mb = hn::And(rb, keep_abs);
      sum = hn::Add(ma, mb);
      *out = hn::BitCast(d, hn::OrAnd(hn::Sub(sum, off), hn::Xor(ra, rb), sign_u));
    } else {
      ma = hn::And(ra, abs_u);
      mb = hn::And(rb, abs_u);
      sum = hn::Add(ma, mb);
      *out = hn::BitCast(d, hn::Sub(hn::Add(ra, rb), off));
    }
    *e_ab = hn::Max(*e_ab, hn::Max(hn::Sub(ma, zl), hn::Sub(mb, zl)));
    *e_s = hn::Max(*e_s, hn::Sub(sum, lo));
  };
  auto out_of_range = [&](VU e_ab, VU e_s) {
    return !hn::AllFalse(du, hn::Or(hn::Gt(e_ab, lim_ab), hn::Gt(e_s, lim_s)));
  };
  auto general = [&](size_t at, V ua, V ub) {
    V r;
    if (one(ua, ub, &r)) {
      hn::StoreU(r, d, reinterpret_cast<int32_t*>(y + at));
    } else {
      for (size_t j = 0; j < N; ++j) y[at + j] = internal::MulOne(c, a[at + j], b[at + j]);
    }
  };
  // One vector at y[at..at+N): fast when in range, else general.
  auto single = [&](size_t at) {
    const V ua = hn::LoadU(d, reinterpret_cast<const int32_t*>(a + at));
    const V ub = hn::LoadU(d, reinterpret_cast<const int32_t*>(b + at));
    V r;
    VU e_ab = hn::Zero(du), e_s = hn::Zero(du);
    fast(ua, ub, &r, &e_ab, &e_s);
    if (!out_of_range(e_ab, e_s)) {
      hn::StoreU(r, d, reinterpret_cast<int32_t*>(y + at));
    } else {
      general(at, ua, ub);
    }
  };
  const bool try_fast = mode == Mode::kLMul;
  size_t i = 0;
  if (try_fast) {
    // kStep vectors per step (independent chains), one range test for all of them.
    constexpr int kStep = 8;
    for (; i + kStep * N <= n; i += kStep * N) {
      V r[kStep];
      VU e_ab = hn::Zero(du), e_s = hn::Zero(du);
      for (int u = 0; u < kStep; ++u) {
        fast(hn::LoadU(d, reinterpret_cast<const int32_t*>(a + i + u * N)),
             hn::LoadU(d, reinterpret_cast<const int32_t*>(b + i + u * N)), &r[u], &e_ab, &e_s);
      }
      if (!out_of_range(e_ab, e_s)) {
        for (int u = 0; u < kStep; ++u)
          hn::StoreU(r[u], d, reinterpret_cast<int32_t*>(y + i + u * N));
        continue;
      }
      for (int u = 0; u < kStep; ++u) single(i + u * N);  // reloads: rare path
    }
  }
  for (; i + N <= n; i += N) {
    if (try_fast) {
      single(i);
    } else {
      general(i, hn::LoadU(d, reinterpret_cast<const int32_t*>(a + i)),
              hn::LoadU(d, reinterpret_cast<const int32_t*>(b + i)));
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
    if (c.man_bits == 23) return Loop<Mode::kLMul, false, false>(c, a, b, y, n);  // fp32
    return c.rne ? Loop<Mode::kLMul, true>(c, a, b, y, n) : Loop<Mode::kLMul, false>(c, a, b, y, n);
  }
  if (c.exact_fp32_out) {
    return c.rne ? Loop<Mode::kExactFp32Out, true>(c, a, b, y, n)
                 : Loop<Mode::kExactFp32Out, false>(c, a, b, y, n);
  }
  return c.rne ? Loop<Mode::kExactRound, true>(c, a, b, y, n)
               : Loop<Mode::kExactRound, false>(c, a, b, y, n);
}

// bf16 storage: chunks widened to fp32 on the stack (L1), multiplied by the
// loop above, rounded back to bf16 (RoundBf16: exact when the format fits bf16).
void MulElementwiseBf16Simd(const internal::ArithConsts& c, const uint16_t* a, const uint16_t* b,
                            uint16_t* y, size_t n) {
  constexpr size_t kChunk = 1024;
  HWY_ALIGN float fa[kChunk], fb[kChunk], fy[kChunk];
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    for (size_t j = 0; j < m; ++j) {
      fa[j] = Bf16CodeFloat(a[i + j]);
      fb[j] = Bf16CodeFloat(b[i + j]);
    }
    MulElementwiseSimd(c, fa, fb, fy, m);
    for (size_t j = 0; j < m; ++j) {
      y[i + j] = Bf16CodeRne(fy[j]);
    }
  }
}

// y[i] = Reduce(format, x[i]) for the format and rounding of c (ReduceCarrier, the
// vector twin of ReduceToCarrier); the tail through a zero-padded vector.
template <bool rne>
void ReduceLoop(const internal::ArithConsts& c, const float* x, float* y, size_t n) {
  using D = hn::ScalableTag<int32_t>;
  using V = hn::Vec<D>;
  const D d;
  const size_t N = hn::Lanes(d);
  const VecConsts<D> k(d, c);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const V u0 = hn::LoadU(d, reinterpret_cast<const int32_t*>(x + i));
    const V u1 = hn::LoadU(d, reinterpret_cast<const int32_t*>(x + i + N));
    const V u2 = hn::LoadU(d, reinterpret_cast<const int32_t*>(x + i + 2 * N));
    const V u3 = hn::LoadU(d, reinterpret_cast<const int32_t*>(x + i + 3 * N));
    hn::StoreU(ReduceCarrier(d, k, u0, rne), d, reinterpret_cast<int32_t*>(y + i));
    hn::StoreU(ReduceCarrier(d, k, u1, rne), d, reinterpret_cast<int32_t*>(y + i + N));
    hn::StoreU(ReduceCarrier(d, k, u2, rne), d, reinterpret_cast<int32_t*>(y + i + 2 * N));
    hn::StoreU(ReduceCarrier(d, k, u3, rne), d, reinterpret_cast<int32_t*>(y + i + 3 * N));
  }
  for (; i + N <= n; i += N) {
    const V u = hn::LoadU(d, reinterpret_cast<const int32_t*>(x + i));
    hn::StoreU(ReduceCarrier(d, k, u, rne), d, reinterpret_cast<int32_t*>(y + i));
  }
  if (i < n) {
    const size_t rest = n - i;
    HWY_ALIGN int32_t t[HWY_MAX_BYTES / 4] = {};
    std::memcpy(t, x + i, rest * 4);
    hn::Store(ReduceCarrier(d, k, hn::Load(d, t), rne), d, t);
    std::memcpy(y + i, t, rest * 4);
  }
}

void ReduceSimd(const internal::ArithConsts& c, const float* x, float* y, size_t n) {
  return c.rne ? ReduceLoop<true>(c, x, y, n) : ReduceLoop<false>(c, x, y, n);
}

int64_t TargetOfThisCode() { return HWY_TARGET; }

}  // namespace lmul::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmul::kernels {

HWY_EXPORT(MulElementwiseSimd);
HWY_EXPORT(MulElementwiseBf16Simd);
HWY_EXPORT(ReduceSimd);
HWY_EXPORT(TargetOfThisCode);

namespace {
// The constants of the last arithmetic used on this thread (building them costs
// about as much as 500 products: it matters for short arrays called in a loop).
const internal::ArithConsts& ConstsOf(const Arith& arith) {
  thread_local Arith last_arith;
  thread_local internal::ArithConsts last_consts;
  thread_local bool have_last = false;
  if (!have_last || !(arith == last_arith)) {
    last_consts = internal::MakeConsts(arith);
    last_arith = arith;
    have_last = true;
  }
  return last_consts;
}

// The kernel plan's entry for (op, arith): a few compares per call.
const ElementwiseKernelEntry& EntryOf(ElementwiseOp op, const Arith& arith) {
  return KernelPlan::Host().ChooseElementwise(MakeElementwiseQuery(op, arith));
}
}  // namespace

const ElementwiseKernelEntry& MulElementwise(const Arith& arith, const float* a, const float* b,
                                             float* y, size_t n) {
  const ElementwiseKernelEntry& e = EntryOf(ElementwiseOp::kMul, arith);
  switch (e.kind) {
    case ElementwiseKind::kMulSimd:
      HWY_DYNAMIC_DISPATCH(MulElementwiseSimd)(ConstsOf(arith), a, b, y, n);
      break;
    default:
      LMUL_CHECK(false, "MulElementwise: entry %s is not a kMul kernel", e.name);
  }
  return e;
}

const ElementwiseKernelEntry& MulElementwiseBf16(const Arith& arith, const uint16_t* a,
                                                 const uint16_t* b, uint16_t* y, size_t n) {
  const ElementwiseKernelEntry& e = EntryOf(ElementwiseOp::kMulBf16, arith);
  switch (e.kind) {
    case ElementwiseKind::kMulBf16Simd:
      HWY_DYNAMIC_DISPATCH(MulElementwiseBf16Simd)(ConstsOf(arith), a, b, y, n);
      break;
    default:
      LMUL_CHECK(false, "MulElementwiseBf16: entry %s is not a kMulBf16 kernel", e.name);
  }
  return e;
}

void ReduceElementwise(const Format& format, Rounding rounding, const float* x, float* y,
                       size_t n, int threads) {
  // The reduction of an exact arithmetic on the format is the operand reduction.
  Arith arith;
  arith.op = Op::kExact;
  arith.format = format;
  arith.reduce = rounding;
  const ElementwiseKernelEntry& e = EntryOf(ElementwiseOp::kReduce, arith);
  LMUL_CHECK(e.kind == ElementwiseKind::kReduceSimd,
             "ReduceElementwise: entry %s is not a kReduce kernel", e.name);
  const internal::ArithConsts& c = ConstsOf(arith);
  threads = ResolveThreads(threads);
  // Parts of whole 64-byte lines (16 floats); small arrays are not worth a thread.
  constexpr size_t kMinPerThread = size_t{1} << 15;
  const size_t lines = (n + 15) / 16;
  const int parts = static_cast<int>(std::min<size_t>(
      static_cast<size_t>(threads), std::max<size_t>(1, n / kMinPerThread)));
  if (parts <= 1) return HWY_DYNAMIC_DISPATCH(ReduceSimd)(c, x, y, n);
  internal::RunParts(parts, [&](int p) {
    const size_t begin = std::min(n, lines * p / parts * 16);
    const size_t end = std::min(n, lines * (p + 1) / parts * 16);
    // c names the calling thread's constants, unchanged until every part has finished.
    if (end > begin) HWY_DYNAMIC_DISPATCH(ReduceSimd)(c, x + begin, y + begin, end - begin);
  });
}

int64_t SimdTarget() { return HWY_DYNAMIC_DISPATCH(TargetOfThisCode)(); }

}  // namespace lmul::kernels
#endif  // HWY_ONCE
