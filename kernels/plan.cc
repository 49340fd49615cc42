#include "kernels/plan.h"

#include "hwy/targets.h"

namespace lmul::kernels {

namespace {

using internal::GemmKind;

constexpr uint8_t Acc(Accum a) { return static_cast<uint8_t>(1u << static_cast<int>(a)); }
constexpr uint8_t kFp32 = Acc(Accum::kFp32);
constexpr uint8_t kBf16 = Acc(Accum::kBf16);
constexpr uint8_t kDot = Acc(Accum::kBf16Dot);
constexpr int64_t kAvx3Targets = HWY_AVX3 | HWY_AVX3_DL;

}  // namespace

// The GEMM kernels, in order of preference: the first whose condition holds runs.
// Every entry is tested bit-exact against kernels/reference.h (gemm_test.cc,
// gemm_bf16dot_test.cc) and its selection in plan_test.cc.
const std::vector<GemmKernelEntry>& GemmKernels() {
  static const std::vector<GemmKernelEntry> table = {
      // name, kind, impl, op, accums, widest data, arith needs, cpu, Highway targets, file
      {"bf16dot-avx512bf16", GemmKind::kBf16DotVnni, KernelImpl::kX86Avx512, OpClass::kLMul, kDot,
       DataRange::kInRange, kNeedFitsBf16,
       kCpuAvx512F | kCpuAvx512Bw | kCpuAvx512Vl | kCpuAvx512Bf16, 0,
       "kernels/x86/gemm_bf16dot_avx512.cc"},
      {"bf16dot-portable", GemmKind::kBf16DotPortable, KernelImpl::kPortable, OpClass::kLMul, kDot,
       DataRange::kAny, kNeedFitsBf16, 0, 0, "kernels/gemm_bf16dot.cc"},
      {"lmul-fast-avx512", GemmKind::kLMulFast, KernelImpl::kX86Avx512, OpClass::kLMul, kFp32,
       DataRange::kInRange, 0, kCpuAvx512F, kAvx3Targets, "kernels/x86/gemm_fp32_avx512.cc"},
      {"lmul-fast", GemmKind::kLMulFast, KernelImpl::kHighway, OpClass::kLMul, kFp32 | kBf16,
       DataRange::kInRange, 0, 0, 0, "kernels/hwy/gemm_panels.cc"},
      {"lmul-general-fma-avx512", GemmKind::kLMulGeneralFma, KernelImpl::kX86Avx512, OpClass::kLMul,
       kFp32, DataRange::kFinite, kNeedClampSat, kCpuAvx512F, kAvx3Targets,
       "kernels/x86/gemm_fp32_avx512.cc"},
      {"lmul-general-fma", GemmKind::kLMulGeneralFma, KernelImpl::kHighway, OpClass::kLMul, kFp32,
       DataRange::kFinite, kNeedClampSat, 0, 0, "kernels/hwy/gemm_panels.cc"},
      {"lmul-general", GemmKind::kLMulGeneral, KernelImpl::kHighway, OpClass::kLMul, kFp32 | kBf16,
       DataRange::kAny, 0, 0, 0, "kernels/hwy/gemm_panels.cc"},
      {"exact-fp32-avx512", GemmKind::kExactFp32, KernelImpl::kX86Avx512, OpClass::kExact, kFp32,
       DataRange::kAny, kNeedFp32Out, kCpuAvx512F, kAvx3Targets, "kernels/x86/gemm_fp32_avx512.cc"},
      {"exact-fp32", GemmKind::kExactFp32, KernelImpl::kHighway, OpClass::kExact, kFp32 | kBf16,
       DataRange::kAny, kNeedFp32Out, 0, 0, "kernels/hwy/gemm_panels.cc"},
      {"exact-round", GemmKind::kExactRound, KernelImpl::kHighway, OpClass::kExact, kFp32 | kBf16,
       DataRange::kInRange, kNeedFitsFp32, 0, 0, "kernels/hwy/gemm_panels.cc"},
      {"exact-round-portable", GemmKind::kExactRound, KernelImpl::kPortable, OpClass::kExact,
       kFp32 | kBf16, DataRange::kAny, 0, 0, 0, "kernels/gemm.cc"},
  };
  return table;
}

const char* DataRangeName(DataRange r) {
  switch (r) {
    case DataRange::kInRange:
      return "in-range";
    case DataRange::kFinite:
      return "finite";
    case DataRange::kAny:
      return "any";
  }
  return "?";
}

const char* KernelImplName(KernelImpl i) {
  switch (i) {
    case KernelImpl::kHighway:
      return "highway";
    case KernelImpl::kX86Avx512:
      return "x86-avx512";
    case KernelImpl::kPortable:
      return "portable";
  }
  return "?";
}

std::string CpuFeatureNames(CpuFeatures f) {
  static const struct {
    CpuFeature bit;
    const char* name;
  } kNames[] = {{kCpuAvx2, "avx2"},         {kCpuFma, "fma"},
                {kCpuAvx512F, "avx512f"},   {kCpuAvx512Bw, "avx512bw"},
                {kCpuAvx512Vl, "avx512vl"}, {kCpuAvx512Bf16, "avx512bf16"}};
  std::string s;
  for (const auto& n : kNames) {
    if ((f & n.bit) == 0) continue;
    if (!s.empty()) s += ' ';
    s += n.name;
  }
  return s;
}

uint8_t ArithProperties(const Arith& arith) {
  const Format& f = arith.format;
  if (arith.op == Op::kExact) {
    uint8_t p = 0;
    if (arith.wide || f.kind == Format::Kind::kFp32) p |= kNeedFp32Out;
    if (f.man_bits <= 11) p |= kNeedFitsFp32;  // (m+1)-bit significands: product <= 24 bits
    return p;
  }
  uint8_t p = 0;
  // Saturation a clamp: exp8 formats saturate to Inf, the carrier after the largest
  // finite; e4m3 saturates to its largest finite.
  if (f.exp_bits == 8 || !f.has_inf) p |= kNeedClampSat;
  if (f.exp_bits <= 8 && f.man_bits <= 7) p |= kNeedFitsBf16;
  return p;
}

std::string SimdTargetName() { return hwy::TargetName(SimdTarget()); }

const KernelPlan& KernelPlan::Host() {
  static const KernelPlan plan(HostCpuFeatures());
  return plan;
}

bool KernelPlan::Applies(const GemmKernelEntry& e, const GemmQuery& q) const {
  return e.op == q.op && (e.accums & Acc(q.accum)) != 0 &&
         static_cast<int>(q.range) <= static_cast<int>(e.range) &&
         (q.arith & e.arith_needs) == e.arith_needs && (features_ & e.cpu) == e.cpu &&
         (e.simd_targets == 0 || (e.simd_targets & q.simd_target) != 0);
}

const GemmKernelEntry& KernelPlan::Choose(const GemmQuery& q) const {
  const auto& table = GemmKernels();
  for (const GemmKernelEntry& e : table) {
    if (Applies(e, q)) return e;
  }
  return table.back();  // unreachable for a valid query: the catch-all entries end each group
}

}  // namespace lmul::kernels
