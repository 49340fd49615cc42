// L-Matmul: C = A . B where every product is one arithmetic of the spec
// (lmul::Arith::Mul, operands reduced per the arith) and products are summed in
// the canonical accumulation order of docs/kernels.md:
//
//   acc = +0.0f;  for k = 0 .. K-1:  acc = acc + p(i,k,n)   (fp32 add, rne, no FMA)
//   Accum::kBf16: acc = RoundBf16Rne(acc + p(i,k,n)) after every add.
//   C(i,n) = acc.
//
// Results are identical for any thread count. kernels/reference.h has the
// scalar reference built from Arith::Mul that the kernels are tested against.
#ifndef LMUL_KERNELS_GEMM_H_
#define LMUL_KERNELS_GEMM_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/tiles.h"
#include "numeric/arith.h"

namespace lmul::kernels {

class KernelPlan;        // kernels/plan.h
struct GemmKernelEntry;  // kernels/plan.h
namespace internal {
struct ArithConsts;  // kernels/arith_ops.h
}

// Accumulation mode.
//   kFp32: the canonical order above (default; the engine's goldens rely on it).
//   kBf16: as kFp32, the accumulator rounded rne to bf16 after every add.
//   kBf16Dot (explicit opt-in): the order fixed by the AVX512-BF16 instruction
//     vdpbf16ps, so that the 16-bit-lane kernel can run (docs/kernels.md §1.1):
//       acc = +0;  for k = 0, 2, 4, ...:
//         if k+1 < K: acc = FTZ(acc + DAZ(p(k+1)))     // odd k first
//         acc = FTZ(acc + DAZ(p(k)))                    // then even k
//     with fp32 adds rounded rne and FTZ/DAZ = subnormal -> zero of the same sign.
//     Only for lmul/mitchell on formats that fit bf16 (SupportsBf16Dot).
enum class Accum { kFp32, kBf16, kBf16Dot };

// True when `arith` can use Accum::kBf16Dot: lmul or mitchell on a format whose
// values all fit bf16 (bf16, e8m1..e8m7, e5m2, e4m3).
bool SupportsBf16Dot(const Arith& arith);

const char* AccumName(Accum a);

struct GemmOptions {
  Accum accum = Accum::kFp32;
  int threads = 1;  // 0 = all cores
  // The plan that chooses the kernel (kernels/plan.h); nullptr: KernelPlan::Host().
  // A plan with features the host lacks is refused (LMUL_CHECK).
  const KernelPlan* plan = nullptr;
};

// C(M x N) = A(M x K) . B(K x N).
// A(i,k) = a[i*lda + k]; B(k,n) = b_trans ? b[n*ldb + k] : b[k*ldb + n];
// C(i,n) = c[i*ldc + n] (overwritten). K == 0 gives C = +0.
// Returns the kernel that ran (the plan's entry: name, file), nullptr when none
// had to (M, N or K is 0).
const GemmKernelEntry* Gemm(const Arith& arith, int M, int N, int K, const float* a, int lda,
                            const float* b, int ldb, bool b_trans, float* c, int ldc,
                            const GemmOptions& opts = {});

// B converted once for one arith (weights): pack once, multiply many times.
// Holds the operands reduced to the format in the kernels' panel layout.
class PackedB {
 public:
  PackedB() = default;
  int K() const { return k_; }
  int N() const { return n_; }
  const Arith& arith() const { return arith_; }
  // The arithmetic's kernel constants, built once when B is packed.
  const internal::ArithConsts& consts() const { return *consts_; }
  size_t bytes() const { return data_.size() * sizeof(uint32_t); }

  // Layout (internal to the kernels): panels of kPanelWidth columns, each
  // panel k-major: data[(panel * K + k) * kPanelWidth + j] is B(k, panel*kPanelWidth + j)
  // reduced to the format, as fp32 bits (lmul/mitchell: zeros and subnormals as +0);
  // padding columns hold +0.
  static constexpr int kPanelWidth = tiles::kPanelWidth;
  const uint32_t* data() const { return data_.data(); }
  bool has_special() const { return has_special_; }  // an Inf or NaN after reduction
  // The accumulation this B was packed for: kBf16Dot uses its own 16-bit layout,
  // the others share the fp32 layout. GemmPacked checks it matches opts.accum.
  bool packed_for_bf16_dot() const { return bf16_dot_; }

 private:
  friend PackedB PackB(const Arith&, int, int, const float*, int, bool, Accum);
  friend struct PackedBAccess;
  Arith arith_;
  std::shared_ptr<const internal::ArithConsts> consts_;
  int k_ = 0, n_ = 0;
  bool has_special_ = false;
  bool bf16_dot_ = false;
  uint8_t arith_props_ = 0;  // ArithProperties(arith_) (kernels/plan.h)
  // kBf16Dot layout (kernels/gemm_bf16dot.cc): pairs of bf16 codes per dword,
  // and the 1.0/0.0 multipliers of zero operands (only when B has a zero).
  std::vector<uint32_t> dot_b_, dot_z_;
  uint32_t min_mag_ = 0xFFFFFFFFu, max_mag_ = 0;  // over nonzero operands (carrier bits)
  std::vector<uint32_t> data_;
  std::vector<uint8_t> panel_zero_;  // panel has a zero operand
};

// accum: the accumulation the product will use (only kBf16Dot changes the layout).
PackedB PackB(const Arith& arith, int K, int N, const float* b, int ldb, bool b_trans,
              Accum accum = Accum::kFp32);

// PackB into `into`, reusing its buffers (no allocation once they are large enough), the
// packing split over opts.threads: for operands packed anew per call and multiplied by
// several A (attention's K and V of one kv head, shared by its query heads).
// GemmPacked(M, a, lda, *into, ...) then equals Gemm(arith, M, N, K, a, lda, b, ldb, b_trans, ...).
void RepackB(PackedB* into, const Arith& arith, int K, int N, const float* b, int ldb, bool b_trans,
             const GemmOptions& opts = {});

// Grow a B packed by PackB/RepackB (any accumulation but kBf16Dot) along one dimension,
// converting only the new part: afterwards *into equals, bit for bit, the pack of the whole
// B (the same layout, statistics and kernel choice), whose existing part must be unchanged.
// For operands that grow by a few rows at a time (decode's cached keys and values).
//   AppendBColumns: `count` new columns n = N() .. N()+count-1, given as rows of B^T
//     (B(k, N()+j) = bt[j * ldb + k], k < K()), as RepackB(..., b_trans = true) reads them.
//   AppendBRows: `count` new rows k = K() .. K()+count-1 (B(K()+i, n) = b[i * ldb + n]).
void AppendBColumns(PackedB* into, int count, const float* bt, int ldb);
void AppendBRows(PackedB* into, int count, const float* b, int ldb);

// As Gemm (the same return value).
const GemmKernelEntry* GemmPacked(int M, const float* a, int lda, const PackedB& b, float* c,
                                  int ldc, const GemmOptions& opts = {});

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_GEMM_H_
