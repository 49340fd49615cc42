// Internal (kernels/gemv.cc; x86-64 only, AVX2 functions built with target("avx2")): the
// fused decode GEMVs for arithmetics whose operands are reduced to a narrower format before
// the product, fp32 accumulation, M <= kGemvMaxRows (kernels/gemv.h). Their entries in the
// kernel plan's GemvKernels() (kernels/plan.cc): gemv-exact-wide (GemvKind::kFusedExactWide:
// exact/<format>,wide: bf16, fp8, ...) and gemv-lmul-fast (GemvKind::kFusedLMulFast:
// lmul/mitchell on any format). On other architectures kernels/no_x86.cc defines these
// functions as LMUL_CHECK failures (the plan never chooses the entries there).
//
// gemv.cc decodes a column block of compact weights into the k-major fp32 tile
// t[k * kGemvBlock + j] (as for exact/fp32); the functions here reduce that tile to the
// arithmetic's format with the same conversion PackB uses (ConvertRunSimd) and run the
// products in the canonical order (docs/kernels.md §1): acc = +0; acc = acc + p(a, b) for
// k = 0 .. K-1, so each C element is bit-identical to GemmPacked on the same fp32 B.
//
//   exact/*,wide (and exact/fp32): p = fp32(a * b) on the reduced operands (the
//     kExactFp32 kernels' product); any data.
//   lmul/mitchell, block data in range (kernels/plan.h DataRange::kInRange): p = (a - c_off)
//     + b as one u32 add of carrier bits (the kLMulFast kernels' product), zero operands
//     masked to +0.
//   lmul/mitchell, finite data, saturation a clamp (kNeedClampSat): the FMA form of the
//     general product (the kLMulGeneralFma kernels'): s = min(|a| - c_off - 2^30 + |b|,
//     sat - 2^30), kept when s >= zero_lim - 2^30 and b != 0, p = s + (sign b | 2^30),
//     acc = fma(p, z, acc) with z = +1/-1 (sign of a) or 0 (a zero): exact.
//   Other blocks (Inf/NaN) return false and the caller takes the packed path for them
//   (GemmPacked chooses the general kernel there).
#ifndef LMUL_KERNELS_X86_GEMV_REDUCED_AVX2_H_
#define LMUL_KERNELS_X86_GEMV_REDUCED_AVX2_H_

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_internal.h"
#include "kernels/plan.h"
#include "kernels/x86/gemv_avx2.h"
#include "numeric/arith.h"

namespace lmul::kernels::internal {

// A reduced once per GemmRows call (shared, read-only, by the threads).
struct GemvReducedA {
  GemvKind kind = GemvKind::kFusedExactWide;  // or kFusedLMulFast
  ArithConsts c;
  int M = 0, K = 0;
  RunStats st;
  // exactwide: carrier bits of A (M x K); lmul: carrier - c_off, zeros -> 0 (masked).
  std::vector<uint32_t> a;
  std::vector<uint32_t> a_mask;  // lmul with a zero in A: ~0 for a nonzero element, 0 for a zero
  // lmul, the general (FMA) form: |a| - c_off - 2^30 (a zero: 0 - c_off - 2^30), and the
  // multiplier z (+1, -1, or 0 for a zero); only when the saturation is a clamp.
  bool general = false;
  std::vector<int32_t> a_gen;
  std::vector<float> a_z;
  // An exp8 format (bf16, e8mK: fp32's exponent, fewer mantissa bits): gemv.cc reduces the
  // weights while it decodes them (DecodeTileReducedAvx2) and calls GemvReducedRun.
  bool exp8 = false;
};
void PrepareGemvReducedA(GemvKind kind, const Arith& arith, int M, int K, const float* a, int lda,
                         GemvReducedA* out);

// One column block: t is the decoded fp32 tile (K x kGemvBlock, k-major; all 64 columns
// valid, zero padding past N), tc a K * kGemvBlock workspace; writes C rows i < M to
// ctile[i * kGemvBlock + j]. False (nothing written) when the block needs the general kernel.
bool GemvReducedBlock(const GemvReducedA& a, const float* t, uint32_t* tc, float* ctile);

// The same on a tile already reduced to the format (tc, carrier bits), bst its statistics.
bool GemvReducedRun(const GemvReducedA& a, const uint32_t* tc, const RunStats& bst, float* ctile);

// 64 stored rows of `run` decoded into the tile (as DecodeTileAvx2), each value reduced to
// a's exp8 format (a.exp8) in registers (gemv_reduce_avx2.h; ConvertRunSimd's bits), with
// the statistics of the block in *st. False when the format is not decoded.
bool DecodeTileReducedAvx2(const GemvReducedA& a, const RowRun& run, int K, float* t, RunStats* st);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_X86_GEMV_REDUCED_AVX2_H_
