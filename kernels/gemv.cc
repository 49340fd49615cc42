#include "kernels/gemv.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "base/check.h"
#include "kernels/gemv_reduced.h"
#include "kernels/plan.h"
#include "kernels/worker_pool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "kernels/gemv_reduce_avx2.h"
#define LMUL_GEMV_X86 1
#endif

namespace lmul::kernels {
namespace {

// Column block of the fused GEMV (two 32-column panels: 8 vector accumulators for one row).
constexpr int kGemvBlock = 64;
static_assert(kGemvBlock == internal::kGemvBlock, "gemv_reduced.h shares the tile layout");
// Column block of the PackB + GemmPacked path: 8 panels, so that per-call costs (converting
// A, the kernel choice) are spread over enough products.
constexpr int kPackedBlock = 256;

bool IsExactFp32(const Arith& arith) {
  return arith.op == Op::kExact && arith.format.kind == Format::Kind::kFp32;
}

#ifdef LMUL_GEMV_X86
// The CPU features are probed once per process by the kernel plan (kernels/plan.h).
bool CpuHasAvx2() { return (HostCpuFeatures() & kCpuAvx2) != 0; }

// t[k * ldt + j] = rows[j * K + k] for j < cols (a multiple of 8), k < K (8x8 blocks
// through registers).
__attribute__((target("avx2"))) void TransposeRows(const float* rows, int K, int cols, float* t,
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

void TransposeBlock(const float* rows, int K, float* t) {
  TransposeRows(rows, K, kGemvBlock, t, kGemvBlock);
}

// C tile (R rows x V*8 columns) = A rows . t columns [col0, col0 + 8V), exact/fp32 in the
// canonical order: acc = +0; acc = acc + fp32(a * b) for k = 0 .. K-1 (no FMA).
template <int R, int V>
__attribute__((target("avx2"))) void MicroExactFp32(const float* t, int col0, int K,
                                                    const float* a, int lda, float* c, int ldc) {
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
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(c + static_cast<size_t>(r) * ldc + col0 + 8 * v,
                                                 acc[r][v]);
  }
}

// fp32 value of IEEE half bits (exact; NaN payloads kept, as engine/io/dequant.cc). Built for
// AVX2 like its callers: a non-VEX (SSE) instruction between their 256-bit ones costs a
// state transition (measured: 10x slower decode on Zen 3 with this function compiled SSE).
__attribute__((target("avx2"))) inline float Half(const uint8_t* p) {
  const uint32_t h = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F;
  uint32_t man = h & 0x3FF, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while ((man & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
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
  return F == RowFormat::kQ8_0 ? 34 : F == RowFormat::kQ4_0 ? 18 : 20;
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
__attribute__((target("avx2"))) void DecodeRowsT(const RowRun& run, int K, int rows,
                                                 float* out) {
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

// Whether the kernels decode `run` for rows of K values.
bool Decodable(const RowRun& run, int K) {
  if (!CpuHasAvx2() || run.data == nullptr) return false;
  switch (run.format) {
    case RowFormat::kF32:
      return K % 8 == 0;
    case RowFormat::kQ8_0:
    case RowFormat::kQ4_0:
    case RowFormat::kQ4_1:
      return K % 32 == 0;
    default:
      return false;
  }
}

template <class Post>
bool DecodeTileAny(const RowRun& run, int K, float* t, Post& post) {
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

bool DecodeTileAny(const RowRun& run, int K, float* t) {
  NoReduce none;
  return DecodeTileAny(run, K, t, none);
}

// Stored rows decoded into the tile already reduced to an exp8 format (bf16, e8mK) with
// the statistics of the block (gemv_reduced.h: GemvReducedA::exp8).
template <bool kRne, bool kLMul>
bool DecodeTileReducedT(const internal::GemvReducedA& ga, const RowRun& run, int K, float* t,
                        internal::RunStats* st) {
  internal::Exp8Reduce<kRne, kLMul> post(ga.c);
  if (!DecodeTileAny(run, K, t, post)) return false;
  post.Finish(st);
  return true;
}

bool DecodeTileReduced(const internal::GemvReducedA& ga, const RowRun& run, int K, float* t,
                       internal::RunStats* st) {
  const bool lmul = ga.kind == internal::GemvReducedKind::kLMulFast;
  if (ga.c.rne) {
    return lmul ? DecodeTileReducedT<true, true>(ga, run, K, t, st)
                : DecodeTileReducedT<true, false>(ga, run, K, t, st);
  }
  return lmul ? DecodeTileReducedT<false, true>(ga, run, K, t, st)
              : DecodeTileReducedT<false, false>(ga, run, K, t, st);
}

// One column block (<= 64 columns, rows already dequantized) of the fused GEMV.
void GemvExactFp32Block(int M, int K, const float* t, const float* a, int lda, float* ctile) {
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
#endif  // LMUL_GEMV_X86

bool UseFusedGemv(const Arith& arith, int M, const GemmOptions& opts) {
#ifdef LMUL_GEMV_X86
  return IsExactFp32(arith) && opts.accum == Accum::kFp32 && M >= 1 && M <= kGemvMaxRows &&
         CpuHasAvx2();
#else
  (void)arith, (void)M, (void)opts;
  return false;
#endif
}

struct Workspace {
  std::vector<float> rows, t, ctile;
  std::vector<uint32_t> tc;  // the tile reduced to the arithmetic's format (gemv_reduced.h)
};

Workspace& ThreadWorkspace() {
  thread_local Workspace w;
  return w;
}

}  // namespace

bool DecodeRowRun(const RowRun& run, int K, int rows, float* out) {
#ifdef LMUL_GEMV_X86
  if (rows > run.rows || !Decodable(run, K)) return false;
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
#else
  (void)run, (void)K, (void)rows, (void)out;
  return false;
#endif
}

const char* GemmRowsPath(const Arith& arith, int M, const GemmOptions& opts) {
  if (UseFusedGemv(arith, M, opts)) return "gemv-exact-fp32";
  switch (internal::ChooseGemvReduced(arith, M, opts)) {
    case internal::GemvReducedKind::kExactWide:
      return "gemv-exact-wide";
    case internal::GemvReducedKind::kLMulFast:
      return "gemv-lmul-fast";
    case internal::GemvReducedKind::kNone:
      break;
  }
  return "packed-blocks";
}

void GemmRows(const Arith& arith, int M, int N, int K, const float* a, int lda,
              const RowSource& b, float* c, int ldc, const GemmOptions& opts) {
  LMUL_CHECK(M >= 0 && N >= 0 && K >= 0, "GemmRows: M=%d N=%d K=%d", M, N, K);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int i = 0; i < M; ++i) std::fill(c + static_cast<size_t>(i) * ldc,
                                          c + static_cast<size_t>(i) * ldc + N, 0.0f);
    return;
  }
  // The fused GEMVs: exact/fp32 (this file), or operands reduced to a narrower format
  // first (gemv_reduced.h: A reduced here once, shared read-only by the threads).
  const bool fused_fp32 = UseFusedGemv(arith, M, opts);
  const internal::GemvReducedKind reduced =
      fused_fp32 ? internal::GemvReducedKind::kNone : internal::ChooseGemvReduced(arith, M, opts);
  const bool fused = fused_fp32 || reduced != internal::GemvReducedKind::kNone;
  thread_local internal::GemvReducedA tl_reduced_a;
  internal::GemvReducedA& reduced_a = tl_reduced_a;
  reduced_a.exp8 = false;
  if (reduced != internal::GemvReducedKind::kNone) {
    internal::PrepareGemvReducedA(reduced, arith, M, K, a, lda, &reduced_a);
  }
  const int width = fused ? kGemvBlock : kPackedBlock;
  const int blocks = (N + width - 1) / width;
  int threads = opts.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::max(1, std::min(threads, blocks));
  // Columns [n0, n0 + w) through PackB + GemmPacked, B's rows already in ws.rows.
  auto packed = [&](Workspace& ws, int n0, int w) {
#ifdef LMUL_GEMV_X86
    if (CpuHasAvx2()) {
      // PackB reads a k-major B much faster than a transposed one: transpose the block
      // here (rows padded with zeros to a multiple of 8; PackB reads only w columns).
      const int w8 = (w + 7) & ~7;
      if (w8 > w) std::fill(ws.rows.begin() + static_cast<size_t>(w) * K,
                            ws.rows.begin() + static_cast<size_t>(w8) * K, 0.0f);
      const size_t t_size = static_cast<size_t>(width) * K;
      if (ws.t.size() < t_size) ws.t.resize(t_size);
      TransposeRows(ws.rows.data(), K, w8, ws.t.data(), width);
      const PackedB pb = PackB(arith, K, w, ws.t.data(), width, /*b_trans=*/false, opts.accum);
      GemmOptions one = opts;
      one.threads = 1;
      GemmPacked(M, a, lda, pb, c + n0, ldc, one);
      return;
    }
#endif
    const PackedB pb = PackB(arith, K, w, ws.rows.data(), K, /*b_trans=*/true, opts.accum);
    GemmOptions one = opts;
    one.threads = 1;
    GemmPacked(M, a, lda, pb, c + n0, ldc, one);
  };
  auto run = [&](int part) {
    const int b0 = static_cast<int>(int64_t{blocks} * part / threads);
    const int b1 = static_cast<int>(int64_t{blocks} * (part + 1) / threads);
    Workspace& ws = ThreadWorkspace();
    const size_t rows_size = static_cast<size_t>(width) * K;
    if (ws.rows.size() < rows_size) ws.rows.resize(rows_size);
    for (int blk = b0; blk < b1; ++blk) {
      const int n0 = blk * width, w = std::min(width, N - n0);
#ifdef LMUL_GEMV_X86
      if (fused) {
        if (ws.t.size() < rows_size) ws.t.resize(rows_size);
        if (ws.ctile.size() < static_cast<size_t>(kGemvMaxRows) * kGemvBlock) {
          ws.ctile.resize(static_cast<size_t>(kGemvMaxRows) * kGemvBlock);
        }
        const RowRun run = b.Run(n0);
        const bool stored = w == width && run.rows >= w && Decodable(run, K);
        if (stored && reduced_a.exp8) {
          // Straight from the stored blocks into the tile, reduced to the format.
          internal::RunStats bst;
          DecodeTileReduced(reduced_a, run, K, ws.t.data(), &bst);
          if (!internal::GemvReducedRun(reduced_a, reinterpret_cast<const uint32_t*>(ws.t.data()),
                                        bst, ws.ctile.data())) {
            DecodeRowRun(run, K, w, ws.rows.data());
            packed(ws, n0, w);
            continue;
          }
          for (int i = 0; i < M; ++i) {
            std::memcpy(c + static_cast<size_t>(i) * ldc + n0,
                        ws.ctile.data() + static_cast<size_t>(i) * kGemvBlock, w * sizeof(float));
          }
          continue;
        }
        if (stored) {
          DecodeTileAny(run, K, ws.t.data());  // straight from the stored blocks
        } else {
          b.Rows(n0, w, ws.rows.data());
          // A partial block: the missing rows are zeros (their columns are not stored).
          if (w < width) std::fill(ws.rows.begin() + static_cast<size_t>(w) * K,
                                   ws.rows.begin() + rows_size, 0.0f);
          TransposeBlock(ws.rows.data(), K, ws.t.data());
        }
        if (fused_fp32) {
          GemvExactFp32Block(M, K, ws.t.data(), a, lda, ws.ctile.data());
        } else {
          if (ws.tc.size() < rows_size) ws.tc.resize(rows_size);
          if (!internal::GemvReducedBlock(reduced_a, ws.t.data(), ws.tc.data(),
                                          ws.ctile.data())) {
            // Data the fused L-Mul kernel is not exact on (out of range, Inf/NaN): this
            // block through the packed path (the general kernel), from the same rows.
            if (stored) DecodeRowRun(run, K, w, ws.rows.data());
            packed(ws, n0, w);
            continue;
          }
        }
        for (int i = 0; i < M; ++i) {
          std::memcpy(c + static_cast<size_t>(i) * ldc + n0,
                      ws.ctile.data() + static_cast<size_t>(i) * kGemvBlock, w * sizeof(float));
        }
        continue;
      }
#endif
      const RowRun run = b.Run(n0);
      if (run.rows < w || !DecodeRowRun(run, K, w, ws.rows.data())) b.Rows(n0, w, ws.rows.data());
      packed(ws, n0, w);
    }
  };
  if (threads == 1) {
    run(0);
  } else {
    internal::RunParts(threads, run);
  }
}

}  // namespace lmul::kernels
