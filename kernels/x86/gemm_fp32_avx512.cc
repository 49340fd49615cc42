// fp32-lane GEMM micro-kernels with raw AVX-512F intrinsics (canonical order:
// sequential k, one fp32 add per product, C reloaded between k blocks), for the
// L-Mul fast path (vpaddd + vaddps) and exact/fp32 (vmulps + vaddps). The only
// translation unit compiled with -mavx512f besides the bf16dot one; run only
// when the kernel plan (kernels/plan.cc) chose one of its entries: the CPU has
// AVX-512F and Highway dispatches to an AVX-512 target (so the Highway kernels
// of every other target stay tested).
//
// Tiles: 12 x 32 (24 zmm accumulators, A broadcast into a register once per
// row and k, B loaded once per k), then 8, 4, 2, 1 rows for the last rows;
// GEMMs with M <= 2 take 1 or 2 rows x 128 columns (4 panels) per tile.
// Zero handling (chosen per tile from the packing flags): A zeros through
// fma(p, z, acc) with z = 1 or 0 (exact: acc + p or acc), B zeros by a
// zero-masking vpaddd (product +0).
#include <immintrin.h>

#include "kernels/x86/avx512.h"

namespace lmul::kernels::internal {
namespace {

constexpr int NR = tiles::kPanelWidth;
constexpr int KC = tiles::kKC;  // k block: B panel slice 32 KiB (L1)
constexpr int MC = tiles::kMC;  // rows per block (multiple of the row block 12)
static_assert(NR == 32 && tiles::kRowBlock == 12, "the micro-tiles are 12 x 32");

inline int Min(int a, int b) { return a < b ? a : b; }

// L-Mul general (kind 2), any finite operands: 4 integer ops + 1 FMA per vector.
template <int MR, bool CLAMP>
__attribute__((noinline)) void MicroGeneral(const uint32_t* a, const float* za, int rb,
                                            const uint32_t* b, int kc, float* c, int ldc,
                                            bool first, int32_t hi, int32_t lo) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (first) {
      acc0[r] = _mm512_setzero_ps();
      acc1[r] = _mm512_setzero_ps();
    } else {
      acc0[r] = _mm512_loadu_ps(c + r * ldc);
      acc1[r] = _mm512_loadu_ps(c + r * ldc + 16);
    }
  }
  const __m512i abs = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512i b30 = _mm512_set1_epi32(0x40000000);
  const __m512i vhi = _mm512_set1_epi32(hi), vlo = _mm512_set1_epi32(lo);
  for (int k = 0; k < kc; ++k) {
    const __m512i b0 = _mm512_loadu_si512(b + k * NR);
    const __m512i b1 = _mm512_loadu_si512(b + k * NR + 16);
    const __m512i bm0 = _mm512_and_si512(b0, abs), bm1 = _mm512_and_si512(b1, abs);
    // sign(b) | 2^30: (b & ~abs) | b30
    const __m512i sb0 = _mm512_or_si512(_mm512_andnot_si512(abs, b0), b30);
    const __m512i sb1 = _mm512_or_si512(_mm512_andnot_si512(abs, b1), b30);
    const __mmask16 nz0 = _mm512_test_epi32_mask(b0, abs), nz1 = _mm512_test_epi32_mask(b1, abs);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[k * rb + r]));
      const __m512 z = _mm512_set1_ps(za[k * rb + r]);
      __m512i s0 = _mm512_add_epi32(av, bm0), s1 = _mm512_add_epi32(av, bm1);
      if constexpr (CLAMP) {  // only when some product can overflow
        s0 = _mm512_min_epi32(s0, vhi);
        s1 = _mm512_min_epi32(s1, vhi);
      }
      const __mmask16 k0 = _mm512_mask_cmp_epi32_mask(nz0, s0, vlo, _MM_CMPINT_NLT);
      const __mmask16 k1 = _mm512_mask_cmp_epi32_mask(nz1, s1, vlo, _MM_CMPINT_NLT);
      const __m512 p0 = _mm512_castsi512_ps(_mm512_maskz_add_epi32(k0, s0, sb0));
      const __m512 p1 = _mm512_castsi512_ps(_mm512_maskz_add_epi32(k1, s1, sb1));
      acc0[r] = _mm512_fmadd_ps(p0, z, acc0[r]);  // z = +-1 (sign of a) or 0: exact
      acc1[r] = _mm512_fmadd_ps(p1, z, acc1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc0[r]);
    _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
  }
}

template <int MR, bool EXACT, bool AZ, bool BZ>
__attribute__((noinline)) void Micro(const uint32_t* a, const float* za, int rb, const uint32_t* b,
                                     int kc, float* c, int ldc, bool first) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    if (first) {
      acc0[r] = _mm512_setzero_ps();
      acc1[r] = _mm512_setzero_ps();
    } else {
      acc0[r] = _mm512_loadu_ps(c + r * ldc);
      acc1[r] = _mm512_loadu_ps(c + r * ldc + 16);
    }
  }
  for (int k = 0; k < kc; ++k) {
    const __m512i b0 = _mm512_loadu_si512(b + k * NR);
    const __m512i b1 = _mm512_loadu_si512(b + k * NR + 16);
    __mmask16 m0 = 0xFFFF, m1 = 0xFFFF;
    if constexpr (BZ) {
      m0 = _mm512_test_epi32_mask(b0, b0);
      m1 = _mm512_test_epi32_mask(b1, b1);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[k * rb + r]));
      __m512 p0, p1;
      if constexpr (EXACT) {
        p0 = _mm512_mul_ps(_mm512_castsi512_ps(av), _mm512_castsi512_ps(b0));
        p1 = _mm512_mul_ps(_mm512_castsi512_ps(av), _mm512_castsi512_ps(b1));
      } else if constexpr (BZ) {
        p0 = _mm512_castsi512_ps(_mm512_maskz_add_epi32(m0, av, b0));
        p1 = _mm512_castsi512_ps(_mm512_maskz_add_epi32(m1, av, b1));
      } else {
        p0 = _mm512_castsi512_ps(_mm512_add_epi32(av, b0));
        p1 = _mm512_castsi512_ps(_mm512_add_epi32(av, b1));
      }
      if constexpr (AZ) {
        const __m512 z = _mm512_set1_ps(za[k * rb + r]);
        acc0[r] = _mm512_fmadd_ps(p0, z, acc0[r]);  // z is 1 or 0: exactly acc + p or acc
        acc1[r] = _mm512_fmadd_ps(p1, z, acc1[r]);
      } else {
        acc0[r] = _mm512_add_ps(acc0[r], p0);
        acc1[r] = _mm512_add_ps(acc1[r], p1);
      }
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc0[r]);
    _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
  }
}

// MR (1 or 2) rows x 4 panels (128 columns): the tile for GEMMs with M <= 2
// (decode steps, last-token logits). A 1 x 32 tile has only 2 accumulator chains
// and waits on the add latency every k; 4 panels give 8 (or 16) chains. Same
// per-element order as Micro. B of panel q starts at b + q * bstride.
template <int MR, bool EXACT, bool AZ, bool BZ>
__attribute__((noinline)) void MicroWide(const uint32_t* a, const float* za, int rb,
                                         const uint32_t* b, long bstride, int kc, float* c, int ldc,
                                         bool first) {
  constexpr int NP = 4;
  __m512 acc[MR][2 * NP];
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < 2 * NP; ++v) {
      acc[r][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc + v * 16);
    }
  }
  for (int k = 0; k < kc; ++k) {
    __m512i bv[2 * NP];
    __mmask16 m[2 * NP];
#pragma GCC unroll 8
    for (int v = 0; v < 2 * NP; ++v) {
      bv[v] = _mm512_loadu_si512(b + (v / 2) * bstride + k * NR + (v % 2) * 16);
      m[v] = BZ ? _mm512_test_epi32_mask(bv[v], bv[v]) : __mmask16{0xFFFF};
    }
#pragma GCC unroll 2
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[k * rb + r]));
      const __m512 z = AZ ? _mm512_set1_ps(za[k * rb + r]) : _mm512_setzero_ps();
#pragma GCC unroll 8
      for (int v = 0; v < 2 * NP; ++v) {
        __m512 p;
        if constexpr (EXACT) {
          p = _mm512_mul_ps(_mm512_castsi512_ps(av), _mm512_castsi512_ps(bv[v]));
        } else if constexpr (BZ) {
          p = _mm512_castsi512_ps(_mm512_maskz_add_epi32(m[v], av, bv[v]));
        } else {
          p = _mm512_castsi512_ps(_mm512_add_epi32(av, bv[v]));
        }
        acc[r][v] = AZ ? _mm512_fmadd_ps(p, z, acc[r][v]) : _mm512_add_ps(acc[r][v], p);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < 2 * NP; ++v) _mm512_storeu_ps(c + r * ldc + v * 16, acc[r][v]);
  }
}

using WideFn = void (*)(const uint32_t*, const float*, int, const uint32_t*, long, int, float*, int,
                        bool);

template <int MR>
WideFn PickWideMR(bool exact, bool az, bool bz) {
  if (exact) return MicroWide<MR, true, false, false>;
  if (az) return bz ? MicroWide<MR, false, true, true> : MicroWide<MR, false, true, false>;
  return bz ? MicroWide<MR, false, false, true> : MicroWide<MR, false, false, false>;
}

using MicroFn = void (*)(const uint32_t*, const float*, int, const uint32_t*, int, float*, int,
                         bool);

template <int MR>
MicroFn PickMR(bool exact, bool az, bool bz) {
  if (exact) return Micro<MR, true, false, false>;
  if (az) return bz ? Micro<MR, false, true, true> : Micro<MR, false, true, false>;
  return bz ? Micro<MR, false, false, true> : Micro<MR, false, false, false>;
}

MicroFn Pick(int mr, bool exact, bool az, bool bz) {
  switch (mr) {
    case 12:
      return PickMR<12>(exact, az, bz);
    case 8:
      return PickMR<8>(exact, az, bz);
    case 4:
      return PickMR<4>(exact, az, bz);
    case 2:
      return PickMR<2>(exact, az, bz);
    default:
      return PickMR<1>(exact, az, bz);
  }
}

}  // namespace

void Fp32PanelsAvx512(const Fp32Job& j, int panel_begin, int panel_end) {
  alignas(64) float tile[12 * NR] = {};
  const long K = j.K, rb = j.row_block;
  const bool exact = j.kind == 1, general = j.kind == 2;
  for (int k0 = 0; k0 < j.K; k0 += KC) {
    const int kc = Min(KC, j.K - k0);
    const bool first = k0 == 0;
    for (int i0 = 0; i0 < j.M; i0 += MC) {
      const int mc = Min(MC, j.M - i0);
      int p = panel_begin;
      if (j.M <= 2 && !general) {  // groups of 4 full panels on the wide tile
        bool az = false;
        for (int r = 0; j.row_zero != nullptr && r < j.M; ++r) az |= j.row_zero[r] != 0;
        const long aoff = k0 * rb;
        const WideFn fn =
            j.M == 1 ? PickWideMR<1>(exact, az, true) : PickWideMR<2>(exact, az, true);
        const WideFn fn_nz =
            j.M == 1 ? PickWideMR<1>(exact, az, false) : PickWideMR<2>(exact, az, false);
        for (; p + 4 <= panel_end && (p + 4) * NR <= j.N; p += 4) {
          bool bz = false;
          for (int q = 0; q < 4 && j.panel_zero != nullptr; ++q) bz |= j.panel_zero[p + q] != 0;
          (bz ? fn : fn_nz)(j.a + aoff, az ? j.za + aoff : nullptr, rb, j.b + (p * K + k0) * NR,
                            K * NR, kc, j.c + static_cast<long>(p) * NR, j.ldc, first);
        }
      }
      for (; p < panel_end; ++p) {
        const uint32_t* bp = j.b + (p * K + k0) * NR;
        const bool bz = j.panel_zero != nullptr && j.panel_zero[p] != 0;
        const int ncols = Min(NR, j.N - p * NR);
        for (int ir = i0; ir < i0 + mc;) {
          const int left = i0 + mc - ir;
          // Tiles never cross a row block (12 rows); general: 8 + 4 rows.
          const int lim = Min(left, static_cast<int>(rb - ir % rb));
          int mr = lim >= 12 ? 12 : lim >= 8 ? 8 : lim >= 4 ? 4 : lim >= 2 ? 2 : 1;
          if (general && mr == 12) mr = 8;
          bool az = false;
          if (!general && j.row_zero != nullptr) {
            for (int r = 0; r < mr; ++r) az |= j.row_zero[ir + r] != 0;
          }
          const long aoff = ((ir / rb) * K + k0) * rb + ir % rb;
          const uint32_t* ap = j.a + aoff;
          const float* zap = az ? j.za + aoff : nullptr;
          float* cp = j.c + static_cast<long>(ir) * j.ldc + static_cast<long>(p) * NR;
          const MicroFn fn = general ? nullptr : Pick(mr, exact, az, bz);
          auto call = [&](float* cc, int ldc) {
            if (!general) {
              fn(ap, zap, rb, bp, kc, cc, ldc, first);
              return;
            }
            const float* z = j.za + aoff;
            switch (mr) {
              case 8:
                return j.gen_clamp ? MicroGeneral<8, true>(ap, z, rb, bp, kc, cc, ldc, first,
                                                           j.gen_hi, j.gen_lo)
                                   : MicroGeneral<8, false>(ap, z, rb, bp, kc, cc, ldc, first,
                                                            j.gen_hi, j.gen_lo);
              case 4:
                return j.gen_clamp ? MicroGeneral<4, true>(ap, z, rb, bp, kc, cc, ldc, first,
                                                           j.gen_hi, j.gen_lo)
                                   : MicroGeneral<4, false>(ap, z, rb, bp, kc, cc, ldc, first,
                                                            j.gen_hi, j.gen_lo);
              case 2:
                return j.gen_clamp ? MicroGeneral<2, true>(ap, z, rb, bp, kc, cc, ldc, first,
                                                           j.gen_hi, j.gen_lo)
                                   : MicroGeneral<2, false>(ap, z, rb, bp, kc, cc, ldc, first,
                                                            j.gen_hi, j.gen_lo);
              default:
                return j.gen_clamp ? MicroGeneral<1, true>(ap, z, rb, bp, kc, cc, ldc, first,
                                                           j.gen_hi, j.gen_lo)
                                   : MicroGeneral<1, false>(ap, z, rb, bp, kc, cc, ldc, first,
                                                            j.gen_hi, j.gen_lo);
            }
          };
          if (ncols == NR) {
            call(cp, j.ldc);
          } else {  // last panel: through a buffer (padding columns computed, not stored)
            if (!first) {
              for (int r = 0; r < mr; ++r) {
                for (int x = 0; x < ncols; ++x)
                  tile[r * NR + x] = cp[static_cast<long>(r) * j.ldc + x];
              }
            }
            call(tile, NR);
            for (int r = 0; r < mr; ++r) {
              for (int x = 0; x < ncols; ++x)
                cp[static_cast<long>(r) * j.ldc + x] = tile[r * NR + x];
            }
          }
          ir += mr;
        }
      }
    }
  }
}

}  // namespace lmul::kernels::internal
