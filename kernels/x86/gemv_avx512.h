// The AVX-512 interleaved GEMV of GemmRows (kernels/gemv.h; its entry in the kernel plan's
// GemvKernels(), kernels/plan.cc, names kCpuAvx512F). Called only by the driver,
// kernels/gemv.cc, under that entry. On other architectures kernels/no_x86.cc defines it as
// an LMUL_CHECK failure (the plan never chooses it there).
#ifndef LMUL_KERNELS_X86_GEMV_AVX512_H_
#define LMUL_KERNELS_X86_GEMV_AVX512_H_

#include <cstdint>

#include "kernels/gemv.h"

namespace lmul::kernels::internal {

// As GemvInterleavedAvx2 (kernels/x86/gemv_avx2.h), the same values bit for bit, with
// 512-bit vectors: one vector holds two groups of 8 rows (16 output columns), so each
// operation does 16 of the spec's multiply-then-add steps (gemv-exact-fp32-x16). False
// (nothing written) when b's form is not one of kRowFormatsInterleavedAvx2.
bool GemvInterleavedAvx512(const InterleavedRows& b, int g0, int g1, int M, const float* a, int lda,
                           float* c, int ldc);

// out[j] = HalfToFloat(h[j]) for j < 16, as the AVX-512 GEMV converts its scales (for the
// exhaustive test).
void HalfToFloat16Avx512(const uint16_t* h, float* out);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_X86_GEMV_AVX512_H_
