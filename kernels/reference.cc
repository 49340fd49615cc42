#include "kernels/reference.h"

namespace lmul::kernels {

float RoundBf16Rne(float x) { return Reduce(Format::Bf16(), x, Rounding::kRne); }

void ReferenceGemm(const Arith& arith, int M, int N, int K, const float* a, int lda, const float* b,
                   int ldb, bool b_trans, float* c, int ldc, Accum accum) {
  for (int i = 0; i < M; ++i) {
    for (int n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int k = 0; k < K; ++k) {
        const float bv =
            b_trans ? b[static_cast<size_t>(n) * ldb + k] : b[static_cast<size_t>(k) * ldb + n];
        acc = acc + arith.Mul(a[static_cast<size_t>(i) * lda + k], bv);
        if (accum == Accum::kBf16) acc = RoundBf16Rne(acc);
      }
      c[static_cast<size_t>(i) * ldc + n] = acc;
    }
  }
}

void ReferenceMulElementwise(const Arith& arith, const float* a, const float* b, float* y,
                             size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = arith.Mul(a[i], b[i]);
}

}  // namespace lmul::kernels
