// Internal: the job description shared by the GEMM driver (gemm.cc) and the
// per-target SIMD micro-kernels (gemm_simd.cc).
#ifndef LMUL_KERNELS_GEMM_INTERNAL_H_
#define LMUL_KERNELS_GEMM_INTERNAL_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/arith_ops.h"
#include "kernels/gemm_avx512.h"
#include "kernels/worker_pool.h"

namespace lmul::kernels::internal {

enum class GemmKind : uint8_t {
  kLMulFast,     // range-checked: p = (|a| - c_off | sign a) + b as one i32 add
  kLMulGeneral,  // any values: the full spec per product (clamps, specials)
  kExactFp32,    // exact product rounded to fp32 (exact/fp32, exact/*,wide)
  kExactRound,   // exact product (exact in fp32, range-checked) rounded rne to the format
  // Accum::kBf16Dot (kernels/gemm_bf16dot*.cc):
  kBf16DotVnni,      // range-checked, 16-bit lanes: vpaddw + vdpbf16ps (AVX512-BF16)
  kBf16DotPortable,  // any values / no AVX512-BF16: scalar model of the same order
};

constexpr int kPanelWidth = 32;  // columns per B panel (= PackedB::kPanelWidth)
constexpr int kRowBlock = 12;    // A packed in blocks of 12 rows: a[(block*K + k)*12 + r]
constexpr int kKC = 256;         // k block: one B panel slice is 32 KiB (L1)
constexpr int kMC = 96;          // rows of A per block (L2)

struct GemmJob {
  const ArithConsts* c = nullptr;
  GemmKind kind = GemmKind::kLMulGeneral;
  bool bf16 = false;
  bool specials = true;  // an Inf/NaN operand exists (kLMulGeneral)
  int M = 0, N = 0, K = 0;
  // A converted: M x K row-major. kLMulFast: (bits(a) - c_off) with the sign
  // bit kept, zeros replaced by a safe in-range value; other kinds: carrier bits.
  const uint32_t* a = nullptr;
  const float* za = nullptr;            // kLMulFast: 1.0 / 0.0 per A element (zero a -> 0)
  const uint8_t* row_zero = nullptr;    // kLMulFast: row i of A has a zero
  const uint32_t* b = nullptr;          // PackedB panels (carrier bits, zero b -> 0 for lmul)
  const uint8_t* panel_zero = nullptr;  // panel p of B has a zero
  // kLMulGeneral without Inf/NaN, fp32 accumulation, saturation a clamp: the
  // FMA-form kernel (raw AVX-512 Fp32Job kind 2, or Highway MicroGeneralFma):
  // a holds |a| - c_off - 2^30, za the multiplier +1/-1 (sign of a) or 0 (zero a).
  bool general_fma = false;
  int32_t gen_hi = 0, gen_lo = 0;
  bool gen_clamp = true;  // some product may overflow
  float* out = nullptr;
  int ldc = 0;
};

// Statistics of converted operands.
struct RunStats {
  uint32_t min_mag = 0xFFFFFFFFu;  // smallest nonzero magnitude (carrier bits)
  uint32_t max_mag = 0;            // largest finite magnitude
  bool special = false;            // an Inf or NaN
  bool zero = false;               // a zero after conversion (lmul/mitchell: subnormals too)

  void Merge(const RunStats& o) {
    min_mag = std::min(min_mag, o.min_mag);
    max_mag = std::max(max_mag, o.max_mag);
    special |= o.special;
    zero |= o.zero;
  }
};

// fn(begin, end) over [0, n) split in `threads` contiguous parts; the calling
// thread runs the first one. Only for independent parts (packing, panels).
// Runs on the persistent workers of kernels/worker_pool.h.
template <class F>
void ParallelFor(int threads, int n, F&& fn) {
  threads = std::max(1, std::min(threads, n));
  if (threads == 1) {
    if (n > 0) fn(0, n);
    return;
  }
  RunParts(threads, [&](int t) { fn(n * t / threads, n * (t + 1) / threads); });
}

// Rows [0, rows) of a row-major matrix (row stride ld) converted to the format
// with ConvertRunSimd on `threads` threads; returns the merged statistics.
RunStats ConvertRows(const ArithConsts& c, const float* src, size_t ld, int rows, size_t n,
                     uint32_t* dst, size_t ld_dst, bool keep_zero_sign, int threads);

// dst[i] = operand src[i] reduced to the format (carrier bits); lmul/mitchell
// zeros and subnormals become +0 (keep_zero_sign: a zero of the same sign).
// Updates *st. (SIMD, dispatched.)
void ConvertRunSimd(const ArithConsts& c, const float* src, size_t n, uint32_t* dst, RunStats* st,
                    bool keep_zero_sign = false);

// The kernel the last GemmPacked call on this thread used (for tests).
GemmKind LastGemmKind();
bool LastGemmUsedSimd();

// True when GemmPanelsSimd runs the raw AVX-512 kernels (gemm_fp32_avx512.cc):
// Highway dispatches to an AVX-512 target and the CPU has AVX-512F.
bool Avx512KernelsActive();

// Runs panels [panel_begin, panel_end) for all rows (dispatched to the best target).
void GemmPanelsSimd(const GemmJob& job, int panel_begin, int panel_end);

// Bench baseline only (kernels/gemm_bf16dot.cc): a native bf16 GEMM, operands
// rounded rne to bf16, accumulated by vdpbf16ps, B packed once. Needs CpuHasAvx512Bf16().
struct NativeBf16B {
  int K = 0, N = 0;
  std::vector<uint32_t> b;
};
NativeBf16B PackNativeBf16B(int K, int N, const float* b, int ldb);
void NativeBf16Gemm(int M, const float* a, int lda, const NativeBf16B& b, float* c, int ldc,
                    int threads);

// Accum::kBf16Dot (kernels/gemm_bf16dot.cc). carrier: B (K x N, row-major)
// reduced to the format, zeros keeping their sign; st: its statistics.
void PackDotB(const ArithConsts& c, int K, int N, const uint32_t* carrier, const RunStats& st,
              std::vector<uint32_t>* b, std::vector<uint32_t>* z, std::vector<uint8_t>* panel_zero,
              int threads = 1);
void GemmPackedDot(const ArithConsts& cs, int M, const float* a, int lda, int K, int N,
                   const uint32_t* b, const uint32_t* zb, const uint8_t* panel_zero,
                   const RunStats& bst, float* c, int ldc, int threads, GemmKind* kind);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_GEMM_INTERNAL_H_
