// Internal: the job description shared by the GEMM driver (gemm.cc) and the
// per-target SIMD micro-kernels (kernels/hwy/gemm_panels.cc).
#ifndef LMUL_KERNELS_GEMM_INTERNAL_H_
#define LMUL_KERNELS_GEMM_INTERNAL_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/arith_ops.h"
#include "kernels/plan.h"
#include "kernels/tiles.h"
#include "kernels/worker_pool.h"
#include "kernels/x86/avx512.h"

namespace lmul::kernels::internal {

using tiles::kKC;
using tiles::kMC;
using tiles::kPanelWidth;
using tiles::kRowBlock;

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
  // FMA-form kernel (plan entries lmul-general-fma*: raw AVX-512 Fp32Job kind 2,
  // or Highway MicroGeneralFma): a holds |a| - c_off - 2^30, za the multiplier
  // +1/-1 (sign of a) or 0 (zero a).
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

// What the operands of one product allow (the plan's DataRange), from their
// statistics: Inf/NaN -> kAny; a matrix of zeros, or every product in range
// (L-Mul: no underflow or overflow; exact: in [2^-100, FLT_MAX]) -> kInRange;
// else kFinite.
DataRange RangeOf(const ArithConsts& c, const RunStats& a, const RunStats& b);

// Runs panels [panel_begin, panel_end) for all rows with the Highway kernels
// (kernels/hwy/gemm_panels.cc, dispatched to the best target).
void GemmPanelsSimd(const GemmJob& job, int panel_begin, int panel_end);

// Accum::kBf16Dot (kernels/gemm_bf16dot.cc). carrier: B (K x N, row-major)
// reduced to the format, zeros keeping their sign; st: its statistics.
void PackDotB(const ArithConsts& c, int K, int N, const uint32_t* carrier, const RunStats& st,
              std::vector<uint32_t>* b, std::vector<uint32_t>* z, std::vector<uint8_t>* panel_zero,
              int threads = 1);
// Chooses the kernel with `plan` (bf16dot-avx512bf16 or bf16dot-portable) and runs it.
const GemmKernelEntry& GemmPackedDot(const KernelPlan& plan, const ArithConsts& cs, int M,
                                     const float* a, int lda, int K, int N, const uint32_t* b,
                                     const uint32_t* zb, const uint8_t* panel_zero,
                                     const RunStats& bst, float* c, int ldc, int threads);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_GEMM_INTERNAL_H_
