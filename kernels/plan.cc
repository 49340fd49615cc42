#include "kernels/plan.h"

#include "base/check.h"
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

// The GemmRows kernels (B from compact rows, kernels/gemv.h), in order of preference.
// Each is tested bit-exact against kernels/reference.h and Gemm (gemv_test.cc, with
// plans that lack AVX2 for the portable entry) and its selection in plan_test.cc.
const std::vector<GemvKernelEntry>& GemvKernels() {
  constexpr uint8_t kLMulOps = 1u << static_cast<int>(OpClass::kLMul);
  constexpr uint8_t kExactOps = 1u << static_cast<int>(OpClass::kExact);
  static const std::vector<GemvKernelEntry> table = {
      // name, kind, impl, ops, accums, arith needs, arith excludes, M <= max_rows, decodes,
      // needs forms, cpu, file
      {"gemv-exact-fp32-x16", GemvKind::kFusedInterleaved, KernelImpl::kX86Avx512, kExactOps, kFp32,
       kNeedFp32Out | kNeedFp32Format, 0, kGemvInterleavedMaxRows, kRowFormatsInterleavedAvx2,
       kRowFormatsInterleavedAvx2, kCpuAvx512F | kCpuAvx2 | kCpuF16c, "kernels/x86/gemv_avx512.cc"},
      {"gemv-exact-fp32-x8", GemvKind::kFusedInterleaved, KernelImpl::kX86Avx2, kExactOps, kFp32,
       kNeedFp32Out | kNeedFp32Format, 0, kGemvInterleavedMaxRows, kRowFormatsInterleavedAvx2,
       kRowFormatsInterleavedAvx2, kCpuAvx2 | kCpuF16c, "kernels/x86/gemv_avx2.cc"},
      {"gemv-exact-fp32", GemvKind::kFused, KernelImpl::kX86Avx2, kExactOps, kFp32,
       kNeedFp32Out | kNeedFp32Format, 0, kGemvMaxRows, kRowFormatsDecodedAvx2, 0, kCpuAvx2,
       "kernels/x86/gemv_avx2.cc"},
      {"gemv-exact-wide", GemvKind::kFusedExactWide, KernelImpl::kX86Avx2, kExactOps, kFp32,
       kNeedFp32Out, kNeedFp32Format, kGemvMaxRows, kRowFormatsDecodedAvx2, 0, kCpuAvx2,
       "kernels/x86/gemv_reduced_avx2.cc"},
      {"gemv-lmul-fast", GemvKind::kFusedLMulFast, KernelImpl::kX86Avx2, kLMulOps, kFp32, 0, 0,
       kGemvMaxRows, kRowFormatsDecodedAvx2, 0, kCpuAvx2 | kCpuFma,
       "kernels/x86/gemv_reduced_avx2.cc"},
      {"rows-packed-avx2", GemvKind::kPackedBlocks, KernelImpl::kX86Avx2, kLMulOps | kExactOps,
       kFp32 | kBf16 | kDot, 0, 0, 0, kRowFormatsDecodedAvx2, 0, kCpuAvx2, "kernels/gemv.cc"},
      {"rows-packed", GemvKind::kPackedBlocks, KernelImpl::kPortable, kLMulOps | kExactOps,
       kFp32 | kBf16 | kDot, 0, 0, 0, 0, 0, 0, "kernels/gemv.cc"},
  };
  return table;
}

GemvQuery MakeGemvQuery(const Arith& arith, Accum accum, int rows) {
  GemvQuery q;
  q.op = arith.op == Op::kExact ? OpClass::kExact : OpClass::kLMul;
  q.accum = accum;
  q.arith = ArithProperties(arith);
  q.rows = rows;
  return q;
}

const GemvKernelEntry& ChooseGemvFor(const Arith& arith, const GemmOptions& opts, int M,
                                     RowFormat form) {
  GemvQuery q = MakeGemvQuery(arith, opts.accum, M);
  if (form != RowFormat::kOther) q.forms = RowFormatBit(form);
  const KernelPlan& plan = opts.plan != nullptr ? *opts.plan : KernelPlan::Host();
  return plan.ChooseGemv(q);
}

// The elementwise kernels, in order of preference per op (the first whose condition holds
// runs). Each is tested bit-exact against Arith::Mul (elementwise_test.cc) and its
// selection in plan_test.cc.
const std::vector<ElementwiseKernelEntry>& ElementwiseKernels() {
  constexpr uint8_t kAnyOp =
      (1u << static_cast<int>(OpClass::kLMul)) | (1u << static_cast<int>(OpClass::kExact));
  static const std::vector<ElementwiseKernelEntry> table = {
      // name, op, kind, impl, ops, arith needs, cpu, file
      {"mul-simd", ElementwiseOp::kMul, ElementwiseKind::kMulSimd, KernelImpl::kHighway, kAnyOp, 0,
       0, "kernels/hwy/elementwise.cc"},
      {"mul-bf16-simd", ElementwiseOp::kMulBf16, ElementwiseKind::kMulBf16Simd,
       KernelImpl::kHighway, kAnyOp, 0, 0, "kernels/hwy/elementwise.cc"},
      {"reduce-simd", ElementwiseOp::kReduce, ElementwiseKind::kReduceSimd, KernelImpl::kHighway,
       kAnyOp, 0, 0, "kernels/hwy/elementwise.cc"},
  };
  return table;
}

ElementwiseQuery MakeElementwiseQuery(ElementwiseOp op, const Arith& arith) {
  ElementwiseQuery q;
  q.op = op;
  q.arith_op = arith.op == Op::kExact ? OpClass::kExact : OpClass::kLMul;
  q.arith = ArithProperties(arith);
  return q;
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
    case KernelImpl::kX86Avx2:
      return "x86-avx2";
  }
  return "?";
}

std::string CpuFeatureNames(CpuFeatures f) {
  static const struct {
    CpuFeature bit;
    const char* name;
  } kNames[] = {{kCpuAvx2, "avx2"},
                {kCpuFma, "fma"},
                {kCpuF16c, "f16c"},
                {kCpuAvx512F, "avx512f"},
                {kCpuAvx512Bw, "avx512bw"},
                {kCpuAvx512Vl, "avx512vl"},
                {kCpuAvx512Bf16, "avx512bf16"}};
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
    uint8_t p = f.kind == Format::Kind::kFp32 ? kNeedFp32Format : 0;
    if (arith.wide || f.kind == Format::Kind::kFp32) p |= kNeedFp32Out;
    if (f.man_bits <= 11) p |= kNeedFitsFp32;  // (m+1)-bit significands: product <= 24 bits
    return p;
  }
  uint8_t p = f.kind == Format::Kind::kFp32 ? kNeedFp32Format : 0;
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

bool KernelPlan::Applies(const GemvKernelEntry& e, const GemvQuery& q) const {
  return (e.ops & (1u << static_cast<int>(q.op))) != 0 && (e.accums & Acc(q.accum)) != 0 &&
         (q.arith & e.arith_needs) == e.arith_needs && (q.arith & e.arith_excludes) == 0 &&
         q.rows >= 1 && (e.max_rows == 0 || q.rows <= e.max_rows) &&
         (e.needs_forms == 0 || (q.forms & e.needs_forms) != 0) && (features_ & e.cpu) == e.cpu;
}

const GemvKernelEntry& KernelPlan::ChooseGemv(const GemvQuery& q) const {
  const auto& table = GemvKernels();
  for (const GemvKernelEntry& e : table) {
    if (Applies(e, q)) return e;
  }
  return table.back();  // the portable entry has no condition
}

bool KernelPlan::Applies(const ElementwiseKernelEntry& e, const ElementwiseQuery& q) const {
  return e.op == q.op && (e.ops & (1u << static_cast<int>(q.arith_op))) != 0 &&
         (q.arith & e.arith_needs) == e.arith_needs && (features_ & e.cpu) == e.cpu;
}

const ElementwiseKernelEntry& KernelPlan::ChooseElementwise(const ElementwiseQuery& q) const {
  const ElementwiseKernelEntry* last = nullptr;
  for (const ElementwiseKernelEntry& e : ElementwiseKernels()) {
    if (e.op != q.op) continue;
    if (Applies(e, q)) return e;
    last = &e;
  }
  LMUL_CHECK(last != nullptr, "no elementwise kernel for op %d", static_cast<int>(q.op));
  return *last;  // unreachable: each op's last entry has no condition
}

bool KernelPlan::Decodes(const GemvKernelEntry& e, const RowRun& run, int K) {
  if (run.data == nullptr || (e.decodes & RowFormatBit(run.format)) == 0) return false;
  return K % (run.format == RowFormat::kF32 ? 8 : 32) == 0;
}

}  // namespace lmul::kernels
