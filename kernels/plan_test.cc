// The kernel plan: which kernel the table chooses for every arithmetic,
// accumulation, ISA and data range, with feature masks for CPUs this machine
// is not (the AVX-512 entries are chosen here even where they cannot run).
#include "kernels/plan.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "hwy/targets.h"
#include "kernels/arith_ops.h"
#include "kernels/elementwise.h"
#include "kernels/test_util.h"

namespace lmul::kernels {
namespace {

using internal::GemmKind;

constexpr CpuFeatures kAvx2Cpu = kCpuAvx2 | kCpuFma;
constexpr CpuFeatures kAvx512Cpu = kAvx2Cpu | kCpuAvx512F | kCpuAvx512Bw | kCpuAvx512Vl;
constexpr CpuFeatures kBf16Cpu = kAvx512Cpu | kCpuAvx512Bf16;

std::string Pick(CpuFeatures cpu, const char* arith, Accum accum, DataRange range,
                 int64_t target = HWY_AVX3) {
  GemmQuery q;
  const Arith a = *Arith::Parse(arith);
  q.op = a.op == Op::kExact ? OpClass::kExact : OpClass::kLMul;
  q.accum = accum;
  q.range = range;
  q.arith = ArithProperties(a);
  q.simd_target = target;
  return KernelPlan(cpu).Choose(q).name;
}

TEST(KernelPlan, LMulFp32Lanes) {
  using enum DataRange;
  // In range: one integer add per product; raw AVX-512 only for fp32 accumulation,
  // on an AVX-512 CPU, where Highway dispatches to its AVX-512 target.
  EXPECT_EQ(Pick(kBf16Cpu, "lmul/bf16", Accum::kFp32, kInRange), "lmul-fast-avx512");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e8m4", Accum::kFp32, kInRange), "lmul-fast-avx512");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e8m4", Accum::kFp32, kInRange, HWY_AVX3_DL), "lmul-fast-avx512");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e8m4", Accum::kFp32, kInRange, HWY_AVX2), "lmul-fast");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e8m4", Accum::kBf16, kInRange), "lmul-fast");
  EXPECT_EQ(Pick(kAvx2Cpu, "lmul/e8m4", Accum::kFp32, kInRange, HWY_AVX2), "lmul-fast");
  EXPECT_EQ(Pick(0, "mitchell/fp16", Accum::kFp32, kInRange, HWY_SSE4), "lmul-fast");
  // Finite: the FMA form where saturation is a clamp (exp8 formats, e4m3), fp32 only.
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e4m3", Accum::kFp32, kFinite), "lmul-general-fma-avx512");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/fp32", Accum::kFp32, kFinite), "lmul-general-fma-avx512");
  EXPECT_EQ(Pick(kAvx2Cpu, "lmul/e4m3", Accum::kFp32, kFinite), "lmul-general-fma");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e4m3", Accum::kFp32, kFinite, HWY_AVX2), "lmul-general-fma");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e4m3", Accum::kBf16, kFinite), "lmul-general");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/fp16", Accum::kFp32, kFinite), "lmul-general");  // Inf sat
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/e5m2", Accum::kFp32, kFinite), "lmul-general");
  // Inf/NaN: the full spec per product.
  EXPECT_EQ(Pick(kBf16Cpu, "lmul/bf16", Accum::kFp32, kAny), "lmul-general");
  EXPECT_EQ(Pick(kAvx2Cpu, "lmul/e4m3", Accum::kBf16, kAny), "lmul-general");
}

TEST(KernelPlan, Exact) {
  using enum DataRange;
  // The exact product rounded to fp32: any data.
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/fp32", Accum::kFp32, kAny), "exact-fp32-avx512");
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/e4m3,wide", Accum::kFp32, kFinite), "exact-fp32-avx512");
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/fp32", Accum::kFp32, kAny, HWY_AVX2), "exact-fp32");
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/fp32", Accum::kBf16, kAny), "exact-fp32");
  EXPECT_EQ(Pick(kAvx2Cpu, "exact/bf16,wide", Accum::kFp32, kAny, HWY_AVX2), "exact-fp32");
  // Rounded to the format: SIMD when the product is exact in fp32 and in range.
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/bf16", Accum::kFp32, kInRange), "exact-round");
  EXPECT_EQ(Pick(kAvx2Cpu, "exact/fp16", Accum::kBf16, kInRange, HWY_AVX2), "exact-round");
  EXPECT_EQ(Pick(kAvx2Cpu, "exact/e8m11", Accum::kFp32, kInRange, HWY_AVX2), "exact-round");
  EXPECT_EQ(Pick(kAvx2Cpu, "exact/e8m12", Accum::kFp32, kInRange, HWY_AVX2),
            "exact-round-portable");
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/e4m3", Accum::kFp32, kFinite), "exact-round-portable");
  EXPECT_EQ(Pick(kAvx512Cpu, "exact/e4m3", Accum::kFp32, kAny), "exact-round-portable");
}

TEST(KernelPlan, Bf16Dot) {
  using enum DataRange;
  EXPECT_EQ(Pick(kBf16Cpu, "lmul/bf16", Accum::kBf16Dot, kInRange), "bf16dot-avx512bf16");
  EXPECT_EQ(Pick(kBf16Cpu, "mitchell/e4m3", Accum::kBf16Dot, kInRange, HWY_AVX2),
            "bf16dot-avx512bf16");  // not tied to Highway's target
  EXPECT_EQ(Pick(kBf16Cpu, "lmul/bf16", Accum::kBf16Dot, kFinite), "bf16dot-portable");
  EXPECT_EQ(Pick(kBf16Cpu, "lmul/bf16", Accum::kBf16Dot, kAny), "bf16dot-portable");
  EXPECT_EQ(Pick(kAvx512Cpu, "lmul/bf16", Accum::kBf16Dot, kInRange), "bf16dot-portable");
  EXPECT_EQ(Pick(kBf16Cpu & ~kCpuAvx512Vl, "lmul/bf16", Accum::kBf16Dot, kInRange),
            "bf16dot-portable");
  EXPECT_EQ(Pick(kAvx2Cpu, "lmul/e5m2", Accum::kBf16Dot, kInRange, HWY_AVX2), "bf16dot-portable");
}

// Every valid query has an entry whose condition holds (the table is complete),
// for every feature mask, Highway target, accumulation and data range; the
// chosen entry implements the accumulation and accepts the data.
TEST(KernelPlan, EveryQueryHasAKernel) {
  const CpuFeatures masks[] = {0, kAvx2Cpu, kAvx512Cpu, kBf16Cpu, kCpuAvx512F};
  const int64_t targets[] = {HWY_SSE4, HWY_AVX2, HWY_AVX3, HWY_AVX3_DL};
  int checked = 0;
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    for (Accum accum : {Accum::kFp32, Accum::kBf16, Accum::kBf16Dot}) {
      if (accum == Accum::kBf16Dot && !SupportsBf16Dot(arith)) continue;
      for (DataRange range : {DataRange::kInRange, DataRange::kFinite, DataRange::kAny}) {
        for (CpuFeatures cpu : masks) {
          for (int64_t target : targets) {
            GemmQuery q;
            q.op = arith.op == Op::kExact ? OpClass::kExact : OpClass::kLMul;
            q.accum = accum;
            q.range = range;
            q.arith = ArithProperties(arith);
            q.simd_target = target;
            const KernelPlan plan(cpu);
            const GemmKernelEntry& e = plan.Choose(q);
            ASSERT_TRUE(plan.Applies(e, q)) << arith.Name() << " " << AccumName(accum) << " "
                                            << DataRangeName(range) << " -> " << e.name;
            EXPECT_EQ((e.cpu & ~cpu), 0u) << e.name;
            EXPECT_EQ(accum == Accum::kBf16Dot,
                      e.kind == GemmKind::kBf16DotVnni || e.kind == GemmKind::kBf16DotPortable);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

// ArithProperties agrees with the kernel constants the kernels use.
TEST(KernelPlan, ArithPropertiesMatchConsts) {
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    const internal::ArithConsts c = internal::MakeConsts(arith);
    const uint8_t p = ArithProperties(arith);
    const std::string name = arith.Name();
    EXPECT_EQ((p & kNeedFp32Out) != 0, c.exact_fp32_out) << name;
    if (c.exact) {
      EXPECT_EQ((p & kNeedFitsFp32) != 0, c.man_bits <= 11) << name;
      EXPECT_EQ(p & (kNeedClampSat | kNeedFitsBf16), 0) << name;
    } else {
      const bool clamp = (c.exp8 && c.c_sat == 0x7F800000u) || c.c_sat == c.c_max_bits;
      EXPECT_EQ((p & kNeedClampSat) != 0, clamp) << name;
      EXPECT_EQ((p & kNeedFitsBf16) != 0, SupportsBf16Dot(arith)) << name;
    }
  }
}

TEST(KernelPlan, TableNamesAndFeatures) {
  std::set<std::string> names;
  for (const GemmKernelEntry& e : GemmKernels()) {
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate " << e.name;
    EXPECT_EQ(e.impl == KernelImpl::kX86Avx512, e.cpu != 0) << e.name;
    EXPECT_EQ(std::string(e.file).rfind("kernels/", 0), 0u) << e.file;
  }
  for (const GemvKernelEntry& e : GemvKernels()) {
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate " << e.name;
    // x86 kernels need AVX2 (the AVX-512 one also falls back on the AVX2 one for a last odd
    // group of rows), AVX-512F exactly when they are AVX-512 kernels, and F16C exactly when
    // they read the interleaved forms (their block scales by vcvtph2ps).
    const bool x86 = e.impl == KernelImpl::kX86Avx2 || e.impl == KernelImpl::kX86Avx512;
    EXPECT_EQ(x86, (e.cpu & kCpuAvx2) != 0) << e.name;
    EXPECT_EQ(e.impl == KernelImpl::kX86Avx512, (e.cpu & kCpuAvx512F) != 0) << e.name;
    EXPECT_EQ(e.needs_forms != 0, (e.cpu & kCpuF16c) != 0) << e.name;
    EXPECT_EQ(e.cpu & ~(kCpuAvx2 | kCpuFma | kCpuF16c | kCpuAvx512F), 0u) << e.name;
    EXPECT_EQ(e.decodes != 0, x86) << e.name;
    EXPECT_EQ(std::string(e.file).rfind("kernels/", 0), 0u) << e.file;
  }
  for (const ElementwiseKernelEntry& e : ElementwiseKernels()) {
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate " << e.name;
    EXPECT_EQ(std::string(e.file).rfind("kernels/", 0), 0u) << e.file;
  }
  // The last GemmRows entry has no condition (a kernel for every query).
  const GemvKernelEntry& last = GemvKernels().back();
  EXPECT_EQ(last.cpu, 0u);
  EXPECT_EQ(last.arith_needs, 0u);
  EXPECT_EQ(last.arith_excludes, 0u);
  EXPECT_EQ(last.max_rows, 0);
  EXPECT_EQ(KernelImplName(KernelImpl::kX86Avx2), std::string("x86-avx2"));
  EXPECT_EQ(CpuFeatureNames(kCpuAvx2 | kCpuAvx512Bf16), "avx2 avx512bf16");
  EXPECT_EQ(CpuFeatureNames(kCpuAvx2 | kCpuFma | kCpuF16c), "avx2 fma f16c");
  EXPECT_EQ(CpuFeatureNames(0), "");
  std::printf("[   INFO   ] host CPU features: %s; Highway target: %s\n",
              CpuFeatureNames(HostCpuFeatures()).c_str(), SimdTargetName().c_str());
}

// Every arithmetic has an elementwise kernel for each op, on any CPU; the kernels report
// the entry they ran.
TEST(KernelPlan, ElementwiseEveryArith) {
  const std::pair<ElementwiseOp, const char*> ops[] = {{ElementwiseOp::kMul, "mul-simd"},
                                                       {ElementwiseOp::kMulBf16, "mul-bf16-simd"},
                                                       {ElementwiseOp::kReduce, "reduce-simd"}};
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    for (const auto& [op, name] : ops) {
      for (CpuFeatures cpu : {CpuFeatures{0}, kAvx2Cpu, kBf16Cpu}) {
        const ElementwiseKernelEntry& e =
            KernelPlan(cpu).ChooseElementwise(MakeElementwiseQuery(op, arith));
        EXPECT_EQ(e.op, op) << arith.Name();
        EXPECT_STREQ(e.name, name) << arith.Name();
      }
    }
    float a = 1.5f, b = -2.25f, y = 0;
    uint16_t ha = 0x3FC0, hb = 0xC010, hy = 0;
    EXPECT_STREQ(MulElementwise(arith, &a, &b, &y, 1).name, "mul-simd");
    EXPECT_STREQ(MulElementwiseBf16(arith, &ha, &hb, &hy, 1).name, "mul-bf16-simd");
  }
}

// The probe agrees with the kernel's view of the CPU (Linux x86-64: /proc/cpuinfo's flags, which
// the kernel clears where the OS does not save the registers' state), feature by feature.
TEST(KernelPlan, HostFeaturesMatchProcCpuinfo) {
#if defined(__linux__) && defined(__x86_64__)
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  if (flags.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  const std::pair<CpuFeatures, const char*> named[] = {{kCpuAvx2, "avx2"},
                                                       {kCpuFma, "fma"},
                                                       {kCpuF16c, "f16c"},
                                                       {kCpuAvx512F, "avx512f"},
                                                       {kCpuAvx512Bw, "avx512bw"},
                                                       {kCpuAvx512Vl, "avx512vl"},
                                                       {kCpuAvx512Bf16, "avx512_bf16"}};
  for (const auto& [bit, flag] : named) {
    EXPECT_EQ((HostCpuFeatures() & bit) != 0, flags.count(flag) == 1) << flag;
  }
#else
  GTEST_SKIP() << "not Linux x86-64";
#endif
}

TEST(KernelPlan, HostPlanAndMasks) {
  const KernelPlan& host = KernelPlan::Host();
  EXPECT_EQ(host.features(), HostCpuFeatures());
  EXPECT_EQ(&host, &KernelPlan::Host());  // one per process
  EXPECT_TRUE(host.Runnable());
  EXPECT_TRUE(host.Without(kCpuAvx512All).Runnable());
  EXPECT_EQ(host.Without(kCpuAvx512All).features() & kCpuAvx512All, 0u);
  const KernelPlan all(~CpuFeatures{0});
  EXPECT_EQ(all.Runnable(), HostCpuFeatures() == ~CpuFeatures{0});
}

// Gemm reports the entry the plan chose for its data, and refuses a plan the
// host cannot run.
TEST(KernelPlan, GemmReportsTheChoice) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the worker pool has threads
  const Arith arith = *Arith::Parse("lmul/bf16");
  const int M = 5, N = 40, K = 33;
  const auto a = testing::MakeMatrix(M, K, K, testing::Data::kNoZeros, 1);
  const auto b = testing::MakeMatrix(K, N, N, testing::Data::kNoZeros, 2);
  std::vector<float> c(static_cast<size_t>(M) * N);
  GemmQuery q;
  q.accum = Accum::kFp32;
  q.range = DataRange::kInRange;
  q.arith = ArithProperties(arith);
  q.simd_target = SimdTarget();
  const GemmKernelEntry* e = Gemm(arith, M, N, K, a.data(), K, b.data(), N, false, c.data(), N);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e, &KernelPlan::Host().Choose(q));
  EXPECT_EQ(Gemm(arith, M, N, 0, a.data(), K, b.data(), N, false, c.data(), N), nullptr);
  // Specials: the general kernel, whatever the plan.
  auto sa = a;
  sa[3] = std::numeric_limits<float>::infinity();
  e = Gemm(arith, M, N, K, sa.data(), K, b.data(), N, false, c.data(), N);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(e->name, "lmul-general");
  if ((HostCpuFeatures() & kCpuAvx512All) != kCpuAvx512All) {
    const KernelPlan fake(HostCpuFeatures() | kCpuAvx512All);
    EXPECT_DEATH(Gemm(arith, M, N, K, a.data(), K, b.data(), N, false, c.data(), N,
                      {Accum::kFp32, 1, &fake}),
                 "features the host lacks");
  }
}

}  // namespace
}  // namespace lmul::kernels
