// Per-target GEMM micro-kernels (Highway) and the blocked loop around them.
//
// Loop nest per thread (its own range of B panels; every C element is computed
// by one thread, in the canonical order):
//   for k0 (kKC):  for i0 (kMC):  for panel:  for row tile (MR rows):
//     acc = (k0 == 0) ? 0 : C tile;  for k in block: acc += product;  C tile = acc
// Reloading C between k blocks keeps the sequential k order, so the result is
// bit-exact with the canonical-order reference.
#include <algorithm>
#include <cstring>

#include "kernels/gemm_internal.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/gemm_panels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy/simd_ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmul::kernels::HWY_NAMESPACE {
namespace {

using internal::GemmJob;
using internal::GemmKind;
using internal::kPanelWidth;

using D = hn::ScalableTag<int32_t>;
using DF = hn::ScalableTag<float>;
using V = hn::Vec<D>;
using VF = hn::Vec<DF>;

// 6 rows x 2 vectors: 12 accumulators, + 2 B vectors + 1 broadcast = 15 of the 16
// registers of AVX2/SSE4 (the row block is 12, the raw AVX-512 kernels' tile
// height; on AVX3 these kernels only serve bf16 accumulation, exact-round and
// Inf/NaN data). 6 rows instead of 4: AVX2 lmul/fp32 0.59 -> 0.70 of OpenBLAS.
constexpr int kMR = 6;
static_assert(internal::kRowBlock % kMR == 0);

HWY_INLINE VF RoundBf16Vec(D d, DF df, VF acc) {
  const V u = hn::BitCast(d, acc);
  const V lsb = hn::And(hn::ShiftRight<16>(u), hn::Set(d, 1));
  V r = hn::Add(u, hn::Add(hn::Set(d, 0x7FFF), lsb));
  r = hn::And(r, hn::Set(d, static_cast<int32_t>(0xFFFF0000u)));
  return hn::IfThenElse(hn::IsNaN(acc), acc, hn::BitCast(df, r));
}

// One MR x (2 vectors) tile, k in [k0, k0 + kc). `tile` holds MR rows of
// kPanelWidth floats (input when !first, output always); `col` is the first
// column of this chunk within the panel.
template <int MR, GemmKind kind, bool a_zero, bool b_zero, bool bf16>
HWY_NOINLINE void Micro(const GemmJob& j, const VecConsts<D>& kc_consts, int i0,
                        const uint32_t* bpanel, int k0, int kc, bool first, int col, float* tile) {
  const D d;
  const DF df;
  const size_t N = hn::Lanes(d);
  VF acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) {
    if (first) {
      acc0[r] = hn::Zero(df);
      acc1[r] = hn::Zero(df);
    } else {
      acc0[r] = hn::Load(df, tile + r * kPanelWidth + col);
      acc1[r] = hn::Load(df, tile + r * kPanelWidth + col + N);
    }
  }
  const V zero = hn::Zero(d);
  const size_t K = static_cast<size_t>(j.K);
  constexpr int RB = internal::kRowBlock;
  const size_t a_off = static_cast<size_t>(i0 / RB) * K * RB + i0 % RB;
  const uint32_t* arow = j.a + a_off;
  // za is null for kLMulGeneral, where a_zero means "Inf/NaN possible" (UBSan: offset on null).
  const float* zrow = a_zero && j.za != nullptr ? j.za + a_off : nullptr;
  for (int k = k0; k < k0 + kc; ++k) {
    const int32_t* bp =
        reinterpret_cast<const int32_t*>(bpanel) + static_cast<size_t>(k) * kPanelWidth + col;
    const V b0 = hn::LoadU(d, bp), b1 = hn::LoadU(d, bp + N);
    auto m0 = hn::Eq(b0, zero), m1 = hn::Eq(b1, zero);
    for (int r = 0; r < MR; ++r) {
      const V a = hn::Set(d, static_cast<int32_t>(arow[static_cast<size_t>(k) * RB + r]));
      VF p0, p1;
      if constexpr (kind == GemmKind::kLMulFast) {
        V s0 = hn::Add(a, b0), s1 = hn::Add(a, b1);
        if constexpr (b_zero) {
          s0 = hn::IfThenZeroElse(m0, s0);
          s1 = hn::IfThenZeroElse(m1, s1);
        }
        p0 = hn::BitCast(df, s0);
        p1 = hn::BitCast(df, s1);
      } else if constexpr (kind == GemmKind::kLMulGeneral) {
        // a_zero doubles as "operands may be Inf/NaN" for this kind.
        p0 = hn::BitCast(df, LMulCarrierVec<a_zero>(d, kc_consts, a, b0));
        p1 = hn::BitCast(df, LMulCarrierVec<a_zero>(d, kc_consts, a, b1));
      } else {
        const VF fa = hn::BitCast(df, a);
        p0 = hn::Mul(fa, hn::BitCast(df, b0));
        p1 = hn::Mul(fa, hn::BitCast(df, b1));
        if constexpr (kind == GemmKind::kExactRound) {
          p0 = hn::BitCast(df, ReduceCarrier(d, kc_consts, hn::BitCast(d, p0), true));
          p1 = hn::BitCast(df, ReduceCarrier(d, kc_consts, hn::BitCast(d, p1), true));
        }
      }
      if constexpr (a_zero && kind == GemmKind::kLMulFast) {
        const VF z = hn::Set(df, zrow[static_cast<size_t>(k) * RB + r]);
        acc0[r] = hn::MulAdd(p0, z, acc0[r]);  // z is 1 or 0: exactly acc + p or acc
        acc1[r] = hn::MulAdd(p1, z, acc1[r]);
      } else {
        acc0[r] = hn::Add(acc0[r], p0);
        acc1[r] = hn::Add(acc1[r], p1);
      }
      if constexpr (bf16) {
        acc0[r] = RoundBf16Vec(d, df, acc0[r]);
        acc1[r] = RoundBf16Vec(d, df, acc1[r]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    hn::Store(acc0[r], df, tile + r * kPanelWidth + col);
    hn::Store(acc1[r], df, tile + r * kPanelWidth + col + N);
  }
}

// L-Mul general in the FMA form (GemmJob::general_fma: no Inf/NaN operand, a
// saturation that is a clamp): a = |a| - c_off - 2^30, z = +-1 / 0 per A element;
// per product s = min(a + |b|, hi) (the min only when some product can
// overflow), kept when s >= lo and b != 0, p = s + (sign(b) | 2^30), acc =
// fma(p, z, acc): exact (z = +-1 or 0), the same value as the spec's product.
template <int MR, bool kClamp>
HWY_NOINLINE void MicroGeneralFma(const GemmJob& j, const VecConsts<D>& /*consts*/, int i0,
                                  const uint32_t* bpanel, int k0, int kc, bool first, int col,
                                  float* tile) {
  const D d;
  const DF df;
  const size_t N = hn::Lanes(d);
  VF acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) {
    acc0[r] = first ? hn::Zero(df) : hn::Load(df, tile + r * kPanelWidth + col);
    acc1[r] = first ? hn::Zero(df) : hn::Load(df, tile + r * kPanelWidth + col + N);
  }
  const V abs = hn::Set(d, 0x7FFFFFFF), b30 = hn::Set(d, 0x40000000);
  const V hi = hn::Set(d, j.gen_hi), lo = hn::Set(d, j.gen_lo), zero = hn::Zero(d);
  const size_t K = static_cast<size_t>(j.K);
  constexpr int RB = internal::kRowBlock;
  const size_t a_off = static_cast<size_t>(i0 / RB) * K * RB + i0 % RB;
  const uint32_t* arow = j.a + a_off;
  const float* zrow = j.za + a_off;
  for (int k = k0; k < k0 + kc; ++k) {
    const int32_t* bp =
        reinterpret_cast<const int32_t*>(bpanel) + static_cast<size_t>(k) * kPanelWidth + col;
    const V b0 = hn::LoadU(d, bp), b1 = hn::LoadU(d, bp + N);
    const V bm0 = hn::And(b0, abs), bm1 = hn::And(b1, abs);
    const V sb0 = hn::Or(hn::AndNot(abs, b0), b30), sb1 = hn::Or(hn::AndNot(abs, b1), b30);
    const auto nz0 = hn::Ne(bm0, zero), nz1 = hn::Ne(bm1, zero);
    for (int r = 0; r < MR; ++r) {
      const V a = hn::Set(d, static_cast<int32_t>(arow[static_cast<size_t>(k) * RB + r]));
      const VF z = hn::Set(df, zrow[static_cast<size_t>(k) * RB + r]);
      V s0 = hn::Add(a, bm0), s1 = hn::Add(a, bm1);
      if constexpr (kClamp) {
        s0 = hn::Min(s0, hi);
        s1 = hn::Min(s1, hi);
      }
      const auto keep0 = hn::And(nz0, hn::Not(hn::Lt(s0, lo)));
      const auto keep1 = hn::And(nz1, hn::Not(hn::Lt(s1, lo)));
      const VF p0 = hn::BitCast(df, hn::IfThenElseZero(keep0, hn::Add(s0, sb0)));
      const VF p1 = hn::BitCast(df, hn::IfThenElseZero(keep1, hn::Add(s1, sb1)));
      acc0[r] = hn::MulAdd(p0, z, acc0[r]);
      acc1[r] = hn::MulAdd(p1, z, acc1[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    hn::Store(acc0[r], df, tile + r * kPanelWidth + col);
    hn::Store(acc1[r], df, tile + r * kPanelWidth + col + N);
  }
}

using MicroFn = void (*)(const GemmJob&, const VecConsts<D>&, int, const uint32_t*, int, int, bool,
                         int, float*);

template <int MR, GemmKind kind>
MicroFn PickMicro(bool a_zero, bool b_zero, bool bf16) {
  if (kind == GemmKind::kLMulGeneral) {  // a_zero: "Inf/NaN operands possible"
    return a_zero
               ? (bf16 ? Micro<MR, kind, true, false, true> : Micro<MR, kind, true, false, false>)
               : (bf16 ? Micro<MR, kind, false, false, true>
                       : Micro<MR, kind, false, false, false>);
  }
  if (kind != GemmKind::kLMulFast) {  // zeros need no special care off the fast path
    return bf16 ? Micro<MR, kind, false, false, true> : Micro<MR, kind, false, false, false>;
  }
  const int v = (a_zero ? 4 : 0) | (b_zero ? 2 : 0) | (bf16 ? 1 : 0);
  switch (v) {
    case 0:
      return Micro<MR, kind, false, false, false>;
    case 1:
      return Micro<MR, kind, false, false, true>;
    case 2:
      return Micro<MR, kind, false, true, false>;
    case 3:
      return Micro<MR, kind, false, true, true>;
    case 4:
      return Micro<MR, kind, true, false, false>;
    case 5:
      return Micro<MR, kind, true, false, true>;
    case 6:
      return Micro<MR, kind, true, true, false>;
    default:
      return Micro<MR, kind, true, true, true>;
  }
}

template <int MR>
MicroFn Pick(GemmKind kind, bool a_zero, bool b_zero, bool bf16) {
  switch (kind) {
    case GemmKind::kLMulFast:
      return PickMicro<MR, GemmKind::kLMulFast>(a_zero, b_zero, bf16);
    case GemmKind::kLMulGeneral:
      return PickMicro<MR, GemmKind::kLMulGeneral>(a_zero, b_zero, bf16);
    case GemmKind::kExactFp32:
      return PickMicro<MR, GemmKind::kExactFp32>(a_zero, b_zero, bf16);
    default:
      return PickMicro<MR, GemmKind::kExactRound>(a_zero, b_zero, bf16);
  }
}

}  // namespace

void GemmPanels(const GemmJob& j, int panel_begin, int panel_end) {
  const D d;
  const size_t N = hn::Lanes(d);
  const int chunk = static_cast<int>(2 * N);
  const VecConsts<D> consts(d, *j.c);
  HWY_ALIGN float tile[kMR * kPanelWidth];
  const size_t K = static_cast<size_t>(j.K);
  for (int k0 = 0; k0 < j.K; k0 += internal::kKC) {
    const int kc = std::min(internal::kKC, j.K - k0);
    const bool first = k0 == 0;
    for (int i0 = 0; i0 < j.M; i0 += internal::kMC) {
      const int mc = std::min(internal::kMC, j.M - i0);
      for (int p = panel_begin; p < panel_end; ++p) {
        const uint32_t* bpanel = j.b + static_cast<size_t>(p) * K * kPanelWidth;
        const int ncols = std::min(kPanelWidth, j.N - p * kPanelWidth);
        const bool b_zero = j.panel_zero != nullptr && j.panel_zero[p];
        for (int ir = i0; ir < i0 + mc;) {
          const int mr = (i0 + mc - ir) >= kMR ? kMR : 1;
          bool a_zero = false;
          if (j.row_zero != nullptr) {
            for (int r = 0; r < mr; ++r) a_zero |= j.row_zero[ir + r] != 0;
          }
          if (j.kind == GemmKind::kLMulGeneral) a_zero = j.specials;
          MicroFn fn = mr == kMR ? Pick<kMR>(j.kind, a_zero, b_zero, j.bf16)
                                 : Pick<1>(j.kind, a_zero, b_zero, j.bf16);
          if (j.general_fma) {
            fn = mr == kMR
                     ? (j.gen_clamp ? MicroGeneralFma<kMR, true> : MicroGeneralFma<kMR, false>)
                     : (j.gen_clamp ? MicroGeneralFma<1, true> : MicroGeneralFma<1, false>);
          }
          float* crow =
              j.out + static_cast<size_t>(ir) * j.ldc + static_cast<size_t>(p) * kPanelWidth;
          if (!first) {
            for (int r = 0; r < mr; ++r) {
              std::memcpy(tile + r * kPanelWidth, crow + static_cast<size_t>(r) * j.ldc, ncols * 4);
              std::fill(tile + r * kPanelWidth + ncols, tile + (r + 1) * kPanelWidth, 0.0f);
            }
          }
          for (int col = 0; col < kPanelWidth; col += chunk) {
            fn(j, consts, ir, bpanel, k0, kc, first, col, tile);
          }
          for (int r = 0; r < mr; ++r) {
            std::memcpy(crow + static_cast<size_t>(r) * j.ldc, tile + r * kPanelWidth, ncols * 4);
          }
          ir += mr;
        }
      }
    }
  }
}

void ConvertRun(const internal::ArithConsts& c, const float* src, size_t n, uint32_t* dst,
                internal::RunStats* st, bool keep_zero_sign) {
  const D d;
  const size_t N = hn::Lanes(d);
  const VecConsts<D> k(d, c);
  const V big = hn::Set(d, 0x7FFFFFFF);
  V vmin = big, vmax = hn::Zero(d), vspecial = hn::Zero(d), vzero = hn::Zero(d);
  auto one = [&](V u, auto valid) {
    V v = ReduceCarrier(d, k, u, c.rne);
    const V mag = hn::And(v, k.abs);
    const auto special = hn::Gt(mag, hn::Sub(k.inf, k.one));
    const auto zero = c.exact ? hn::Eq(mag, hn::Zero(d)) : hn::Lt(mag, k.zero_lim);
    if (!c.exact)
      v = keep_zero_sign ? hn::IfThenElse(zero, hn::And(v, k.sign), v)
                         : hn::IfThenZeroElse(zero, v);
    const auto ok = hn::Not(hn::Or(zero, special));
    vmin = hn::Min(vmin, hn::IfThenElse(ok, mag, big));
    vmax = hn::Max(vmax, hn::IfThenElseZero(ok, mag));
    vspecial = hn::Or(vspecial, hn::VecFromMask(d, special));
    vzero = hn::Or(vzero, hn::VecFromMask(d, hn::And(zero, valid)));
    return v;
  };
  const auto all = hn::FirstN(d, N);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(one(hn::LoadU(d, reinterpret_cast<const int32_t*>(src + i)), all), d,
               reinterpret_cast<int32_t*>(dst + i));
  }
  if (i < n) {
    HWY_ALIGN int32_t buf[HWY_MAX_BYTES / 4];
    const size_t rest = n - i;
    for (size_t l = 0; l < N; ++l) buf[l] = 0;  // +0: excluded from the statistics
    std::memcpy(buf, src + i, rest * 4);
    hn::Store(one(hn::Load(d, buf), hn::FirstN(d, rest)), d, buf);
    std::memcpy(dst + i, buf, rest * 4);
  }
  uint32_t mn = static_cast<uint32_t>(hn::GetLane(hn::MinOfLanes(d, vmin)));
  uint32_t mx = static_cast<uint32_t>(hn::GetLane(hn::MaxOfLanes(d, vmax)));
  const bool sp = !hn::AllFalse(d, hn::MaskFromVec(vspecial));
  if (mn == 0x7FFFFFFFu) mn = 0xFFFFFFFFu;
  st->min_mag = std::min(st->min_mag, mn);
  st->max_mag = std::max(st->max_mag, mx);
  st->special |= sp;
  st->zero |= !hn::AllFalse(d, hn::MaskFromVec(vzero));
}

}  // namespace lmul::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmul::kernels::internal {
HWY_EXPORT(GemmPanels);
HWY_EXPORT(ConvertRun);
void ConvertRunSimd(const ArithConsts& c, const float* src, size_t n, uint32_t* dst, RunStats* st,
                    bool keep_zero_sign) {
  HWY_DYNAMIC_DISPATCH(ConvertRun)(c, src, n, dst, st, keep_zero_sign);
}
void GemmPanelsSimd(const GemmJob& job, int panel_begin, int panel_end) {
  HWY_DYNAMIC_DISPATCH(GemmPanels)(job, panel_begin, panel_end);
}
}  // namespace lmul::kernels::internal
#endif
