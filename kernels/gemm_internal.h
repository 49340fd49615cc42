// Internal: the job description shared by the GEMM driver (gemm.cc) and the
// per-target SIMD micro-kernels (gemm_simd.cc).
#ifndef LMUL_KERNELS_GEMM_INTERNAL_H_
#define LMUL_KERNELS_GEMM_INTERNAL_H_

#include <cstdint>

#include "kernels/arith_ops.h"

namespace lmul::kernels::internal {

enum class GemmKind : uint8_t {
  kLMulFast,     // range-checked: p = (|a| - c_off | sign a) + b as one i32 add
  kLMulGeneral,  // any values: the full spec per product (clamps, specials)
  kExactFp32,    // exact product rounded to fp32 (exact/fp32, exact/*,wide)
  kExactRound,   // exact product (exact in fp32, range-checked) rounded rne to the format
};

constexpr int kPanelWidth = 32;  // columns per B panel (= PackedB::kPanelWidth)
constexpr int kRowBlock = 8;     // A packed in blocks of 8 rows: a[(block*K + k)*8 + r]
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
  float* out = nullptr;
  int ldc = 0;
};

// Statistics of converted operands.
struct RunStats {
  uint32_t min_mag = 0xFFFFFFFFu;  // smallest nonzero magnitude (carrier bits)
  uint32_t max_mag = 0;            // largest finite magnitude
  bool special = false;            // an Inf or NaN
};

// dst[i] = operand src[i] reduced to the format (carrier bits); lmul/mitchell
// zeros and subnormals become +0. Updates *st. (SIMD, dispatched.)
void ConvertRunSimd(const ArithConsts& c, const float* src, size_t n, uint32_t* dst, RunStats* st);

// The kernel the last GemmPacked call on this thread used (for tests).
GemmKind LastGemmKind();
bool LastGemmUsedSimd();

// Runs panels [panel_begin, panel_end) for all rows (dispatched to the best target).
void GemmPanelsSimd(const GemmJob& job, int panel_begin, int panel_end);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_GEMM_INTERNAL_H_
