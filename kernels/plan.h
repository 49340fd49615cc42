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

namespace lmul::kernels {

// CPU features the kernels use (bit mask).
enum CpuFeature : uint32_t {
  kCpuAvx2 = 1u << 0,
  kCpuFma = 1u << 1,
  kCpuAvx512F = 1u << 2,
  kCpuAvx512Bw = 1u << 3,
  kCpuAvx512Vl = 1u << 4,
  kCpuAvx512Bf16 = 1u << 5,
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
};

// Where the kernel's code lives.
enum class KernelImpl : uint8_t {
  kHighway,    // kernels/hwy/: Highway, dispatched at run time to the best target
  kX86Avx512,  // kernels/x86/: raw AVX-512 intrinsics, files built with -mavx512*
  kPortable,   // plain C++
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

 private:
  CpuFeatures features_ = 0;
};

}  // namespace lmul::kernels

#endif  // LMUL_KERNELS_PLAN_H_
