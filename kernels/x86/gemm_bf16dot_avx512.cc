// Accum::kBf16Dot micro-kernel: L-Mul on 16-bit lanes (vpaddw on bf16 codes,
// pre-offset on the A side) and accumulation by vdpbf16ps against a 1.0/0.0
// multiplier. The ONLY translation unit compiled with -mavx512bf16 (see
// kernels/CMakeLists.txt); it runs only when the kernel plan chose it (the CPU
// has AVX512-F/BW/VL/BF16). It includes no header with inline functions
// (kernels/x86/avx512.h and kernels/tiles.h only), so
// no AVX-512 code can leak into the rest of the program through the linker.
//
// Per C element the order is exactly the one of Accum::kBf16Dot: vdpbf16ps adds
// the odd-k product, then the even-k product, each rounded rne with DAZ/FTZ
// (Intel SDM; checked on Zen 5). p * 1.0 and p * 0.0 are exact, so the "FMA"
// of the instruction is the add of the spec's product (or of its signed zero).
#include <immintrin.h>

#include "kernels/x86/avx512.h"

namespace lmul::kernels::internal {
namespace {

constexpr int MR = kDotMR;
constexpr int NR = kDotNR;  // 2 zmm of 16 fp32 lanes

inline int Min(int a, int b) { return a < b ? a : b; }

inline __m512 Dot(__m512 acc, __m512i p, __m512i m) {
  return _mm512_dpbf16_ps(acc, (__m512bh)p, (__m512bh)m);
}

// One MR x NR tile over k pairs [0, kpn) of the current k block. a, za: the
// tile's A pairs at the block start (stride MR per pair); b, zb: the panel's B
// pairs at the block start (stride NR per pair). c: MR rows of NR floats with
// row stride ldc (loaded unless first; always stored).
template <bool AZ, bool BZ, bool NATIVE = false>
__attribute__((noinline)) void Micro(const uint32_t* a, const uint32_t* za, const uint32_t* b,
                                     const uint32_t* zb, int kpn, float* c, int ldc, bool first) {
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
  const __m512i one = _mm512_set1_epi32(static_cast<int>(kDotOne));
  for (int kp = 0; kp < kpn; ++kp) {
    const __m512i b0 = _mm512_loadu_si512(b + kp * NR);
    const __m512i b1 = _mm512_loadu_si512(b + kp * NR + 16);
    __m512i z0 = one, z1 = one;
    if constexpr (BZ) {
      z0 = _mm512_loadu_si512(zb + kp * NR);
      z1 = _mm512_loadu_si512(zb + kp * NR + 16);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[kp * MR + r]));
      if constexpr (NATIVE) {  // bench baseline: the native bf16 product a * b
        acc0[r] = Dot(acc0[r], av, b0);
        acc1[r] = Dot(acc1[r], av, b1);
        continue;
      }
      const __m512i p0 = _mm512_add_epi16(av, b0);
      const __m512i p1 = _mm512_add_epi16(av, b1);
      if constexpr (AZ) {
        const __m512i zav = _mm512_set1_epi32(static_cast<int>(za[kp * MR + r]));
        if constexpr (BZ) {
          acc0[r] = Dot(acc0[r], p0, _mm512_and_si512(zav, z0));
          acc1[r] = Dot(acc1[r], p1, _mm512_and_si512(zav, z1));
        } else {
          acc0[r] = Dot(acc0[r], p0, zav);
          acc1[r] = Dot(acc1[r], p1, zav);
        }
      } else {
        acc0[r] = Dot(acc0[r], p0, z0);
        acc1[r] = Dot(acc1[r], p1, z1);
      }
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc0[r]);
    _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
  }
}

using MicroFn = void (*)(const uint32_t*, const uint32_t*, const uint32_t*, const uint32_t*, int,
                         float*, int, bool);

MicroFn Pick(bool az, bool bz, bool native) {
  if (native) return Micro<false, false, true>;
  if (az) return bz ? Micro<true, true> : Micro<true, false>;
  return bz ? Micro<false, true> : Micro<false, false>;
}

}  // namespace

void DotPanelsAvx512Bf16(const DotJob& j, int panel_begin, int panel_end) {
  alignas(64) float tile[MR * NR];
  const long Kp = j.Kp;
  for (int kp0 = 0; kp0 < j.Kp; kp0 += kDotKCP) {
    const int kpn = Min(kDotKCP, j.Kp - kp0);
    const bool first = kp0 == 0;
    for (int i0 = 0; i0 < j.M; i0 += kDotMC) {
      const int mc = Min(kDotMC, j.M - i0);
      for (int p = panel_begin; p < panel_end; ++p) {
        const long boff = (p * Kp + kp0) * NR;
        const uint32_t* bp = j.b + boff;
        const uint32_t* zbp = j.zb != nullptr ? j.zb + boff : nullptr;
        const bool bz = j.panel_zero != nullptr && j.panel_zero[p] != 0;
        const int ncols = Min(NR, j.N - p * NR);
        for (int ir = i0; ir < i0 + mc; ir += MR) {
          const int blk = ir / MR;
          const long aoff = (blk * Kp + kp0) * MR;
          const uint32_t* ap = j.a + aoff;
          const uint32_t* zap = j.za != nullptr ? j.za + aoff : nullptr;
          const bool az = j.block_zero != nullptr && j.block_zero[blk] != 0;
          const int rows = Min(MR, j.M - ir);
          float* cp = j.c + static_cast<long>(ir) * j.ldc + static_cast<long>(p) * NR;
          const MicroFn fn = Pick(az, bz, j.native);
          if (rows == MR && ncols == NR) {
            fn(ap, zap, bp, zbp, kpn, cp, j.ldc, first);
            continue;
          }
          // Edge tile through a buffer (padding rows/columns computed, not stored).
          if (!first) {
            for (int r = 0; r < rows; ++r) {
              for (int x = 0; x < ncols; ++x)
                tile[r * NR + x] = cp[static_cast<long>(r) * j.ldc + x];
            }
          }
          fn(ap, zap, bp, zbp, kpn, tile, NR, first);
          for (int r = 0; r < rows; ++r) {
            for (int x = 0; x < ncols; ++x) cp[static_cast<long>(r) * j.ldc + x] = tile[r * NR + x];
          }
        }
      }
    }
  }
}

}  // namespace lmul::kernels::internal
