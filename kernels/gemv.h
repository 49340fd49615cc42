// GEMMs whose B is produced on demand, a few columns at a time, from a compact form
// (the engine's quantized weights): nothing of B is kept in fp32 beyond one column
// block per thread, so each weight byte is read once per call.
//
//   C(M x N) = A(M x K) . B(K x N),  B(k, n) = row n of an (N, K) matrix that the
//   RowSource dequantizes into a per-thread buffer just before it is used.
//
// Results are bit-identical to kernels::Gemm on the same fp32 B: every C element is the
// canonical sum of docs/kernels.md §1 (or §1.1 for Accum::kBf16Dot), computed by one
// thread; they do not depend on the thread count or the column split.
//
// Entry point for the kernel plan: GemmRows (one call per weight GEMM; decode steps have
// M <= 8 and take the column-block GEMV, prefill reuses PackB + GemmPacked per block).
#ifndef LMUL_KERNELS_GEMV_H_
#define LMUL_KERNELS_GEMV_H_

#include "kernels/gemm.h"
#include "numeric/arith.h"

namespace lmul::kernels {

// B as rows of K values: Rows(n0, count, out) writes out[(n - n0) * K + k] = B(k, n) for
// n in [n0, n0 + count). Called concurrently from several threads (distinct n ranges).
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual void Rows(int n0, int count, float* out) const = 0;
};

// C(i, n) = c[i * ldc + n] (overwritten); A(i, k) = a[i * lda + k]. opts as Gemm.
void GemmRows(const Arith& arith, int M, int N, int K, const float* a, int lda,
              const RowSource& b, float* c, int ldc, const GemmOptions& opts = {});

// Which path GemmRows takes for these arguments: "gemv-exact-fp32" (the fused column-block
// kernel: exact/fp32, fp32 accumulation, M <= kGemvMaxRows) or "packed-blocks" (PackB +
// GemmPacked per column block). For tests and benchmarks.
constexpr int kGemvMaxRows = 8;
const char* GemmRowsPath(const Arith& arith, int M, const GemmOptions& opts);

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_GEMV_H_
