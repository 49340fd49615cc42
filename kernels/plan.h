// The kernel plan: the one place that says which kernel runs for an
// (arithmetic, accumulation, ISA, data range). CPU features are probed once per
// process; the kernels are a table (kGemmKernels in kernels/plan.cc), each entry
// with the condition under which it applies, tried in order (the first that
// applies runs), as ggml's type traits and XNNPACK's kernel lists do.
//
//   KernelPlan::Host()           the plan of this process (host CPU features)
//   KernelPlan(features)         a plan for a CPU with other features: tests query
//                                Choose() with any mask; Gemm runs only a plan whose
//                                features the host has (e.g. Host().Without(...))
//   plan.Choose(query)           the entry that runs, with its name and file
//
// docs/architecture.md ("Kernel plan") has the table and how to add a kernel.
#ifndef LMUL_KERNELS_PLAN_H_
#define LMUL_KERNELS_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemv.h"

namespace lmul::kernels {

// CPU features the kernels use (bit mask).
enum CpuFeature : uint32_t {
  kCpuAvx2 = 1u << 0,
  kCpuFma = 1u << 1,
  kCpuAvx512F = 1u << 2,
  kCpuAvx512Bw = 1u << 3,
  kCpuAvx512Vl = 1u << 4,
  kCpuAvx512Bf16 = 1u << 5,
  kCpuF16c = 1u << 6,
};
using CpuFeatures = uint32_t;
constexpr CpuFeatures kCpuAvx512All = kCpuAvx512F | kCpuAvx512Bw | kCpuAvx512Vl | kCpuAvx512Bf16;

// The host CPU's features, probed once per process (kernels/x86/cpu_features.cc;
// 0 on other architectures).
CpuFeatures HostCpuFeatures();
// "avx2 fma avx512f ..." (empty for none).
std::string CpuFeatureNames(CpuFeatures f);

namespace internal {
// The algorithm of a GEMM kernel: how the driver packs A and what one product is.
enum class GemmKind : uint8_t {
  kLMulFast,        // range-checked: p = (|a| - c_off | sign a) + b as one i32 add
  kLMulGeneral,     // any values: the full spec per product (clamps, specials)
  kLMulGeneralFma,  // no Inf/NaN, saturation a clamp: s = min(|a| + |b| - c_off, sat),
                    // flushed below the smallest normal, signed by an exact fma
  kExactFp32,       // exact product rounded to fp32 (exact/fp32, exact/*,wide)
  kExactRound,      // exact product (exact in fp32, range-checked) rounded rne to the format
  // Accum::kBf16Dot (kernels/gemm_bf16dot.cc):
  kBf16DotVnni,      // range-checked, 16-bit lanes: vpaddw + vdpbf16ps (AVX512-BF16)
  kBf16DotPortable,  // any values / no AVX512-BF16: scalar model of the same order
};
}  // namespace internal

// What one GEMM call's operands allow, from the statistics of packing (narrowest first).
enum class DataRange : uint8_t {
  kInRange,  // no Inf/NaN, and every product is in range: L-Mul: no underflow or
             // overflow (one integer add is the spec); exact: within [2^-100, FLT_MAX]
             // (the exact product rounded once is the spec). Also: a matrix of zeros.
  kFinite,   // no Inf/NaN operand
  kAny,
};
const char* DataRangeName(DataRange r);

enum class OpClass : uint8_t { kLMul, kExact };  // kLMul: lmul and mitchell

// Properties of the arithmetic a kernel may require (bit mask).
enum ArithNeed : uint8_t {
  kNeedFp32Out = 1u << 0,   // exact whose result is the product rounded to fp32
                            // (exact/fp32, exact/*,wide)
  kNeedFitsFp32 = 1u << 1,  // exact on (m+1)-bit significands with m <= 11: the
                            // product is exact in fp32
  kNeedClampSat = 1u << 2,  // L-Mul whose saturation is a clamp at the next carrier
                            // (exp8: Inf after the largest finite; e4m3: 448)
  kNeedFitsBf16 = 1u << 3,  // L-Mul on a format whose values all fit bf16
  kNeedFp32Format = 1u << 4,  // the format is fp32: operands are used as they are (no
                              // reduction to a narrower format)
};

// Where the kernel's code lives.
enum class KernelImpl : uint8_t {
  kHighway,    // kernels/hwy/: Highway, dispatched at run time to the best target
  kX86Avx512,  // kernels/x86/: raw AVX-512 intrinsics, files built with -mavx512*
  kPortable,   // plain C++
  kX86Avx2,    // raw AVX2 intrinsics in functions built with target("avx2")
};
const char* KernelImplName(KernelImpl i);

// One GEMM kernel and the condition under which it applies.
struct GemmKernelEntry {
  const char* name;  // stable: tests, `lmul bench` and docs use it
  internal::GemmKind kind;
  KernelImpl impl;
  OpClass op;
  uint8_t accums;       // bit (1 << Accum) per accumulation it implements
  DataRange range;      // the widest data it is exact on
  uint8_t arith_needs;  // ArithNeed bits
  CpuFeatures cpu;      // CPU features it needs
  // Highway targets under which it runs (0: any). The raw AVX-512 fp32-lane kernels
  // run where Highway would run its AVX-512 target, so that restricting Highway's
  // targets (tests, `lmul bench --isa avx2`) runs the Highway kernels of that target.
  int64_t simd_targets;
  const char* file;
};

// The table, in order of preference (kernels/plan.cc).
const std::vector<GemmKernelEntry>& GemmKernels();

// One GEMM call, as the plan sees it.
struct GemmQuery {
  OpClass op = OpClass::kLMul;
  Accum accum = Accum::kFp32;
  DataRange range = DataRange::kAny;
  uint8_t arith = 0;        // ArithNeed bits the arithmetic satisfies (ArithProperties)
  int64_t simd_target = 0;  // Highway target the dispatched kernels run on (SimdTarget())
};

// The ArithNeed bits that `arith` satisfies.
uint8_t ArithProperties(const Arith& arith);

// The Highway target the dispatched kernels run on now (HWY_AVX2, ...).
int64_t SimdTarget();
std::string SimdTargetName();

// ---- GEMMs with B from compact rows (kernels/gemv.h: GemmRows) ----
// The algorithm of a GemmRows kernel.
enum class GemvKind : uint8_t {
  kFusedInterleaved,  // exact/fp32 from B's interleaved form (InterleavedRows, kernels/gemv.h):
                      // 8 rows' weights at one k decoded into one vector, 4 such groups of
                      // output columns (one add chain each) in flight, A broadcast; no tile
  kFused,             // fused column-block GEMV: 64 rows of B decoded into a k-major tile that
                      // the micro-kernel reads while A stays in registers; no PackB per call
                      // (exact/fp32: operands used as they are)
  kFusedExactWide,    // the same tile, weights reduced to the arithmetic's narrower format
                      // while decoded (A once per call), fp32 products of the reduced
                      // operands (exact/<fmt>,wide: bf16, fp8, ...; x86/gemv_reduced_avx2.h)
  kFusedLMulFast,     // the same tile reduced, L-Mul products (lmul/mitchell): the fast u32-add
                      // form on in-range blocks, the FMA general form on finite blocks when the
                      // saturation is a clamp; a block with Inf/NaN (or out of range without
                      // a clamp) goes through PackB + GemmPacked (its general kernel) instead
  kPackedBlocks,      // per column block of 256: rows decoded, PackB, GemmPacked (whose own
                      // kernel is then chosen from GemmKernels()); any arithmetic
};

// Bit of a RowFormat in the masks below.
constexpr uint32_t RowFormatBit(RowFormat f) { return 1u << static_cast<int>(f); }
// F32, Q8_0, Q4_0, Q4_1: the layouts the AVX2 decoders of kernels/gemv.cc read.
constexpr uint32_t kRowFormatsDecodedAvx2 =
    RowFormatBit(RowFormat::kF32) | RowFormatBit(RowFormat::kQ8_0) |
    RowFormatBit(RowFormat::kQ4_0) | RowFormatBit(RowFormat::kQ4_1);

// Q4_0x8, Q4_1x8, Q8_0x8: the interleaved forms the AVX2 interleaved GEMV reads.
constexpr uint32_t kRowFormatsInterleavedAvx2 = RowFormatBit(RowFormat::kQ4_0x8) |
                                                RowFormatBit(RowFormat::kQ4_1x8) |
                                                RowFormatBit(RowFormat::kQ8_0x8);

// One GemmRows kernel and the condition under which it applies.
struct GemvKernelEntry {
  const char* name;  // stable: tests, benchmarks and docs use it
  GemvKind kind;
  KernelImpl impl;
  uint8_t ops;             // bit (1 << OpClass) per class of arithmetic it implements
  uint8_t accums;          // bit (1 << Accum) per accumulation it implements
  uint8_t arith_needs;     // ArithNeed bits
  uint8_t arith_excludes;  // ArithNeed bits the arithmetic must NOT have
  int max_rows;            // M in [1, max_rows] (0: any M)
  // Weight types (RowFormat bits) whose stored rows the kernel decodes itself (straight
  // into its own layout, when K is a multiple of the block: 32, or 8 for F32); rows of
  // every other type (RowFormat::kOther: the GGUF types of engine/io/dequant.h) come
  // through RowSource::Rows. Every entry applies to every weight type.
  uint32_t decodes;
  // Interleaved forms (RowFormat bits) of which B must offer one (RowSource::Interleaved,
  // GemvQuery::forms) for the entry to apply; 0: none needed.
  uint32_t needs_forms;
  CpuFeatures cpu;  // CPU features it needs
  const char* file;
};

// The table, in order of preference (kernels/plan.cc).
const std::vector<GemvKernelEntry>& GemvKernels();

// One GemmRows call, as the plan sees it.
struct GemvQuery {
  OpClass op = OpClass::kLMul;
  Accum accum = Accum::kFp32;
  uint8_t arith = 0;  // ArithNeed bits the arithmetic satisfies (ArithProperties)
  int rows = 1;       // M
  uint32_t forms = 0;  // RowFormat bit of B's interleaved form, if it has one (K % 32 == 0)
};
GemvQuery MakeGemvQuery(const Arith& arith, Accum accum, int rows);
// The GemmRows entry that runs for (arith, opts.accum, M rows) under opts.plan (nullptr: the
// host's) when B offers the interleaved form `form` (RowFormat::kOther: none). The one place
// this is decided: GemmRows calls it per call, and a caller that keeps interleaved copies
// (engine Model::CompactGemm) calls it to learn whether GemmRows would read one.
const GemvKernelEntry& ChooseGemvFor(const Arith& arith, const GemmOptions& opts, int M,
                                     RowFormat form);

// ---- Elementwise kernels (kernels/elementwise.h) ----
// What an elementwise kernel computes (the public function it serves).
enum class ElementwiseOp : uint8_t {
  kMul,      // MulElementwise: y = a * b, fp32 storage
  kMulBf16,  // MulElementwiseBf16: bf16 storage
  kReduce,   // ReduceElementwise: y = x reduced to a format (the operand reduction)
};
// The implementation the driver (kernels/hwy/elementwise.cc) calls for an entry.
enum class ElementwiseKind : uint8_t {
  kMulSimd,      // Highway loop: fast in-range vectors, the spec's general path otherwise
  kMulBf16Simd,  // bf16 widened per 1024-element chunk, the kMulSimd loop, rounded rne
  kReduceSimd,   // Highway loop of the operand reduction, split over threads in 64-byte lines
};

// One elementwise kernel and the condition under which it applies.
struct ElementwiseKernelEntry {
  const char* name;  // stable: tests, benchmarks and docs use it
  ElementwiseOp op;
  ElementwiseKind kind;
  KernelImpl impl;
  uint8_t ops;          // bit (1 << OpClass) per class of arithmetic it implements
  uint8_t arith_needs;  // ArithNeed bits
  CpuFeatures cpu;      // CPU features it needs
  const char* file;
};

// The table, in order of preference (kernels/plan.cc).
const std::vector<ElementwiseKernelEntry>& ElementwiseKernels();

struct ElementwiseQuery {
  ElementwiseOp op = ElementwiseOp::kMul;
  OpClass arith_op = OpClass::kLMul;
  uint8_t arith = 0;  // ArithNeed bits the arithmetic satisfies (ArithProperties)
};
ElementwiseQuery MakeElementwiseQuery(ElementwiseOp op, const Arith& arith);

class KernelPlan {
 public:
  explicit KernelPlan(CpuFeatures features) : features_(features) {}
  // The plan of this process: the host CPU's features.
  static const KernelPlan& Host();

  CpuFeatures features() const { return features_; }
  // This plan without some features (a CPU that lacks them; e.g. `lmul bench --isa avx2`).
  KernelPlan Without(CpuFeatures f) const { return KernelPlan(features_ & ~f); }
  // True when the host can run every kernel this plan may choose.
  bool Runnable() const { return (features_ & ~HostCpuFeatures()) == 0; }

  // The first entry of GemmKernels() whose condition holds (the table ends with
  // entries without conditions, so there is always one).
  const GemmKernelEntry& Choose(const GemmQuery& q) const;
  // Whether `e`'s condition holds for `q` on this plan.
  bool Applies(const GemmKernelEntry& e, const GemmQuery& q) const;

  // The first entry of GemvKernels() whose condition holds (the table ends with an
  // entry without conditions). Model::PacksGroup asks it whether compact weights have
  // a fused kernel (GemvKind::kFused) for a site's arithmetic.
  const GemvKernelEntry& ChooseGemv(const GemvQuery& q) const;
  bool Applies(const GemvKernelEntry& e, const GemvQuery& q) const;
  // The first entry of ElementwiseKernels() for `q` (each op's table ends with an entry
  // without conditions).
  const ElementwiseKernelEntry& ChooseElementwise(const ElementwiseQuery& q) const;
  bool Applies(const ElementwiseKernelEntry& e, const ElementwiseQuery& q) const;

  // Whether `e` decodes the stored rows `run` of K values itself.
  static bool Decodes(const GemvKernelEntry& e, const RowRun& run, int K);

 private:
  CpuFeatures features_ = 0;
};

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_PLAN_H_
