// Accum::kBf16Dot (the vdpbf16ps order): the 16-bit-lane kernel and the
// portable kernel against ReferenceGemm's model of that order, bit for bit
// (zero signs included: FTZ can make the accumulator -0).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "kernels/gemm.h"
#include "kernels/plan.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"

namespace lmul::kernels {
namespace {

using internal::GemmKind;
using testing::B;
using testing::ExpectSame;
using testing::F;

using testing::Data;
using testing::MakeMatrix;

// The plan of this process, and one without AVX512-BF16 (the portable kernel).
const KernelPlan& HostPlan() { return KernelPlan::Host(); }
const KernelPlan& PortablePlan() {
  static const KernelPlan plan = KernelPlan::Host().Without(kCpuAvx512Bf16);
  return plan;
}

// The plan runs the 16-bit-lane kernel on in-range data (the CPU has AVX512-BF16).
bool HostHasVnni() {
  GemmQuery q;
  q.accum = Accum::kBf16Dot;
  q.range = DataRange::kInRange;
  q.arith = ArithProperties(*Arith::Parse("lmul/bf16"));
  q.simd_target = SimdTarget();
  return HostPlan().Choose(q).kind == GemmKind::kBf16DotVnni;
}

struct Case {
  int M, N, K;
  bool b_trans;
  Data data;
};

// Runs one case with Gemm (and GemmPacked in two row slices) and returns the kernel kind.
GemmKind RunCase(const Arith& arith, const Case& cs, int threads, uint32_t seed,
                 const KernelPlan& plan, std::vector<float>* want_out = nullptr) {
  const int lda = cs.K + 3, ldc = cs.N + 2;
  const int ldb = cs.b_trans ? cs.K + 1 : cs.N + 5;
  const auto a = MakeMatrix(cs.M, cs.K, lda, cs.data, seed);
  const auto b = cs.b_trans ? MakeMatrix(cs.N, cs.K, ldb, cs.data, seed + 1)
                            : MakeMatrix(cs.K, cs.N, ldb, cs.data, seed + 1);
  std::vector<float> want(static_cast<size_t>(cs.M) * ldc, F(0xDEADBEEFu)), got = want;
  ReferenceGemm(arith, cs.M, cs.N, cs.K, a.data(), lda, b.data(), ldb, cs.b_trans, want.data(), ldc,
                Accum::kBf16Dot);
  const GemmOptions opts{Accum::kBf16Dot, threads, &plan};
  const GemmKernelEntry* entry = Gemm(arith, cs.M, cs.N, cs.K, a.data(), lda, b.data(), ldb,
                                      cs.b_trans, got.data(), ldc, opts);
  EXPECT_EQ(entry == nullptr, cs.K == 0);
  const GemmKind kind = entry != nullptr ? entry->kind : GemmKind::kBf16DotPortable;
  const std::string what = arith.Name() + " " + std::to_string(cs.M) + "x" + std::to_string(cs.N) +
                           "x" + std::to_string(cs.K) + (cs.b_trans ? " bT" : "") +
                           " data=" + std::to_string(static_cast<int>(cs.data)) +
                           " threads=" + std::to_string(threads) +
                           " kind=" + std::to_string(static_cast<int>(kind));
  ExpectSame(got, want, cs.M, cs.N, ldc, what);
  // Pre-packed B, rows in two calls (a batch split): the same bits.
  if (cs.M > 1) {
    const PackedB pb = PackB(arith, cs.K, cs.N, b.data(), ldb, cs.b_trans, Accum::kBf16Dot);
    EXPECT_TRUE(pb.packed_for_bf16_dot());
    std::vector<float> got2(want.size(), F(0xDEADBEEFu));
    const int m1 = cs.M / 2;
    GemmPacked(m1, a.data(), lda, pb, got2.data(), ldc, opts);
    GemmPacked(cs.M - m1, a.data() + static_cast<size_t>(m1) * lda, lda, pb,
               got2.data() + static_cast<size_t>(m1) * ldc, ldc, opts);
    ExpectSame(got2, want, cs.M, cs.N, ldc, what + " prepacked split");
  }
  if (want_out != nullptr) *want_out = want;
  return kind;
}

const char* const kAriths[] = {"lmul/bf16", "lmul/bf16,rne", "lmul/e8m7,rne",
                               "lmul/e8m3", "lmul/e8m1",     "mitchell/bf16",
                               "lmul/e4m3", "lmul/e5m2",     "mitchell/e4m3,rne"};

TEST(GemmBf16Dot, Supported) {
  for (const char* s :
       {"lmul/bf16", "lmul/e8m7", "lmul/e8m1", "lmul/e4m3", "lmul/e5m2", "mitchell/bf16,rne"}) {
    EXPECT_TRUE(SupportsBf16Dot(*Arith::Parse(s))) << s;
  }
  for (const char* s : {"lmul/fp32", "lmul/e8m8", "lmul/fp16", "exact/bf16", "exact/e4m3"}) {
    EXPECT_FALSE(SupportsBf16Dot(*Arith::Parse(s))) << s;
  }
}

// Both kernels (the vdpbf16ps one where the CPU has AVX512-BF16, and the
// portable one, forced) on every data kind, odd shapes, odd K (the lone last k),
// k blocks (384 k), threads.
TEST(GemmBf16Dot, MatchesReference) {
  const bool vnni = HostHasVnni();
  std::printf("[   INFO   ] AVX512-BF16 kernel: %s\n",
              vnni ? "tested" : "SKIPPED (CPU or compiler lacks AVX512-BF16)");
  const Case cases[] = {
      {1, 1, 1, false, Data::kNormal},     {7, 17, 33, false, Data::kZeros},
      {13, 33, 7, true, Data::kNoZeros},   {12, 32, 2, false, Data::kNormal},
      {25, 65, 259, false, Data::kTiny},   {30, 40, 401, true, Data::kZeros},
      {17, 31, 64, false, Data::kNoZeros}, {9, 20, 17, false, Data::kExtremeSignedZeros},
      {11, 45, 23, true, Data::kSpecial},  {3, 20, 0, false, Data::kNormal},
      {101, 70, 800, false, Data::kTiny},  {5, 3, 5, false, Data::kZeros},
      {26, 96, 64, false, Data::kZeros},   {14, 64, 130, false, Data::kNoZeros}};
  uint32_t seed = 1;
  for (bool force : {false, true}) {
    if (!force && !vnni) continue;
    const KernelPlan& plan = force ? PortablePlan() : HostPlan();
    for (const char* spec : kAriths) {
      const Arith arith = *Arith::Parse(spec);
      for (const Case& cs : cases) {
        const int threads = 1 + static_cast<int>(seed % 3);
        const GemmKind kind = RunCase(arith, cs, threads, seed++, plan);
        if (force && cs.K > 0) {
          EXPECT_EQ(kind, GemmKind::kBf16DotPortable) << spec;
        }
      }
    }
  }
}

// The 16-bit kernel is actually taken on in-range data, with zeros in A, B,
// both, and none (the four micro-kernel variants), and the portable kernel
// gives the same bits.
TEST(GemmBf16Dot, VnniKernelTakenAndEqualsPortable) {
  if (!HostHasVnni()) GTEST_SKIP() << "no AVX512-BF16";
  const Arith arith = *Arith::Parse("lmul/bf16");
  const int M = 37, N = 70, K = 515;
  for (int variant = 0; variant < 4; ++variant) {
    const Data da = (variant & 1) ? Data::kZeros : Data::kNoZeros;
    const Data db = (variant & 2) ? Data::kZeros : Data::kNoZeros;
    const auto a = MakeMatrix(M, K, K, da, 40 + variant);
    const auto b = MakeMatrix(K, N, N, db, 50 + variant);
    std::vector<float> want(static_cast<size_t>(M) * N), got(want.size()), port(want.size());
    ReferenceGemm(arith, M, N, K, a.data(), K, b.data(), N, false, want.data(), N, Accum::kBf16Dot);
    for (int threads : {1, 2, 0}) {
      const GemmKernelEntry* e = Gemm(arith, M, N, K, a.data(), K, b.data(), N, false, got.data(),
                                      N, {Accum::kBf16Dot, threads});
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(e->kind, GemmKind::kBf16DotVnni) << variant;
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(B(got[i]), B(want[i])) << "variant " << variant << " threads " << threads;
      }
    }
    const GemmKernelEntry* e = Gemm(arith, M, N, K, a.data(), K, b.data(), N, false, port.data(), N,
                                    {Accum::kBf16Dot, 1, &PortablePlan()});
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->kind, GemmKind::kBf16DotPortable);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(B(port[i]), B(want[i])) << variant;
  }
}

// The order is really the pair order (not the canonical one): data where the
// two orders differ, and the FTZ of the accumulator (a -0 result) is seen.
TEST(GemmBf16Dot, OrderDiffersFromCanonical) {
  const Arith arith = *Arith::Parse("lmul/bf16");
  // L-Mul products (x * 1.0 = 1.0625 x): p0 = 2^24 + 2^20, p1 = 1.0625, p2 = -p0, p3 = 3.1875.
  // Canonical: ((p0 + p1) + p2) + p3 = 2 + 3.1875; pairs: ((p1 + p0) + p3) + p2 = 6.
  const float a[4] = {16777216.0f, 1.0f, -16777216.0f, 3.0f};
  const float b[4] = {1.0f, 1.0f, 1.0f, 1.0f};
  float c_dot = -1.0f, c_can = -1.0f, want_dot = -2.0f, want_can = -2.0f;
  Gemm(arith, 1, 1, 4, a, 4, b, 1, false, &c_dot, 1, {Accum::kBf16Dot, 1});
  Gemm(arith, 1, 1, 4, a, 4, b, 1, false, &c_can, 1, {Accum::kFp32, 1});
  ReferenceGemm(arith, 1, 1, 4, a, 4, b, 1, false, &want_dot, 1, Accum::kBf16Dot);
  ReferenceGemm(arith, 1, 1, 4, a, 4, b, 1, false, &want_can, 1, Accum::kFp32);
  EXPECT_EQ(B(c_dot), B(want_dot));
  EXPECT_EQ(B(c_can), B(want_can));
  EXPECT_NE(B(want_dot), B(want_can));  // the two orders are different specs
  // FTZ: 1.5 * 2^-126 - 1.25 * 2^-126 is subnormal: flushed to +0 (and to -0 negated).
  const float x[2] = {std::ldexp(1.5f, -63), std::ldexp(-1.25f, -63)};
  const float y[2] = {std::ldexp(1.0f, -63), std::ldexp(1.0f, -63)};
  float r = 1.0f, ref = 2.0f;
  Gemm(arith, 1, 1, 2, x, 2, y, 1, false, &r, 1, {Accum::kBf16Dot, 1});
  ReferenceGemm(arith, 1, 1, 2, x, 2, y, 1, false, &ref, 1, Accum::kBf16Dot);
  EXPECT_EQ(B(r), B(ref));
  EXPECT_EQ(r, 0.0f);
}

}  // namespace
}  // namespace lmul::kernels
