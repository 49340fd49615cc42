// CUDA kernels of the spec: elementwise products and the L-Matmul of kernels/gemm.h on an
// NVIDIA GPU, bit for bit equal to the scalar reference (numeric/arith.h, and
// kernels/reference.h's canonical accumulation order for GEMM).
//
// Built only with -DLMUL_CUDA=ON (nvcc, sm_90 by default); nothing else in lmul depends on
// it. Pointers are device pointers; calls are asynchronous on `stream` (a cudaStream_t;
// nullptr = the default stream) and return after the launch. Errors (bad sizes, a failed
// launch) come back as Status, never as exit().
#ifndef LMUL_KERNELS_CUDA_LMUL_CUDA_H_
#define LMUL_KERNELS_CUDA_LMUL_CUDA_H_

#include <cstddef>
#include <string>

#include "base/result.h"
#include "kernels/gemm.h"
#include "numeric/arith.h"

namespace lmul::kernels::cuda {

// The first CUDA device's name and compute capability ("NVIDIA H200, sm_90"), or an error
// when there is no usable device (no driver, no GPU).
Result<std::string> DeviceInfo();

// y[i] = arith.Mul(a[i], b[i]) for i < n (operands reduced per the arith, as the spec).
Status MulElementwise(const Arith& arith, const float* a, const float* b, float* y, size_t n,
                      void* stream = nullptr);

// y[i] = arith.Reduce(x[i]): the operand reduction alone (exposed for tests).
Status Reduce(const Arith& arith, const float* x, float* y, size_t n, void* stream = nullptr);

// C(M x N) = A(M x K) . B(K x N) with every product arith.Mul and the sums in the canonical
// order of kernels/gemm.h for `accum` (kFp32, kBf16 or kBf16Dot; kBf16Dot is accepted for
// any arith here, its order being defined for any products). Layout as kernels::Gemm:
// A(i,k) = a[i*lda + k]; B(k,n) = b_trans ? b[n*ldb + k] : b[k*ldb + n]; C(i,n) = c[i*ldc + n].
// K == 0 gives C = +0. Each output is one thread's sum over k in order: no split-K, so the
// result does not depend on the launch shape.
Status Gemm(const Arith& arith, int M, int N, int K, const float* a, int lda, const float* b,
            int ldb, bool b_trans, float* c, int ldc, Accum accum = Accum::kFp32,
            void* stream = nullptr);

// The plain fp32 product y[i] = a[i] * b[i] (IEEE, no L-Mul): the bandwidth baseline of
// the elementwise benchmark, measured in the same run.
Status MulElementwisePlain(const float* a, const float* b, float* y, size_t n,
                           void* stream = nullptr);

}  // namespace lmul::kernels::cuda

#endif  // LMUL_KERNELS_CUDA_LMUL_CUDA_H_
