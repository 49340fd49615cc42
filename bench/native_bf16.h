// Bench baseline only: a native bf16 GEMM (operands rounded rne to bf16,
// accumulated by vdpbf16ps, B packed once), what the 16-bit-lane L-Mul path
// (Accum::kBf16Dot) is compared with in `lmul bench gemm`. Runs the AVX512-BF16
// micro-kernel of kernels/x86/ in its native mode: only on a CPU with
// AVX512-BF16 (NativeBf16Available).
#ifndef LMUL_BENCH_NATIVE_BF16_H_
#define LMUL_BENCH_NATIVE_BF16_H_

#include <cstdint>
#include <vector>

#include "kernels/plan.h"

namespace lmul::bench {

// True when `plan` has the CPU features of the vdpbf16ps kernel.
bool NativeBf16Available(const kernels::KernelPlan& plan);

struct NativeBf16B {
  int K = 0, N = 0;
  std::vector<uint32_t> b;
};
NativeBf16B PackNativeBf16B(int K, int N, const float* b, int ldb);
// C(M x N) = A . B on bf16-rounded operands. Needs NativeBf16Available(Host()).
void NativeBf16Gemm(int M, const float* a, int lda, const NativeBf16B& b, float* c, int ldc,
                    int threads);

}  // namespace lmul::bench

#endif  // LMUL_BENCH_NATIVE_BF16_H_
