// The AVX2 kernels of GemmRows (kernels/gemv.h; their entries in the kernel plan's
// GemvKernels(), kernels/plan.cc, name kCpuAvx2). Called only by the driver,
// kernels/gemv.cc, under such an entry. On other architectures kernels/no_x86.cc defines
// them as LMUL_CHECK failures (the plan never chooses them there).
#ifndef LMUL_KERNELS_X86_GEMV_AVX2_H_
#define LMUL_KERNELS_X86_GEMV_AVX2_H_

#include "kernels/gemv.h"

namespace lmul::kernels::internal {

// Column block of the fused GEMV: two 32-column panels, 8 vector accumulators per row.
constexpr int kGemvBlock = 64;

// t[k * ldt + j] = rows[j * K + k] for j < cols (a multiple of 8), k < K (8x8 blocks
// through registers).
void TransposeRowsAvx2(const float* rows, int K, int cols, float* t, int ldt);

// 64 stored rows of `run` decoded straight into the k-major tile t[k * 64 + j] (formats of
// kRowFormatsDecodedAvx2, kernels/plan.h; K a multiple of 32, of 8 for F32). False when
// the format is not one of them.
bool DecodeTileAvx2(const RowRun& run, int K, float* t);

// Rows [0, rows) of `run` decoded row-major to out[r * K + k] (the values of
// engine/io/dequant.h); the same formats and K as DecodeTileAvx2.
bool DecodeRowsAvx2(const RowRun& run, int K, int rows, float* out);

// One fused GEMV column block: ctile[i * 64 + j] = sum_k a[i * lda + k] * t[k * 64 + j] for
// i < M <= kGemvMaxRows, exact/fp32 in the canonical order (multiply, then add; no FMA).
void GemvExactFp32BlockAvx2(int M, int K, const float* t, const float* a, int lda,
                            float* ctile);

// The interleaved GEMV (gemv-exact-fp32-x8): c[i * ldc + n] = sum_k a[i * lda + k] B(k, n)
// for i < M, n in [8 g0, min(8 g1, b.n)) (groups [g0, g1) of b), exact/fp32 in the canonical
// order. False (nothing written) when b's form is not one of kRowFormatsInterleavedAvx2.
// Needs AVX2 and F16C (the block scales by vcvtph2ps).
bool GemvInterleavedAvx2(const InterleavedRows& b, int g0, int g1, int M, const float* a, int lda,
                         float* c, int ldc);

// out[j] = HalfToFloat(h[j]) for j < 8, as the interleaved GEMV converts its scales (for
// the exhaustive test; AVX2 and F16C).
void HalfToFloat8Avx2(const uint16_t* h, float* out);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_X86_GEMV_AVX2_H_
