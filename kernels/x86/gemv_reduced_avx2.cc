// The reduced-operand fused GEMVs (gemv-exact-wide, gemv-lmul-fast): AVX2 micro-kernels in
// functions built with target("avx2") (the FMA form with target("avx2,fma")).
#include "kernels/x86/gemv_reduced_avx2.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/gemv.h"
#include "kernels/plan.h"

namespace lmul::kernels::internal {
namespace {

// C tile (R rows x V*8 columns, from column col0) in the canonical order: acc = +0;
// acc = acc + p(a(r, k), tc(k, j)) for k = 0 .. K-1.
//   kExactWide: p = fp32(a * b) on carrier floats (no FMA).
//   kLMulFast:  p = bits (a' + b), a' = carrier(a) - c_off; a zero b (b_zero) or a zero a
//               (a_zero: a_mask 0) gives +0 (acc + 0 = acc: acc is never -0).
template <GemvKind kKind, int R, int V, bool a_zero, bool b_zero>
__attribute__((target("avx2"))) void Micro(const GemvReducedA& ga, int row0, const uint32_t* tc,
                                           int col0, float* ctile) {
  const int K = ga.K;
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  }
  const uint32_t* arow[R];
  const uint32_t* mrow[R];
  for (int r = 0; r < R; ++r) {
    arow[r] = ga.a.data() + static_cast<size_t>(row0 + r) * K;
    mrow[r] = a_zero ? ga.a_mask.data() + static_cast<size_t>(row0 + r) * K : nullptr;
  }
  const uint32_t* bt = tc + col0;
  const __m256i zero = _mm256_setzero_si256();
  for (int k = 0; k < K; ++k, bt += kGemvBlock) {
    __m256i b[V];
    for (int v = 0; v < V; ++v) {
      b[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bt + 8 * v));
    }
    if constexpr (kKind == GemvKind::kFusedExactWide) {
      for (int r = 0; r < R; ++r) {
        const __m256 av = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(arow[r][k])));
        for (int v = 0; v < V; ++v) {
          acc[r][v] = _mm256_add_ps(acc[r][v], _mm256_mul_ps(av, _mm256_castsi256_ps(b[v])));
        }
      }
    } else {
      __m256i bz[V];
      if constexpr (b_zero) {
        for (int v = 0; v < V; ++v) bz[v] = _mm256_cmpeq_epi32(b[v], zero);
      }
      for (int r = 0; r < R; ++r) {
        const __m256i av = _mm256_set1_epi32(static_cast<int>(arow[r][k]));
        __m256i am;
        if constexpr (a_zero) am = _mm256_set1_epi32(static_cast<int>(mrow[r][k]));
        for (int v = 0; v < V; ++v) {
          __m256i s = _mm256_add_epi32(av, b[v]);
          if constexpr (b_zero) s = _mm256_andnot_si256(bz[v], s);
          if constexpr (a_zero) s = _mm256_and_si256(am, s);
          acc[r][v] = _mm256_add_ps(acc[r][v], _mm256_castsi256_ps(s));
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      _mm256_storeu_ps(ctile + static_cast<size_t>(row0 + r) * kGemvBlock + col0 + 8 * v,
                       acc[r][v]);
    }
  }
}

// The general L-Mul in the FMA form (finite data, saturation a clamp), R rows x V vectors.
template <int R, int V>
__attribute__((target("avx2,fma"))) void MicroGeneralFma(const GemvReducedA& ga, int row0,
                                                         const uint32_t* tc, int col0,
                                                         float* ctile) {
  const int K = ga.K;
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  }
  const int32_t* arow[R];
  const float* zrow[R];
  for (int r = 0; r < R; ++r) {
    arow[r] = ga.a_gen.data() + static_cast<size_t>(row0 + r) * K;
    zrow[r] = ga.a_z.data() + static_cast<size_t>(row0 + r) * K;
  }
  const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), b30 = _mm256_set1_epi32(0x40000000);
  const __m256i hi = _mm256_set1_epi32(static_cast<int32_t>(ga.c.c_sat - 0x40000000u));
  const __m256i lo = _mm256_set1_epi32(static_cast<int32_t>(ga.c.c_zero_lim - 0x40000000u));
  const __m256i zero = _mm256_setzero_si256();
  const uint32_t* bt = tc + col0;
  for (int k = 0; k < K; ++k, bt += kGemvBlock) {
    __m256i bm[V], sb[V], nz[V];
    for (int v = 0; v < V; ++v) {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bt + 8 * v));
      bm[v] = _mm256_and_si256(b, abs);
      sb[v] = _mm256_or_si256(_mm256_andnot_si256(abs, b), b30);
      nz[v] = _mm256_cmpeq_epi32(bm[v], zero);  // all ones for a zero b
    }
    for (int r = 0; r < R; ++r) {
      const __m256i a = _mm256_set1_epi32(arow[r][k]);
      const __m256 z = _mm256_set1_ps(zrow[r][k]);
      for (int v = 0; v < V; ++v) {
        const __m256i s = _mm256_min_epi32(_mm256_add_epi32(a, bm[v]), hi);
        // dropped: a zero b, or s < lo (below the smallest normal)
        const __m256i drop = _mm256_or_si256(nz[v], _mm256_cmpgt_epi32(lo, s));
        const __m256 p = _mm256_castsi256_ps(_mm256_andnot_si256(drop, _mm256_add_epi32(s, sb[v])));
        acc[r][v] = _mm256_fmadd_ps(p, z, acc[r][v]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      _mm256_storeu_ps(ctile + static_cast<size_t>(row0 + r) * kGemvBlock + col0 + 8 * v,
                       acc[r][v]);
    }
  }
}

void BlockGeneralFma(const GemvReducedA& ga, const uint32_t* tc, float* ctile) {
  int i = 0;
  for (; i + 2 <= ga.M; i += 2) {
    for (int col = 0; col < kGemvBlock; col += 16) MicroGeneralFma<2, 2>(ga, i, tc, col, ctile);
  }
  if (i < ga.M) {
    for (int col = 0; col < kGemvBlock; col += 32) MicroGeneralFma<1, 4>(ga, i, tc, col, ctile);
  }
}

// All M rows, all 64 columns of the block.
template <GemvKind kKind, bool a_zero, bool b_zero>
void Block(const GemvReducedA& ga, const uint32_t* tc, float* ctile) {
  // Register budget (16 ymm): 2 rows x 4 vectors, or 2 x 2 when zero masks of B are live.
  constexpr int V = (kKind == GemvKind::kFusedLMulFast && b_zero) ? 2 : 4;
  int i = 0;
  for (; i + 2 <= ga.M; i += 2) {
    for (int col = 0; col < kGemvBlock; col += 8 * V) {
      Micro<kKind, 2, V, a_zero, b_zero>(ga, i, tc, col, ctile);
    }
  }
  if (i < ga.M) {
    constexpr int V1 = 2 * V;
    for (int col = 0; col < kGemvBlock; col += 8 * V1) {
      Micro<kKind, 1, V1, a_zero, b_zero>(ga, i, tc, col, ctile);
    }
  }
}

bool AnyNonzero(const RunStats& s) { return s.max_mag != 0; }

}  // namespace

void PrepareGemvReducedA(GemvKind kind, const Arith& arith, int M, int K, const float* a, int lda,
                         GemvReducedA* out) {
  GemvReducedA& g = *out;
  g.kind = kind;
  if (!(g.c.arith == arith) || g.K == 0) g.c = MakeConsts(arith);
  g.M = M;
  g.K = K;
  g.a.resize(static_cast<size_t>(M) * K);
  g.st = ConvertRows(g.c, a, static_cast<size_t>(lda), M, static_cast<size_t>(K), g.a.data(),
                     static_cast<size_t>(K), /*keep_zero_sign=*/false, /*threads=*/1);
  g.a_mask.clear();
  g.exp8 = g.c.exp8 && g.c.shift > 0;
  if (kind != GemvKind::kFusedLMulFast) return;
  // As GemmPacked's fast packing: a' = carrier - c_off (u32, wrapping); zeros masked.
  if (g.st.zero) g.a_mask.resize(g.a.size());
  g.general = (ArithProperties(arith) & kNeedClampSat) != 0;
  if (g.general) {
    // As GemmPacked's packing for the FMA form (kLMulGeneralFma).
    g.a_gen.resize(g.a.size());
    g.a_z.resize(g.a.size());
    const uint32_t base = 0u - g.c.c_off - 0x40000000u;
    for (size_t i = 0; i < g.a.size(); ++i) {
      const uint32_t v = g.a[i], mag = v & 0x7FFFFFFFu;
      const bool zero = mag < g.c.c_zero_lim;
      g.a_gen[i] = static_cast<int32_t>((zero ? 0u : mag) + base);
      g.a_z[i] = zero ? 0.0f : (v >> 31 ? -1.0f : 1.0f);
    }
  }
  for (size_t i = 0; i < g.a.size(); ++i) {
    const uint32_t v = g.a[i];
    if (g.st.zero) g.a_mask[i] = (v & 0x7FFFFFFFu) == 0 ? 0u : ~0u;
    g.a[i] = v - g.c.c_off;
  }
}

bool GemvReducedBlock(const GemvReducedA& ga, const float* t, uint32_t* tc, float* ctile) {
  RunStats bst;
  ConvertRunSimd(ga.c, t, static_cast<size_t>(ga.K) * kGemvBlock, tc, &bst);
  return GemvReducedRun(ga, tc, bst, ctile);
}

bool GemvReducedRun(const GemvReducedA& ga, const uint32_t* tc, const RunStats& bst, float* ctile) {
  if (ga.kind == GemvKind::kFusedExactWide) {
    Block<GemvKind::kFusedExactWide, false, false>(ga, tc, ctile);
    return true;
  }
  if (ga.kind != GemvKind::kFusedLMulFast) return false;
  const DataRange range = RangeOf(ga.c, ga.st, bst);
  if (range == DataRange::kFinite && ga.general) {
    BlockGeneralFma(ga, tc, ctile);
    return true;
  }
  if (range != DataRange::kInRange) return false;
  if (!AnyNonzero(ga.st) || !AnyNonzero(bst)) {  // every product a zero (as GemmPacked)
    std::fill(ctile, ctile + static_cast<size_t>(ga.M) * kGemvBlock, 0.0f);
    return true;
  }
  const bool az = ga.st.zero, bz = bst.zero;
  if (az && bz) {
    Block<GemvKind::kFusedLMulFast, true, true>(ga, tc, ctile);
  } else if (az) {
    Block<GemvKind::kFusedLMulFast, true, false>(ga, tc, ctile);
  } else if (bz) {
    Block<GemvKind::kFusedLMulFast, false, true>(ga, tc, ctile);
  } else {
    Block<GemvKind::kFusedLMulFast, false, false>(ga, tc, ctile);
  }
  return true;
}

}  // namespace lmul::kernels::internal
