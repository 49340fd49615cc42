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
// Entry point: GemmRows (one call per weight GEMM). Its kernel is chosen by the kernel plan
// (kernels/plan.h: GemvKernels(), KernelPlan::ChooseGemv): with fp32 accumulation and
// M <= kGemvMaxRows (decode steps, multiple-choice branch batches, short prompts) exact/fp32,
// exact/<fmt>,wide and lmul/mitchell take a fused column-block GEMV (on AVX2), everything
// else PackB + GemmPacked per column block.
#ifndef LMUL_KERNELS_GEMV_H_
#define LMUL_KERNELS_GEMV_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "numeric/arith.h"

namespace lmul::kernels {

struct GemvKernelEntry;  // kernels/plan.h

// Storage forms of B's rows the kernels decode themselves (ggml's block layouts, the same
// fp32 values as engine/io/dequant.h, in the same operation order):
//   kF32   K floats
//   kQ8_0  blocks of 32: d (f16), int8 q[32]                 x = float(q) * d
//   kQ4_0  blocks of 32: d (f16), nibbles[16]                x = float(q - 8) * d
//   kQ4_1  blocks of 32: d (f16), m (f16), nibbles[16]       x = float(q) * d + m
// (element j of a 4-bit block: the low nibble of byte j for j < 16, else the high nibble of
// byte j - 16).
// The interleaved forms (InterleavedRows below): the same blocks, 8 rows side by side, so
// that one 8-lane vector holds 8 rows' weights at one k (the decode GEMV vectorizes over N).
// Per group of 8 rows (rows 8g .. 8g+7), per block of 32 k (blocks in k order):
//   kQ4_0x8  d[8] (f16), q[4][8] (u32)                 144 bytes: x = float(q - 8) * d
//   kQ4_1x8  d[8] (f16), m[8] (f16), q[4][8] (u32)     160 bytes: x = float(q) * d + m
//   kQ8_0x8  d[8] (f16), q[32][8] (int8)               272 bytes: x = float(q) * d
// (d[r]: row r's scale; 4-bit: bits 4i..4i+3 of q[t][r] are row r's element k = 8t + i of
// the block; 8-bit: q[k][r]). The same bytes per weight as the row forms.
enum class RowFormat { kOther, kF32, kQ8_0, kQ4_0, kQ4_1, kQ4_0x8, kQ4_1x8, kQ8_0x8 };

// `rows` consecutive rows starting at the row asked for, row r at data + r * row_bytes.
struct RowRun {
  RowFormat format = RowFormat::kOther;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int rows = 0;
};

// B's N rows of K values in an interleaved form (RowFormat::kQ4_0x8, kQ4_1x8, kQ8_0x8),
// built once from the stored rows by InterleaveRows. Rows past N in the last group have
// zero bytes (scales +0; their columns are never written).
struct InterleavedRows {
  RowFormat format = RowFormat::kOther;  // kOther: none
  int n = 0, k = 0;
  size_t group_bytes = 0;     // bytes of one group of 8 rows: (k / 32) blocks
  std::vector<uint8_t> data;  // ((n + 7) / 8) groups
};

// Bytes of one 32-element block of a stored row form (0: not a block form).
constexpr size_t RowBlockBytes(RowFormat f) {
  return f == RowFormat::kQ8_0 ? 34 : f == RowFormat::kQ4_0 ? 18 : f == RowFormat::kQ4_1 ? 20 : 0;
}

// Bytes of one 32-k block of 8 interleaved rows (0 for a form that is not interleaved).
constexpr size_t InterleavedBlockBytes(RowFormat f) {
  return f == RowFormat::kQ4_0x8   ? 144
         : f == RowFormat::kQ4_1x8 ? 160
         : f == RowFormat::kQ8_0x8 ? 272
                                   : 0;
}

// The interleaved form of a stored row form (kQ4_0 -> kQ4_0x8, kQ4_1 -> kQ4_1x8,
// kQ8_0 -> kQ8_0x8; kOther for every other).
RowFormat InterleavedForm(RowFormat stored);

class RowSource;
// B's rows [0, N) (from b.Run: stored rows of one of Q4_0, Q4_1, Q8_0, the same for all N
// rows) in the interleaved form of that type. Empty (format kOther) when some row is of
// another type or not exposed by Run, or K is not a positive multiple of 32.
InterleavedRows InterleaveRows(const RowSource& b, int N, int K);

// B as rows of K values: Rows(n0, count, out) writes out[(n - n0) * K + k] = B(k, n) for
// n in [n0, n0 + count). Called concurrently from several threads (distinct n ranges).
// Run(n) may expose the stored form of rows n, n+1, ... so that the kernels decode them
// straight into their own layout (skipping Rows); the default exposes nothing.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual void Rows(int n0, int count, float* out) const = 0;
  virtual RowRun Run(int n) const {
    (void)n;
    return {};
  }
  // All N rows in an interleaved form (InterleaveRows), when the owner keeps one: the
  // plan's gemv-exact-fp32-x8 entry reads it instead of the rows. Default: none.
  virtual const InterleavedRows* Interleaved() const { return nullptr; }
};

// Rows [0, rows) of a run decoded to out[r * K + k] (the values of engine/io/dequant.h) by
// the kernels' own decoders (those of the host plan's GemmRows kernels). False (nothing
// written) when no kernel of the host decodes the form (kOther, or no AVX2).
bool DecodeRowRun(const RowRun& run, int K, int rows, float* out);

// The most rows (M) the fused GEMVs take (the gemv-* entries of GemvKernels()). They
// decode each weight once per call and read the decoded tile once per two rows of A: up to
// 64 rows they beat PackB + GemmPacked per block (bench/RESULTS.md: 2-3x at M = 16-64 on
// Zen 3), so multiple-choice branch batches take them too.
constexpr int kGemvMaxRows = 64;
// The most rows the interleaved GEMV (gemv-exact-fp32-x8) takes: the fused GEMVs' range. It
// decodes each weight once per 1-4 rows of A (from L1: a 2-group panel is <= 16 KB up to
// K = 1600), which at every M here still costs less than the tile GEMV's transposed tile
// (bench/RESULTS.md: BM_GemvDecode at M = 1-64).
constexpr int kGemvInterleavedMaxRows = kGemvMaxRows;

// C(i, n) = c[i * ldc + n] (overwritten); A(i, k) = a[i * lda + k]. opts as Gemm (its plan
// chooses the GemmRows kernel and the GEMM kernel of the packed blocks). Returns the plan's
// GemmRows entry that ran (nullptr when none had to: M, N or K is 0).
const GemvKernelEntry* GemmRows(const Arith& arith, int M, int N, int K, const float* a,
                                int lda, const RowSource& b, float* c, int ldc,
                                const GemmOptions& opts = {});

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_GEMV_H_
