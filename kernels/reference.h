// Scalar references the kernels are tested against: built only from
// lmul::Arith::Mul (the spec) and the canonical accumulation order
// (docs/kernels.md). Slow on purpose; written to be read.
#ifndef LMUL_KERNELS_REFERENCE_H_
#define LMUL_KERNELS_REFERENCE_H_

#include <cstddef>
#include <cstdint>

#include "kernels/gemm.h"
#include "numeric/arith.h"

namespace lmul::kernels {

// x rounded (rne) to bf16 on the fp32 carrier: the bf16 accumulator step.
float RoundBf16Rne(float x);

// FTZ/DAZ of x86: a subnormal becomes a zero of the same sign.
float FlushSubnormal(float x);

// The naive triple loop in the canonical order:
//   acc = +0.0f; for k: acc = acc + arith.Mul(A(i,k), B(k,n)); (bf16: acc = RoundBf16Rne(acc))
// Accum::kBf16Dot: the order of vdpbf16ps (gemm.h): for k = 0, 2, ...:
//   acc = FTZ(acc + DAZ(p(k+1))) if k+1 < K;  acc = FTZ(acc + DAZ(p(k))).
void ReferenceGemm(const Arith& arith, int M, int N, int K, const float* a, int lda, const float* b,
                   int ldb, bool b_trans, float* c, int ldc, Accum accum);

void ReferenceMulElementwise(const Arith& arith, const float* a, const float* b, float* y,
                             size_t n);

// bf16 storage: y = bf16 bits of RoundBf16Rne(arith.Mul(fp32(a), fp32(b))).
void ReferenceMulElementwiseBf16(const Arith& arith, const uint16_t* a, const uint16_t* b,
                                 uint16_t* y, size_t n);

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_REFERENCE_H_
