#include "kernels/reference.h"

#include <cfloat>
#include <cmath>
#include <cstring>

namespace lmul::kernels {

float RoundBf16Rne(float x) { return Reduce(Format::Bf16(), x, Rounding::kRne); }

float FlushSubnormal(float x) { return std::fabs(x) < FLT_MIN ? std::copysign(0.0f, x) : x; }

void ReferenceGemm(const Arith& arith, int M, int N, int K, const float* a, int lda, const float* b,
                   int ldb, bool b_trans, float* c, int ldc, Accum accum) {
  auto A = [&](int i, int k) { return a[static_cast<size_t>(i) * lda + k]; };
  auto Bv = [&](int k, int n) {
    return b_trans ? b[static_cast<size_t>(n) * ldb + k] : b[static_cast<size_t>(k) * ldb + n];
  };
  if (accum == Accum::kBf16Dot) {  // vdpbf16ps: pairs, odd k first, DAZ/FTZ
    for (int i = 0; i < M; ++i) {
      for (int n = 0; n < N; ++n) {
        float acc = 0.0f;
        for (int k = 0; k < K; k += 2) {
          if (k + 1 < K) {
            acc = FlushSubnormal(acc + FlushSubnormal(arith.Mul(A(i, k + 1), Bv(k + 1, n))));
          }
          acc = FlushSubnormal(acc + FlushSubnormal(arith.Mul(A(i, k), Bv(k, n))));
        }
        c[static_cast<size_t>(i) * ldc + n] = acc;
      }
    }
    return;
  }
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

void ReferenceMulElementwiseBf16(const Arith& arith, const uint16_t* a, const uint16_t* b,
                                 uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float r = RoundBf16Rne(arith.Mul(Bf16CodeFloat(a[i]), Bf16CodeFloat(b[i])));
    y[i] = static_cast<uint16_t>(FloatBits(r) >> 16);
  }
}

}  // namespace lmul::kernels
