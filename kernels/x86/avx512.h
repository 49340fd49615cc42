// Internal: the jobs of the raw-intrinsics AVX-512 kernels, shared by the
// drivers and the translation units compiled with -mavx512* flags (this
// folder: gemm_fp32_avx512.cc: -mavx512f; gemm_bf16dot_avx512.cc: + AVX512-BF16;
// only those files). This header includes nothing with inline functions on
// purpose (kernels/tiles.h: constants only): an inline function compiled in
// those units could be picked by the linker for the whole program.
// They run only when the kernel plan (kernels/plan.h) chose them, i.e. the CPU
// has the features their table entries name.
#ifndef LMUL_KERNELS_X86_AVX512_H_
#define LMUL_KERNELS_X86_AVX512_H_

#include <cstdint>

#include "kernels/tiles.h"

namespace lmul::kernels::internal {

using tiles::kDotKCP;
using tiles::kDotMC;
using tiles::kDotMR;
using tiles::kDotNR;
// A dword holds a pair of 16-bit codes: low half k (even), high half k + 1.
constexpr uint32_t kDotOne = 0x3F803F80u;  // the multiplier pair (1.0, 1.0) in bf16

struct DotJob {
  int M = 0, N = 0, K = 0, Kp = 0;  // Kp = (K + 1) / 2 pairs
  // A: a[(block * Kp + kp) * kDotMR + r]: pair of ((bits(a) - c_off) >> 16) (the sign
  // falls out of the 16-bit add); a zero operand -> a safe in-range value with the
  // operand's sign and multiplier 0; k = K (odd K) and padding rows -> 0x8000, so
  // that with B's padding (0) the product is -0, the identity of the add.
  const uint32_t* a = nullptr;
  const uint32_t* za = nullptr;         // multiplier pairs of A, same layout (A has a zero)
  const uint8_t* block_zero = nullptr;  // row block of kDotMR rows has a zero of A
  // B: b[(panel * Kp + kp) * kDotNR + j]: pair of bf16 codes of B(k, n), B(k + 1, n);
  // a zero -> a safe in-range value with its sign (multiplier 0); k = K and padding
  // columns -> 0.
  const uint32_t* b = nullptr;
  const uint32_t* zb = nullptr;         // multiplier pairs of B, same layout (B has a zero)
  const uint8_t* panel_zero = nullptr;  // panel has a zero of B
  float* c = nullptr;
  int ldc = 0;
  bool native = false;  // bench baseline: a and b are plain bf16 pairs, acc += a * b
};

// ---- fp32 lanes, canonical order (Accum::kFp32), AVX-512F ----
// Same operands as GemmJob (gemm_internal.h): A in blocks of kRowBlock rows,
// B in panels of 32 columns. Micro-tiles of 12 x 32 (then 8, 4, 2, 1 rows).
struct Fp32Job {
  // 0: L-Mul fast (i32 add); 1: exact fp32 (mul); 2: L-Mul general without Inf/NaN
  // operands (clamps per product): a holds |a| - c_off - 2^30 (zero a: -c_off - 2^30),
  // za holds +1 / -1 (sign of a) / 0 (zero a); the product magnitude is
  // s + 2^30 with s = a + |b| clamped above at hi and flushed to 0 below lo.
  int kind = 0;
  int32_t gen_hi = 0, gen_lo = 0;  // kind 2: c_sat - 2^30, c_zero_lim - 2^30
  bool gen_clamp = true;           // kind 2: some product may overflow (clamp at gen_hi)
  int M = 0, N = 0, K = 0;
  int row_block = 0;                    // kRowBlock
  const uint32_t* a = nullptr;          // a[(block * K + k) * row_block + r]
  const float* za = nullptr;            // kind 0: 1.0 / 0.0 per A element, same layout
  const uint8_t* row_zero = nullptr;    // kind 0: row i has a zero of A
  const uint32_t* b = nullptr;          // b[(panel * K + k) * 32 + j]
  const uint8_t* panel_zero = nullptr;  // kind 0: panel has a zero of B (stored as +0)
  float* c = nullptr;
  int ldc = 0;
};
void Fp32PanelsAvx512(const Fp32Job& job, int panel_begin, int panel_end);
// Panels [panel_begin, panel_end) with vpaddw + vdpbf16ps, blocked; C written
// after every k block and reloaded (the pair order of Accum::kBf16Dot is kept).
// Only when the plan chose "bf16dot-avx512bf16" (or the bench's native bf16 GEMM,
// bench/native_bf16.cc, on a CPU with AVX512-BF16).
void DotPanelsAvx512Bf16(const DotJob& job, int panel_begin, int panel_end);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_X86_AVX512_H_
