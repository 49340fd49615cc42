// Elementwise products with one arithmetic of the spec.
#ifndef LMUL_KERNELS_ELEMENTWISE_H_
#define LMUL_KERNELS_ELEMENTWISE_H_

#include <cstddef>
#include <cstdint>

#include "numeric/arith.h"

namespace lmul::kernels {

struct ElementwiseKernelEntry;  // kernels/plan.h: the kernel table

// Both functions return the kernel plan's entry that ran (ElementwiseKernels()).

// y[i] = arith.Mul(a[i], b[i]), bit-exact with the scalar spec (NaN results are
// the spec's canonical NaN). y may alias a or b.
const ElementwiseKernelEntry& MulElementwise(const Arith& arith, const float* a, const float* b,
                                             float* y, size_t n);

// bf16 storage: a, b and y are bf16 bit patterns (the top 16 bits of an fp32).
// y[i] = bf16(arith.Mul(fp32(a[i]), fp32(b[i]))), the fp32 result rounded to bf16
// rne with NaN quieted, sign kept (RoundBf16 of numeric/bits.h; exact for
// arithmetics whose format fits bf16: lmul/mitchell/exact on bf16 or e8mK, K <= 7).
// Bit-exact with that formula on the scalar spec. y may alias a or b.
const ElementwiseKernelEntry& MulElementwiseBf16(const Arith& arith, const uint16_t* a,
                                                 const uint16_t* b, uint16_t* y, size_t n);

// y[i] = lmul::Reduce(format, x[i], rounding) (numeric/format.h): x reduced to the format, on
// the fp32 carrier, bit-exact with the scalar spec (NaN becomes the spec's canonical
// sign | 0x7FC00000). y may alias x. Split into contiguous parts over `threads` threads
// (0 = all cores; arrays below 64 Ki elements use one); the result does not depend on it.
// Highway SIMD (AVX2, ...; the scalar EMU128 target elsewhere), dispatched per call.
void ReduceElementwise(const Format& format, Rounding rounding, const float* x, float* y,
                       size_t n, int threads = 1);

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_ELEMENTWISE_H_
