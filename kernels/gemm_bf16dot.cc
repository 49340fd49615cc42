// Accum::kBf16Dot driver: 16-bit-lane packing, the query to the kernel plan,
// threads, and the portable kernel (a scalar model of vdpbf16ps's order, for any
// values and for CPUs without AVX512-BF16). The vdpbf16ps kernel is in
// kernels/x86/gemm_bf16dot_avx512.cc.
//
// Representation: every format that fits bf16 has carrier bits whose low 16
// bits are zero, so a 16-bit code is carrier >> 16 and the range-checked L-Mul
// p = (bits(a) - c_off) + bits(b) (kernels/arith_ops.h) holds on the top halves:
// one vpaddw per product, the sign falling out of the add.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <functional>
#include <thread>

#include "kernels/gemm_internal.h"

namespace lmul::kernels::internal {
namespace {

constexpr int NR = tiles::kDotNR;
constexpr int MR = tiles::kDotMR;

// FTZ/DAZ: a subnormal becomes a zero of the same sign.
inline float Ftz(float x) { return std::fabs(x) < FLT_MIN ? std::copysign(0.0f, x) : x; }

inline uint32_t Half(uint32_t pair, int k) { return k & 1 ? pair >> 16 : pair & 0xFFFFu; }

}  // namespace

void PackDotB(const ArithConsts& c, int K, int N, const uint32_t* carrier, const RunStats& st,
              std::vector<uint32_t>* b, std::vector<uint32_t>* z, std::vector<uint8_t>* panel_zero,
              int threads) {
  (void)c;
  const int panels = (N + NR - 1) / NR, Kp = (K + 1) / 2;
  const size_t size = static_cast<size_t>(panels) * Kp * NR;
  b->resize(size);
  z->resize(size);
  panel_zero->assign(panels, 0);
  const uint32_t safe = st.max_mag != 0 ? st.min_mag >> 16 : 0;
  // One k pair at a time: 32 contiguous dwords per panel. Padding (k = K,
  // columns >= N): code 0, multiplier 1.0.
  const bool no_zero = !st.zero;  // then no multipliers are needed (z cleared below)
  auto work = [&](int kp0, int kp1, std::vector<uint8_t>* pz) {
    for (int kp = kp0; kp < kp1; ++kp) {
      const uint32_t* r0 = carrier + static_cast<size_t>(2 * kp) * N;
      const uint32_t* r1 = 2 * kp + 1 < K ? r0 + N : nullptr;
      for (int p = 0; p < panels; ++p) {
        uint32_t* dst = b->data() + (static_cast<size_t>(p) * Kp + kp) * NR;
        uint32_t* zdst = z->data() + (static_cast<size_t>(p) * Kp + kp) * NR;
        const int ncols = std::min(NR, N - p * NR);
        if (ncols == NR && r1 != nullptr) {  // a full panel and k pair: branch-free
          const uint32_t* s0 = r0 + p * NR;
          const uint32_t* s1 = r1 + p * NR;
          if (no_zero) {
            for (int x = 0; x < NR; ++x) dst[x] = (s0[x] >> 16) | (s1[x] & 0xFFFF0000u);
            continue;
          }
          uint32_t any = 0;
          for (int x = 0; x < NR; ++x) {  // masks: all ones for a zero
            const uint32_t m0 = 0u - static_cast<uint32_t>((s0[x] & 0x7FFFFFFFu) == 0);
            const uint32_t m1 = 0u - static_cast<uint32_t>((s1[x] & 0x7FFFFFFFu) == 0);
            const uint32_t h0 = (s0[x] >> 16) | (safe & m0);
            const uint32_t h1 = (s1[x] >> 16) | (safe & m1);
            dst[x] = h0 | (h1 << 16);
            zdst[x] = (0x3F80u & ~m0) | (0x3F800000u & ~m1);
            any |= m0 | m1;
          }
          if (any != 0) (*pz)[p] = 1;
          continue;
        }
        uint32_t zero_any = 0;
        for (int x = 0; x < NR; ++x) {
          const int n = p * NR + x;
          const uint32_t v0 = x < ncols ? r0[n] : 0x3F800000u;
          const uint32_t v1 = x < ncols && r1 != nullptr ? r1[n] : 0x3F800000u;
          const uint32_t z0 = (v0 & 0x7FFFFFFFu) == 0, z1 = (v1 & 0x7FFFFFFFu) == 0;
          zero_any |= z0 | z1;
          // A zero keeps its sign, takes a safe in-range magnitude and multiplier 0.
          const uint32_t h0 = x < ncols ? (v0 >> 16) | (z0 ? safe : 0u) : 0u;
          const uint32_t h1 = x < ncols && r1 != nullptr ? (v1 >> 16) | (z1 ? safe : 0u) : 0u;
          dst[x] = h0 | (h1 << 16);
          zdst[x] = (z0 ? 0u : 0x3F80u) | (z1 ? 0u : 0x3F800000u);
        }
        if (zero_any) (*pz)[p] = 1;
      }
    }
  };
  threads =
      static_cast<size_t>(K) * N >= (size_t{1} << 16) ? std::max(1, std::min(threads, Kp)) : 1;
  std::vector<std::vector<uint8_t>> pz(threads, std::vector<uint8_t>(panels, 0));
  RunParts(threads, [&](int t) { work(Kp * t / threads, Kp * (t + 1) / threads, &pz[t]); });
  bool any = false;
  for (int p = 0; p < panels; ++p) {
    for (int t = 0; t < threads; ++t) (*panel_zero)[p] |= pz[t][p];
    any |= (*panel_zero)[p] != 0;
  }
  if (!any) z->clear();
}

const GemmKernelEntry& GemmPackedDot(const KernelPlan& plan, const ArithConsts& cs, int M,
                                     const float* a, int lda, int K, int N, const uint32_t* b,
                                     const uint32_t* zb, const uint8_t* panel_zero,
                                     const RunStats& bst, float* c, int ldc, int threads) {
  // A reduced to the format, zeros keeping their sign (the sign of a zero
  // product matters here: FTZ can make the accumulator -0). Workspaces are
  // reused from call to call on this thread (no page faults per call).
  thread_local std::vector<uint32_t> tl_ac, tl_ap, tl_za;
  thread_local std::vector<uint8_t> tl_block_zero;
  std::vector<uint32_t>& ac = tl_ac;
  ac.resize(static_cast<size_t>(M) * K);
  const int pack_threads = std::max(1, threads);
  const RunStats ast =
      ConvertRows(cs, a, lda, M, K, ac.data(), K, /*keep_zero_sign=*/true, pack_threads);
  const int panels = (N + NR - 1) / NR, Kp = (K + 1) / 2;
  GemmQuery query;
  query.op = OpClass::kLMul;
  query.accum = Accum::kBf16Dot;
  query.range = RangeOf(cs, ast, bst);
  query.arith = ArithProperties(cs.arith);
  query.simd_target = SimdTarget();
  const GemmKernelEntry& entry = plan.Choose(query);
  if (ast.max_mag == 0 || bst.max_mag == 0) {  // every product is a zero: acc stays +0
    for (int i = 0; i < M; ++i)
      std::fill(c + static_cast<size_t>(i) * ldc, c + static_cast<size_t>(i) * ldc + N, 0.0f);
    return entry;
  }
  const bool vnni = entry.kind == GemmKind::kBf16DotVnni;
  threads = std::max(1, std::min(threads, panels));

  if (vnni) {
    const int blocks = (M + MR - 1) / MR;
    const size_t size = static_cast<size_t>(blocks) * Kp * MR;
    std::vector<uint32_t>& ap = tl_ap;
    std::vector<uint32_t>& za = tl_za;
    std::vector<uint8_t>& block_zero = tl_block_zero;
    ap.resize(size);
    const bool any_zero = ast.zero;
    if (any_zero) za.resize(size);
    block_zero.assign(blocks, 0);
    // Blocks of MR rows, k pairs: ap[(blk * Kp + kp) * MR + r] = the two 16-bit
    // codes (a(2kp) - c_off) >> 16 | (a(2kp+1) - c_off) >> 16 << 16; a zero of A
    // takes a safe in-range magnitude (sign kept) and multiplier 0 in za;
    // k = K (odd K): code -0 (identity), multiplier 1. Padding rows: -0 codes,
    // multiplier 0. Rows are read in chunks (sequential runs, no L1 aliasing).
    ParallelFor(pack_threads, blocks, [&](int blk0, int blk1) {
      constexpr int kChunk = 32;  // k pairs
      for (int blk = blk0; blk < blk1; ++blk) {
        const int rows = std::min(MR, M - blk * MR);
        uint32_t* dst = ap.data() + static_cast<size_t>(blk) * Kp * MR;
        uint32_t* zdst = any_zero ? za.data() + static_cast<size_t>(blk) * Kp * MR : nullptr;
        bool blk_zero = false;
        for (int kp0 = 0; kp0 < Kp; kp0 += kChunk) {
          const int kp1 = std::min(Kp, kp0 + kChunk);
          for (int r = 0; r < MR; ++r) {
            if (r >= rows) {
              for (int kp = kp0; kp < kp1; ++kp) {
                dst[static_cast<size_t>(kp) * MR + r] = 0x80008000u;
                if (zdst != nullptr) zdst[static_cast<size_t>(kp) * MR + r] = 0u;
              }
              continue;
            }
            const uint32_t* src = ac.data() + static_cast<size_t>(blk * MR + r) * K;
            for (int kp = kp0; kp < kp1; ++kp) {
              uint32_t pair = 0, zpair = 0;
              for (int h = 0; h < 2; ++h) {
                const int k = 2 * kp + h;
                uint32_t v16 = 0x8000u, z16 = 0x3F80u;  // k = K: p = -0 (identity)
                if (k < K) {
                  uint32_t v = src[k];
                  if ((v & 0x7FFFFFFFu) == 0) {
                    v |= ast.min_mag;  // safe in-range value, sign kept; multiplier 0
                    z16 = 0;
                    blk_zero = true;
                  }
                  v16 = (v - cs.c_off) >> 16;
                }
                pair |= v16 << (16 * h);
                zpair |= z16 << (16 * h);
              }
              dst[static_cast<size_t>(kp) * MR + r] = pair;
              if (zdst != nullptr) zdst[static_cast<size_t>(kp) * MR + r] = zpair;
            }
          }
        }
        block_zero[blk] = blk_zero;
      }
    });
    DotJob j;
    j.M = M;
    j.N = N;
    j.K = K;
    j.Kp = Kp;
    j.a = ap.data();
    j.za = any_zero ? za.data() : nullptr;
    j.block_zero = block_zero.data();
    j.b = b;
    j.zb = zb;
    j.panel_zero = panel_zero;
    j.c = c;
    j.ldc = ldc;
    ParallelFor(threads, panels, [&](int pb, int pe) { DotPanelsAvx512Bf16(j, pb, pe); });
    return entry;
  }

  // Portable: the order of Accum::kBf16Dot, one panel row at a time, products
  // by the scalar carrier L-Mul (any values, specials included).
  ParallelFor(threads, panels, [&](int pb, int pe) {
    float acc[NR];
    for (int p = pb; p < pe; ++p) {
      const int ncols = std::min(NR, N - p * NR);
      const uint32_t* bp = b + static_cast<size_t>(p) * Kp * NR;
      const uint32_t* zp = zb != nullptr ? zb + static_cast<size_t>(p) * Kp * NR : nullptr;
      for (int i = 0; i < M; ++i) {
        const uint32_t* arow = ac.data() + static_cast<size_t>(i) * K;
        std::fill(acc, acc + NR, 0.0f);
        for (int k0 = 0; k0 < K; k0 += 2) {
          for (int k : {k0 + 1, k0}) {
            if (k >= K) continue;
            const uint32_t av = arow[k];
            const size_t row = static_cast<size_t>(k / 2) * NR;
            for (int x = 0; x < ncols; ++x) {
              uint32_t b16 = Half(bp[row + x], k);
              if (zp != nullptr && Half(zp[row + x], k) == 0) b16 &= 0x8000u;  // a zero of B
              const float prod = Ftz(LMulCarrierAny(cs, av, b16 << 16));
              acc[x] = Ftz(acc[x] + prod);
            }
          }
        }
        std::copy(acc, acc + ncols, c + static_cast<size_t>(i) * ldc + static_cast<size_t>(p) * NR);
      }
    }
  });
  return entry;
}

}  // namespace lmul::kernels::internal
