// Elementwise products with one arithmetic of the spec.
#ifndef LMUL_KERNELS_ELEMENTWISE_H_
#define LMUL_KERNELS_ELEMENTWISE_H_

#include <cstddef>

#include "numeric/arith.h"

namespace lmul::kernels {

// y[i] = arith.Mul(a[i], b[i]), bit-exact with the scalar spec (NaN results are
// the spec's canonical NaN). y may alias a or b.
void MulElementwise(const Arith& arith, const float* a, const float* b, float* y, size_t n);

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_ELEMENTWISE_H_
