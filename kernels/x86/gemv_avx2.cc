// The AVX2 kernels of GemmRows (kernels/gemv.h): the fused exact/fp32 column-block GEMV
// and the decoders of GGML's F32/Q8_0/Q4_0/Q4_1 rows (also into the tile of the
// reduced-operand GEMVs, x86/gemv_reduced_avx2.h, reduced while decoded). Every function
// is built with target("avx2") (no file-wide ISA flags, so nothing here reaches the rest
// of the program through the linker) and runs only under a kernel plan entry that names
// kCpuAvx2 (GemvKernels(), kernels/plan.cc); the interleaved GEMV's with target("avx2,f16c"),
// under the entries that name kCpuF16c too.
#include "kernels/x86/gemv_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/x86/gemv_reduce_avx2.h"
#include "kernels/x86/gemv_reduced_avx2.h"
#include "numeric/bits.h"

namespace lmul::kernels::internal {
namespace {

// C tile (R rows x V*8 columns) = A rows . t columns [col0, col0 + 8V), exact/fp32 in the
// canonical order: acc = +0; acc = acc + fp32(a * b) for k = 0 .. K-1 (no FMA).
template <int R, int V>
__attribute__((target("avx2"))) void MicroExactFp32(const float* t, int col0, int K, const float* a,
                                                    int lda, float* c, int ldc) {
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  }
  const float* bt = t + col0;
  for (int k = 0; k < K; ++k, bt += kGemvBlock) {
    __m256 b[V];
    for (int v = 0; v < V; ++v) b[v] = _mm256_loadu_ps(bt + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + static_cast<size_t>(r) * lda + k);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_add_ps(acc[r][v], _mm256_mul_ps(av, b[v]));
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v)
      _mm256_storeu_ps(c + static_cast<size_t>(r) * ldc + col0 + 8 * v, acc[r][v]);
  }
}

// fp32 value of the IEEE half bits at p (numeric/bits.h's HalfToFloat, the one decoder of
// the tree). Built for AVX2 like its callers and flattened, so the decoder is inlined as
// VEX code: a non-VEX (SSE) call between their 256-bit instructions costs a state
// transition (measured: 10x slower decode on Zen 3 with an out-of-line SSE copy).
__attribute__((target("avx2"), flatten)) inline float Half(const uint8_t* p) {
  return HalfToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}

// The 8 values at k = k0 .. k0+7 (k0 a multiple of 8) of a stored row; d, m: the scales of
// the row's block of k0 (unused for kF32).
template <RowFormat F>
__attribute__((target("avx2"))) inline __m256 Decode8(const uint8_t* row, int k0, __m256 d,
                                                      __m256 m) {
  if constexpr (F == RowFormat::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k0);
  } else if constexpr (F == RowFormat::kQ8_0) {
    const uint8_t* q = row + (k0 / 32) * 34 + 2 + (k0 % 32);
    const __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(v), d);
  } else {
    constexpr int kBytes = F == RowFormat::kQ4_0 ? 18 : 20, kHead = F == RowFormat::kQ4_0 ? 2 : 4;
    const int j = k0 % 32;
    const uint8_t* q = row + (k0 / 32) * kBytes + kHead + (j & 15);
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
    v = j < 16 ? _mm256_and_si256(v, _mm256_set1_epi32(0x0F)) : _mm256_srli_epi32(v, 4);
    if constexpr (F == RowFormat::kQ4_0) {
      return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, _mm256_set1_epi32(8))), d);
    } else {
      return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), d), m);
    }
  }
}

template <RowFormat F>
constexpr int BlockBytes() {
  return static_cast<int>(RowBlockBytes(F));
}

// Scales of the block holding k0 of a row.
template <RowFormat F>
__attribute__((target("avx2"))) inline void Scales(const uint8_t* row, int k0, float* d, float* m) {
  if constexpr (F != RowFormat::kF32) {
    const uint8_t* blk = row + (k0 / 32) * BlockBytes<F>();
    *d = Half(blk);
    if constexpr (F == RowFormat::kQ4_1) *m = Half(blk + 2);
  }
}

__attribute__((target("avx2"))) inline void Transpose8x8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// The decoded values as they are (exact/fp32).
struct NoReduce {
  __attribute__((target("avx2"))) __m256 operator()(__m256 x) const { return x; }
};

// 64 stored rows decoded straight into the k-major tile t[k * 64 + j] (K % 32 == 0 for the
// block forms, K % 8 == 0 for kF32), each vector passed through post (NoReduce, or a
// reduction to the arithmetic's format: gemv_reduce_avx2.h) before it is stored.
template <RowFormat F, class Post>
__attribute__((target("avx2"))) void DecodeTile(const RowRun& run, int K, float* t, Post& post) {
  for (int j0 = 0; j0 < kGemvBlock; j0 += 8) {
    const uint8_t* rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = run.data + static_cast<size_t>(j0 + r) * run.row_bytes;
    __m256 d[8], m[8];
    for (int k0 = 0; k0 < K; k0 += 8) {
      if (k0 % 32 == 0) {
        for (int r = 0; r < 8; ++r) {
          float dv = 0, mv = 0;
          Scales<F>(rows[r], k0, &dv, &mv);
          d[r] = _mm256_set1_ps(dv);
          m[r] = _mm256_set1_ps(mv);
        }
      }
      __m256 v[8];
      for (int r = 0; r < 8; ++r) v[r] = Decode8<F>(rows[r], k0, d[r], m[r]);
      Transpose8x8(v);
      float* dst = t + static_cast<size_t>(k0) * kGemvBlock + j0;
      for (int r = 0; r < 8; ++r) _mm256_storeu_ps(dst + r * kGemvBlock, post(v[r]));
    }
  }
}

// Row-major decode: out[r * K + k].
template <RowFormat F>
__attribute__((target("avx2"))) void DecodeRowsT(const RowRun& run, int K, int rows, float* out) {
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = run.data + static_cast<size_t>(r) * run.row_bytes;
    float* y = out + static_cast<size_t>(r) * K;
    __m256 d = _mm256_setzero_ps(), m = d;
    for (int k0 = 0; k0 < K; k0 += 8) {
      if (k0 % 32 == 0) {
        float dv = 0, mv = 0;
        Scales<F>(row, k0, &dv, &mv);
        d = _mm256_set1_ps(dv);
        m = _mm256_set1_ps(mv);
      }
      _mm256_storeu_ps(y + k0, Decode8<F>(row, k0, d, m));
    }
  }
}

// ---- The interleaved GEMV (gemv-exact-fp32-x8) ----

// 8 IEEE halves as fp32: numeric/bits.h's HalfToFloat per lane, bit for bit, with integer
// operations only. Normal: exponent + 112; Inf/NaN: exponent 31 -> 255, payload kept;
// zero/subnormal: man * 2^-24 (exact in fp32).
__attribute__((target("avx2,f16c"))) inline __m256 Half8Exact(__m128i h16) {
  const __m256i h = _mm256_cvtepu16_epi32(h16);
  const __m256i em = _mm256_and_si256(h, _mm256_set1_epi32(0x7FFF));
  const __m256i sign = _mm256_slli_epi32(_mm256_xor_si256(h, em), 16);
  const __m256i exp = _mm256_srli_epi32(em, 10);
  const __m256i bias = _mm256_set1_epi32(112 << 23);
  __m256i bits = _mm256_add_epi32(_mm256_slli_epi32(em, 13), bias);
  bits = _mm256_add_epi32(bits,
                          _mm256_and_si256(_mm256_cmpeq_epi32(exp, _mm256_set1_epi32(31)), bias));
  const __m256i sub =
      _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(em), _mm256_set1_ps(0x1p-24f)));
  bits = _mm256_blendv_epi8(bits, sub, _mm256_cmpeq_epi32(exp, _mm256_setzero_si256()));
  return _mm256_castsi256_ps(_mm256_or_si256(bits, sign));
}

// 8 IEEE halves at p as fp32, bit for bit HalfToFloat. F16C's `vcvtph2ps` converts every half
// exactly except that it quiets signaling NaNs, so a vector with a NaN lane takes the integer
// conversion (a scale is NaN only in a corrupt or hostile file): ~4 operations where the
// integer conversion takes ~13, twice per block and group for Q4_1 (docs/kernels.md §4.1).
__attribute__((target("avx2,f16c"))) inline __m256 Half8(const uint8_t* p) {
  const __m128i h16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256 f = _mm256_cvtph_ps(h16);
  if (__builtin_expect(_mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q)) == 0, 1)) return f;
  return Half8Exact(h16);
}

template <RowFormat F>
constexpr int X8BlockBytes() {
  return static_cast<int>(InterleavedBlockBytes(F));
}
template <RowFormat F>
constexpr int X8Head() {  // bytes of scales before the quants
  return F == RowFormat::kQ4_1x8 ? 32 : 16;
}

// Element i (0..7) of the 8 nibbles of each lane.
template <int I>
__attribute__((target("avx2,f16c"))) inline __m256i Nibble(__m256i q) {
  if constexpr (I == 0) {
    return _mm256_and_si256(q, _mm256_set1_epi32(0xF));
  } else if constexpr (I == 7) {
    return _mm256_srli_epi32(q, 28);
  } else {
    return _mm256_and_si256(_mm256_srli_epi32(q, 4 * I), _mm256_set1_epi32(0xF));
  }
}

// The 8 rows' values of one 4-bit lane vector at element I (engine/io/dequant.h's order:
// Q4_0 float(q - 8) * d, Q4_1 float(q) * d + m).
template <RowFormat F, int I>
__attribute__((target("avx2,f16c"))) inline __m256 Value4(__m256i q, __m256 d, __m256 m) {
  const __m256i n = Nibble<I>(q);
  if constexpr (F == RowFormat::kQ4_0x8) {
    (void)m;
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(n, _mm256_set1_epi32(8))), d);
  } else {
    return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(n), d), m);
  }
}

// Element I of the 8 k of the nibble vectors q: acc[r][g] += fp32(a(r, k) * x).
template <RowFormat F, int R, int G, int I>
__attribute__((target("avx2,f16c"), always_inline)) inline void Step4(const __m256i (&q)[G],
                                                                      const __m256 (&d)[G],
                                                                      const __m256 (&m)[G],
                                                                      const float* at, int lda,
                                                                      __m256 (&acc)[R][G]) {
  // a(r, k) broadcast once per step for the G groups; with one group (the 8-row tile) at
  // its use, so that 8 accumulators and the decoding fit the 16 registers.
  constexpr int kAv = G == 1 ? 1 : R;
  __m256 av[kAv];
  if constexpr (G > 1) {
    for (int r = 0; r < R; ++r) av[r] = _mm256_broadcast_ss(at + static_cast<size_t>(r) * lda + I);
  }
  for (int g = 0; g < G; ++g) {
    // An opaque copy per step: without it GCC hoists the unpacking of all 8 steps x G
    // groups ahead of the products and spills them to the stack (measured: ~1.3x slower).
    __m256i qg = q[g];
    asm volatile("" : "+x"(qg));
    const __m256 x = Value4<F, I>(qg, d[g], m[g]);
    for (int r = 0; r < R; ++r) {
      const __m256 ar =
          G == 1 ? _mm256_broadcast_ss(at + static_cast<size_t>(r) * lda + I) : av[r % kAv];
      acc[r][g] = _mm256_add_ps(acc[r][g], _mm256_mul_ps(ar, x));
    }
  }
  // The step's sums complete before the next step's unpacking (the out-of-order core
  // overlaps the steps anyway): keeps GCC from regrouping the steps per group, which
  // again spills the decoded values.
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) asm volatile("" : "+x"(acc[r][g]));
  }
}

template <RowFormat F, int R, int G, int... I>
__attribute__((target("avx2,f16c"), always_inline)) inline void Steps4(
    std::integer_sequence<int, I...>, const __m256i (&q)[G], const __m256 (&d)[G],
    const __m256 (&m)[G], const float* at, int lda, __m256 (&acc)[R][G]) {
  (Step4<F, R, G, I>(q, d, m, at, lda, acc), ...);
}

// out[r * 8G + 8g + j] = sum_k a[r * lda + k] * B(k, 8 (g0 + g) + j) for r < R, g < G, j < 8:
// the groups at grp + g * gstride, K = 32 nblk; exact/fp32 in the canonical order (acc = +0;
// acc = acc + fp32(a * b), k = 0 .. K-1; no FMA). Each of the R x G accumulators is one
// output vector's add chain; the weights of a k are decoded once for the R rows.
template <RowFormat F, int R, int G>
__attribute__((target("avx2,f16c"))) void MicroX8(const uint8_t* grp, size_t gstride, int nblk,
                                                  const float* a, int lda, float* out) {
  constexpr int kBB = X8BlockBytes<F>();
  __m256 acc[R][G];
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) acc[r][g] = _mm256_setzero_ps();
  }
  for (int b = 0; b < nblk; ++b) {
    const uint8_t* blk[G];
    __m256 d[G], m[G];
    for (int g = 0; g < G; ++g) {
      blk[g] = grp + g * gstride + static_cast<size_t>(b) * kBB;
      d[g] = Half8(blk[g]);
      m[g] = F == RowFormat::kQ4_1x8 ? Half8(blk[g] + 16) : d[g];
    }
    const float* ak = a + 32 * b;
    if constexpr (F == RowFormat::kQ8_0x8) {
      for (int k = 0; k < 32; ++k) {
        constexpr int kAv = G == 1 ? 1 : R;  // as in Step4
        __m256 av[kAv];
        if constexpr (G > 1) {
          for (int r = 0; r < R; ++r)
            av[r] = _mm256_broadcast_ss(ak + static_cast<size_t>(r) * lda + k);
        }
        for (int g = 0; g < G; ++g) {
          const __m256i q = _mm256_cvtepi8_epi32(
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk[g] + X8Head<F>() + 8 * k)));
          const __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(q), d[g]);
          for (int r = 0; r < R; ++r) {
            const __m256 ar =
                G == 1 ? _mm256_broadcast_ss(ak + static_cast<size_t>(r) * lda + k) : av[r % kAv];
            acc[r][g] = _mm256_add_ps(acc[r][g], _mm256_mul_ps(ar, x));
          }
        }
      }
    } else {
      for (int t = 0; t < 4; ++t) {
        __m256i q[G];
        for (int g = 0; g < G; ++g) {
          q[g] =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[g] + X8Head<F>() + 32 * t));
        }
        Steps4<F, R, G>(std::make_integer_sequence<int, 8>{}, q, d, m, ak + 8 * t, lda, acc);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + r * 8 * G + 8 * g, acc[r][g]);
  }
}

// Rows [0, M) of A times the groups [g0, g1) of b into C's columns [8 g0, min(8 g1, N)).
template <RowFormat F>
__attribute__((target("avx2,f16c"))) void GemvX8T(const InterleavedRows& b, int g0, int g1, int M,
                                                  const float* a, int lda, float* c, int ldc) {
  const int nblk = b.k / 32;
  const size_t gs = b.group_bytes;
  alignas(32) float out[4 * 32];
  // out (rows x 8 gn) -> C rows [i, i + rows), groups [g, g + gn): only columns < N.
  auto store = [&](int i, int rows, int g, int gn, int ld) {
    const int n0 = 8 * g, w = std::min(8 * gn, b.n - n0);
    for (int r = 0; r < rows; ++r) {
      std::copy(out + r * ld, out + r * ld + w, c + static_cast<size_t>(i + r) * ldc + n0);
    }
  };
  int g = g0;
  for (; g + 4 <= g1; g += 4) {  // 4 groups (32 columns) in flight
    const uint8_t* grp = b.data.data() + static_cast<size_t>(g) * gs;
    int i = 0;
    for (; i + 8 <= M; i += 8) {  // 8 rows x 1 group: each decoded vector serves 8 rows
      for (int h = 0; h < 4; ++h) {
        MicroX8<F, 8, 1>(grp + h * gs, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 8, g + h, 1, 8);
      }
    }
    for (; i + 4 <= M; i += 4) {
      for (int h = 0; h < 4; h += 2) {
        MicroX8<F, 4, 2>(grp + h * gs, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
        store(i, 4, g + h, 2, 16);
      }
    }
    for (; i + 2 <= M; i += 2) {
      MicroX8<F, 2, 4>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
      store(i, 2, g, 4, 32);
    }
    if (i < M) {
      MicroX8<F, 1, 4>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
      store(i, 1, g, 4, 32);
    }
  }
  for (; g < g1; ++g) {  // the last 1-3 groups one at a time
    const uint8_t* grp = b.data.data() + static_cast<size_t>(g) * gs;
    int i = 0;
    for (; i + 4 <= M; i += 4) {
      MicroX8<F, 4, 1>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
      store(i, 4, g, 1, 8);
    }
    for (; i < M; ++i) {
      MicroX8<F, 1, 1>(grp, gs, nblk, a + static_cast<size_t>(i) * lda, lda, out);
      store(i, 1, g, 1, 8);
    }
  }
}

}  // namespace

__attribute__((target("avx2"))) void TransposeRowsAvx2(const float* rows, int K, int cols, float* t,
                                                       int ldt) {
  const int k8 = K & ~7;
  for (int j0 = 0; j0 < cols; j0 += 8) {
    const float* r = rows + static_cast<size_t>(j0) * K;
    for (int k0 = 0; k0 < k8; k0 += 8) {
      __m256 r0 = _mm256_loadu_ps(r + 0 * static_cast<size_t>(K) + k0);
      __m256 r1 = _mm256_loadu_ps(r + 1 * static_cast<size_t>(K) + k0);
      __m256 r2 = _mm256_loadu_ps(r + 2 * static_cast<size_t>(K) + k0);
      __m256 r3 = _mm256_loadu_ps(r + 3 * static_cast<size_t>(K) + k0);
      __m256 r4 = _mm256_loadu_ps(r + 4 * static_cast<size_t>(K) + k0);
      __m256 r5 = _mm256_loadu_ps(r + 5 * static_cast<size_t>(K) + k0);
      __m256 r6 = _mm256_loadu_ps(r + 6 * static_cast<size_t>(K) + k0);
      __m256 r7 = _mm256_loadu_ps(r + 7 * static_cast<size_t>(K) + k0);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = t + static_cast<size_t>(k0) * ldt + j0;
      _mm256_storeu_ps(d + 0 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + 1 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 2 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 3 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 4 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 5 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 6 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 7 * static_cast<size_t>(ldt), _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    for (int k = k8; k < K; ++k) {
      for (int j = 0; j < 8; ++j) {
        t[static_cast<size_t>(k) * ldt + j0 + j] = r[static_cast<size_t>(j) * K + k];
      }
    }
  }
}

template <class Post>
__attribute__((target("avx2"))) bool DecodeTileAny(const RowRun& run, int K, float* t, Post& post) {
  switch (run.format) {
    case RowFormat::kF32:
      DecodeTile<RowFormat::kF32>(run, K, t, post);
      return true;
    case RowFormat::kQ8_0:
      DecodeTile<RowFormat::kQ8_0>(run, K, t, post);
      return true;
    case RowFormat::kQ4_0:
      DecodeTile<RowFormat::kQ4_0>(run, K, t, post);
      return true;
    case RowFormat::kQ4_1:
      DecodeTile<RowFormat::kQ4_1>(run, K, t, post);
      return true;
    default:
      return false;
  }
}

// Stored rows decoded into the tile already reduced to an exp8 format (bf16, e8mK) with
// the statistics of the block.
template <bool kRne, bool kLMul>
__attribute__((target("avx2"))) bool DecodeTileReducedT(const GemvReducedA& ga, const RowRun& run,
                                                        int K, float* t, RunStats* st) {
  Exp8Reduce<kRne, kLMul> post(ga.c);
  if (!DecodeTileAny(run, K, t, post)) return false;
  post.Finish(st);
  return true;
}

__attribute__((target("avx2"))) bool DecodeTileAvx2(const RowRun& run, int K, float* t) {
  NoReduce none;
  return DecodeTileAny(run, K, t, none);
}

bool DecodeTileReducedAvx2(const GemvReducedA& ga, const RowRun& run, int K, float* t,
                           RunStats* st) {
  const bool lmul = ga.kind == GemvKind::kFusedLMulFast;
  if (ga.c.rne) {
    return lmul ? DecodeTileReducedT<true, true>(ga, run, K, t, st)
                : DecodeTileReducedT<true, false>(ga, run, K, t, st);
  }
  return lmul ? DecodeTileReducedT<false, true>(ga, run, K, t, st)
              : DecodeTileReducedT<false, false>(ga, run, K, t, st);
}

__attribute__((target("avx2"))) bool DecodeRowsAvx2(const RowRun& run, int K, int rows,
                                                    float* out) {
  switch (run.format) {
    case RowFormat::kF32:
      DecodeRowsT<RowFormat::kF32>(run, K, rows, out);
      return true;
    case RowFormat::kQ8_0:
      DecodeRowsT<RowFormat::kQ8_0>(run, K, rows, out);
      return true;
    case RowFormat::kQ4_0:
      DecodeRowsT<RowFormat::kQ4_0>(run, K, rows, out);
      return true;
    case RowFormat::kQ4_1:
      DecodeRowsT<RowFormat::kQ4_1>(run, K, rows, out);
      return true;
    default:
      return false;
  }
}

__attribute__((target("avx2"))) void GemvExactFp32BlockAvx2(int M, int K, const float* t,
                                                            const float* a, int lda, float* ctile) {
  int i = 0;
  for (; i + 2 <= M; i += 2) {
    const float* ai = a + static_cast<size_t>(i) * lda;
    float* ci = ctile + static_cast<size_t>(i) * kGemvBlock;
    MicroExactFp32<2, 4>(t, 0, K, ai, lda, ci, kGemvBlock);
    MicroExactFp32<2, 4>(t, 32, K, ai, lda, ci, kGemvBlock);
  }
  if (i < M) {
    MicroExactFp32<1, 8>(t, 0, K, a + static_cast<size_t>(i) * lda, lda,
                         ctile + static_cast<size_t>(i) * kGemvBlock, kGemvBlock);
  }
}

}  // namespace lmul::kernels::internal

namespace lmul::kernels::internal {

__attribute__((target("avx2,f16c"))) void HalfToFloat8Avx2(const uint16_t* h, float* out) {
  _mm256_storeu_ps(out, Half8(reinterpret_cast<const uint8_t*>(h)));
}

__attribute__((target("avx2,f16c"))) bool GemvInterleavedAvx2(const InterleavedRows& b, int g0,
                                                              int g1, int M, const float* a,
                                                              int lda, float* c, int ldc) {
  switch (b.format) {
    case RowFormat::kQ4_0x8:
      GemvX8T<RowFormat::kQ4_0x8>(b, g0, g1, M, a, lda, c, ldc);
      return true;
    case RowFormat::kQ4_1x8:
      GemvX8T<RowFormat::kQ4_1x8>(b, g0, g1, M, a, lda, c, ldc);
      return true;
    case RowFormat::kQ8_0x8:
      GemvX8T<RowFormat::kQ8_0x8>(b, g0, g1, M, a, lda, c, ldc);
      return true;
    default:
      return false;
  }
}

}  // namespace lmul::kernels::internal
