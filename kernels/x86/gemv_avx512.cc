// The interleaved GEMV with 512-bit vectors (gemv-exact-fp32-x16): gemv_avx2.cc's
// GemvX8T with one zmm holding two groups of 8 rows, i.e. 16 output columns at one k.
// Every lane does what the AVX2 kernel's lane does (decode per engine/io/dequant.h, then
// acc = acc + fp32(a * w), k in order, no FMA), so the results are the same bits; the gain
// is the port count: on an Intel AVX-512 core 256-bit float operations issue on two ports
// and so do 512-bit ones, each doing twice the lanes (docs/kernels.md §8.1).
//
// Functions carry target("avx512f") (no file flags), as gemv_avx2.cc's carry "avx2": the
// templates of the standard library this file instantiates stay baseline code.
#include "kernels/x86/gemv_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "kernels/x86/gemv_avx2.h"

namespace lmul::kernels::internal {
namespace {

// 16 IEEE halves (as 16-bit lanes) as fp32: numeric/bits.h's HalfToFloat per lane, bit for
// bit, with integer operations only (gemv_avx2.cc's Half8 in 16 lanes).
__attribute__((target("avx512f"))) inline __m512 Half16Exact(__m256i h16) {
  const __m512i h = _mm512_cvtepu16_epi32(h16);
  const __m512i em = _mm512_and_si512(h, _mm512_set1_epi32(0x7FFF));
  const __m512i sign = _mm512_slli_epi32(_mm512_xor_si512(h, em), 16);
  const __m512i exp = _mm512_srli_epi32(em, 10);
  const __m512i bias = _mm512_set1_epi32(112 << 23);
  __m512i bits = _mm512_add_epi32(_mm512_slli_epi32(em, 13), bias);
  bits =
      _mm512_mask_add_epi32(bits, _mm512_cmpeq_epi32_mask(exp, _mm512_set1_epi32(31)), bits, bias);
  const __m512i sub =
      _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(em), _mm512_set1_ps(0x1p-24f)));
  bits = _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(exp, _mm512_setzero_si512()), bits, sub);
  return _mm512_castsi512_ps(_mm512_or_si512(bits, sign));
}

// 8 IEEE halves at p0 and 8 at p1 as 16 fp32 lanes, bit for bit HalfToFloat. `vcvtph2ps`
// converts every half exactly (subnormals, infinities, zeros' signs) except that it quiets
// signaling NaNs, so a vector with a NaN lane takes the integer conversion instead (a
// scale is NaN only in a corrupt or hostile file): ~3 operations per vector where the
// integer conversion takes ~14, once per block and vector (docs/kernels.md §8.1.1).
__attribute__((target("avx512f"))) inline __m512 Half16(const uint8_t* p0, const uint8_t* p1) {
  const __m256i h16 = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)), 1);
  const __m512 f = _mm512_cvtph_ps(h16);
  if (__builtin_expect(_mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q) == 0, 1)) return f;
  return Half16Exact(h16);
}

template <RowFormat F>
constexpr int BlockBytes() {
  return static_cast<int>(InterleavedBlockBytes(F));
}
template <RowFormat F>
constexpr int Head() {  // bytes of scales before the quants
  return F == RowFormat::kQ4_1x8 ? 32 : 16;
}

// The 16 rows' values of one 4-bit lane vector at element I (0..7) of its 8 nibbles (Q4_0
// float(q - 8) * d, Q4_1 float(q) * d + m). float(q) (or float(q - 8)) comes from a 16-entry
// table by `vpermps`, which reads only the low 4 bits of each index lane: the nibble needs
// one shift and no mask, subtraction or conversion (~1.9 operations per vector where mask,
// shift and conversion took ~2.75, Q4_0 ~3.75), and the permute issues on port 5 where the
// 512-bit shift and conversion need port 0 (docs/kernels.md §8.1.1). The table's entries are
// the exact values `vcvtdq2ps` gives, so the lane's value is the same bits.
template <RowFormat F, int I>
__attribute__((target("avx512f"))) inline __m512 Value4(__m512i q, __m512 d, __m512 m) {
  const __m512 table = F == RowFormat::kQ4_0x8
                           ? _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7)
                           : _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i n = I == 0 ? q : _mm512_srli_epi32(q, 4 * I);
  const __m512 v = _mm512_permutexvar_ps(n, table);
  if constexpr (F == RowFormat::kQ4_0x8) {
    (void)m;
    return _mm512_mul_ps(v, d);
  } else {
    return _mm512_add_ps(_mm512_mul_ps(v, d), m);
  }
}

// Element I of the 8 k of the nibble vectors q: acc[r][p] += fp32(a(r, k) * x).
template <RowFormat F, int R, int P, int I>
__attribute__((target("avx512f"), always_inline)) inline void Step4(const __m512i (&q)[P],
                                                                    const __m512 (&d)[P],
                                                                    const __m512 (&m)[P],
                                                                    const float* at, int lda,
                                                                    __m512 (&acc)[R][P]) {
  for (int p = 0; p < P; ++p) {
    // Opaque copies, as in gemv_avx2.cc: keep GCC from hoisting all the unpacking ahead
    // of the products (spills). a(r, k) is broadcast at its use, so that the compiler folds
    // it into the multiply (`vmulps zmm, zmm, m32{1to16}`) and 8 rows x 2 vectors of
    // accumulators fit the 32 registers without spills.
    __m512i qp = q[p];
    asm volatile("" : "+v"(qp));
    const __m512 x = Value4<F, I>(qp, d[p], m[p]);
    for (int r = 0; r < R; ++r) {
      acc[r][p] = _mm512_add_ps(
          acc[r][p], _mm512_mul_ps(_mm512_set1_ps(at[static_cast<size_t>(r) * lda + I]), x));
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) asm volatile("" : "+v"(acc[r][p]));
  }
}

template <RowFormat F, int R, int P, int... I>
__attribute__((target("avx512f"), always_inline)) inline void Steps4(
    std::integer_sequence<int, I...>, const __m512i (&q)[P], const __m512 (&d)[P],
    const __m512 (&m)[P], const float* at, int lda, __m512 (&acc)[R][P]) {
  (Step4<F, R, P, I>(q, d, m, at, lda, acc), ...);
}

// out[r * 16P + 8g + j] = sum_k a[r * lda + k] * B(k, 8 (g0 + g) + j) for r < R, g < 2P,
// j < 8: the groups at grp + g * gstride, K = 32 nblk; exact/fp32 in the canonical order
// (acc = +0; acc = acc + fp32(a * b), k = 0 .. K-1; no FMA). Vector p holds groups 2p
// (lanes 0-7) and 2p + 1 (lanes 8-15).
template <RowFormat F, int R, int P>
__attribute__((target("avx512f"))) void MicroX16(const uint8_t* grp, size_t gstride, int nblk,
                                                 const float* a, int lda, float* out) {
  constexpr int kBB = BlockBytes<F>();
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  }
  for (int b = 0; b < nblk; ++b) {
    const uint8_t* lo[P];
    const uint8_t* hi[P];
    __m512 d[P], m[P];
    for (int p = 0; p < P; ++p) {
      lo[p] = grp + (2 * p) * gstride + static_cast<size_t>(b) * kBB;
      hi[p] = lo[p] + gstride;
      d[p] = Half16(lo[p], hi[p]);
      m[p] = F == RowFormat::kQ4_1x8 ? Half16(lo[p] + 16, hi[p] + 16) : d[p];
    }
    const float* ak = a + 32 * b;
    if constexpr (F == RowFormat::kQ8_0x8) {
      for (int k = 0; k < 32; ++k) {
        __m512 av[R];
        for (int r = 0; r < R; ++r) av[r] = _mm512_set1_ps(ak[static_cast<size_t>(r) * lda + k]);
        for (int p = 0; p < P; ++p) {
          const __m128i q8 = _mm_unpacklo_epi64(
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(lo[p] + Head<F>() + 8 * k)),
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(hi[p] + Head<F>() + 8 * k)));
          const __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q8)), d[p]);
          for (int r = 0; r < R; ++r) acc[r][p] = _mm512_add_ps(acc[r][p], _mm512_mul_ps(av[r], x));
        }
      }
    } else {
      for (int t = 0; t < 4; ++t) {
        __m512i q[P];
        for (int p = 0; p < P; ++p) {
          const __m256i q0 =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo[p] + Head<F>() + 32 * t));
          const __m256i q1 =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi[p] + Head<F>() + 32 * t));
          q[p] = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
        }
        Steps4<F, R, P>(std::make_integer_sequence<int, 8>{}, q, d, m, ak + 8 * t, lda, acc);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) _mm512_storeu_ps(out + r * 16 * P + 16 * p, acc[r][p]);
  }
}

// Rows [0, M) of A times the groups [g0, g1) of b into C's columns [8 g0, min(8 g1, N)).
template <RowFormat F>
__attribute__((target("avx512f"))) void GemvX16T(const InterleavedRows& b, int g0, int g1, int M,
                                                 const float* a, int lda, float* c, int ldc) {
  const int nblk = b.k / 32;
  const size_t gs = b.group_bytes;
  alignas(64) float out[8 * 32];
  // out (rows x 8 gn) -> C rows [i, i + rows), groups [g, g + gn): only columns < N.
  auto store = [&](int i, int rows, int g, int gn, int ld) {
    const int n0 = 8 * g, w = std::min(8 * gn, b.n - n0);
    for (int r = 0; r < rows; ++r) {
      std::copy(out + r * ld, out + r * ld + w, c + static_cast<size_t>(i + r) * ldc + n0);
    }
  };
  // Groups in pairs (one vector each): 4 groups (two vectors, 32 columns) in flight for 8
  // rows of A at a time (16 accumulators: each decoded vector serves 8 rows), then 4, 2, 1;
  // then a last pair; a last odd group goes through the AVX2 kernel (the same values).
  int g = g0;
  for (; g + 2 <= g1;) {
    const uint8_t* grp = b.data.data() + static_cast<size_t>(g) * gs;
    int i = 0;
    if (g + 4 <= g1) {
      for (; i + 8 <= M; i += 8) {
        MicroX16<F, 8, 2>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 8, g, 4, 32);
      }
      for (; i + 4 <= M; i += 4) {
        MicroX16<F, 4, 2>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 4, g, 4, 32);
      }
      for (; i + 2 <= M; i += 2) {
        MicroX16<F, 2, 2>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 2, g, 4, 32);
      }
      if (i < M) {
        MicroX16<F, 1, 2>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 1, g, 4, 32);
      }
      g += 4;
    } else {
      for (; i + 4 <= M; i += 4) {
        MicroX16<F, 4, 1>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 4, g, 2, 16);
      }
      for (; i < M; ++i) {
        MicroX16<F, 1, 1>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 1, g, 2, 16);
      }
      g += 2;
    }
  }
  if (g < g1) GemvInterleavedAvx2(b, g, g1, M, a, lda, c, ldc);
}

}  // namespace

__attribute__((target("avx512f"))) void HalfToFloat16Avx512(const uint16_t* h, float* out) {
  _mm512_storeu_ps(
      out, Half16(reinterpret_cast<const uint8_t*>(h), reinterpret_cast<const uint8_t*>(h + 8)));
}

bool GemvInterleavedAvx512(const InterleavedRows& b, int g0, int g1, int M, const float* a, int lda,
                           float* c, int ldc) {
  switch (b.format) {
    case RowFormat::kQ4_0x8:
      GemvX16T<RowFormat::kQ4_0x8>(b, g0, g1, M, a, lda, c, ldc);
      return true;
    case RowFormat::kQ4_1x8:
      GemvX16T<RowFormat::kQ4_1x8>(b, g0, g1, M, a, lda, c, ldc);
      return true;
    case RowFormat::kQ8_0x8:
      GemvX16T<RowFormat::kQ8_0x8>(b, g0, g1, M, a, lda, c, ldc);
      return true;
    default:
      return false;
  }
}

}  // namespace lmul::kernels::internal
