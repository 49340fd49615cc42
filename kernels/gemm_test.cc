#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>

#include "hwy/targets.h"
#include "kernels/plan.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"

namespace lmul::kernels {
namespace {

using testing::B;
using testing::ExpectSame;
using testing::F;

using testing::Data;
using testing::MakeMatrix;

struct Case {
  int M, N, K;
  bool b_trans;
  Data data;
};

// Runs one case against the reference; returns the kernel the plan chose (nullptr: none ran).
const GemmKernelEntry* RunCase(const Arith& arith, const Case& cs, Accum accum, int threads,
                               uint32_t seed) {
  const int lda = cs.K + 3, ldc = cs.N + 2;
  const int ldb = cs.b_trans ? cs.K + 1 : cs.N + 5;
  const auto a = MakeMatrix(cs.M, cs.K, lda, cs.data, seed);
  const auto b = cs.b_trans ? MakeMatrix(cs.N, cs.K, ldb, cs.data, seed + 1)
                            : MakeMatrix(cs.K, cs.N, ldb, cs.data, seed + 1);
  std::vector<float> want(static_cast<size_t>(cs.M) * ldc, F(0xDEADBEEFu)), got = want;
  ReferenceGemm(arith, cs.M, cs.N, cs.K, a.data(), lda, b.data(), ldb, cs.b_trans, want.data(), ldc,
                accum);
  const GemmKernelEntry* entry = Gemm(arith, cs.M, cs.N, cs.K, a.data(), lda, b.data(), ldb,
                                      cs.b_trans, got.data(), ldc, {accum, threads});
  const std::string what = arith.Name() + " " + std::to_string(cs.M) + "x" + std::to_string(cs.N) +
                           "x" + std::to_string(cs.K) + (cs.b_trans ? " bT" : "") +
                           " data=" + std::to_string(static_cast<int>(cs.data)) +
                           " accum=" + AccumName(accum) + " threads=" + std::to_string(threads);
  ExpectSame(got, want, cs.M, cs.N, ldc, what);
  EXPECT_EQ(entry == nullptr, cs.M == 0 || cs.N == 0 || cs.K == 0) << what;
  return entry;
}

// The algorithm of the kernel that ran.
internal::GemmKind KindOf(const GemmKernelEntry* e) {
  EXPECT_NE(e, nullptr);
  return e != nullptr ? e->kind : internal::GemmKind::kBf16DotPortable;
}

// Every arithmetic, small odd shapes, every data kind, both accumulators.
TEST(Gemm, AllAriths) {
  const Case cases[] = {{1, 1, 1, false, Data::kNormal},  {7, 17, 33, false, Data::kZeros},
                        {5, 33, 7, true, Data::kExtreme}, {9, 3, 17, false, Data::kSpecial},
                        {3, 20, 0, false, Data::kNormal}, {17, 7, 5, true, Data::kZeros}};
  uint32_t seed = 1;
  for (const Arith& arith : testing::AllAriths()) {
    for (const Case& cs : cases) {
      RunCase(arith, cs, Accum::kFp32, 1, seed++);
      RunCase(arith, cs, Accum::kBf16, 2, seed++);
    }
  }
}

// Larger odd shapes for the arithmetics the engine uses most.
TEST(Gemm, LargerShapesThreads) {
  // M = 1, 2: the wide tile of the AVX-512 kernels (4 panels per tile; N = 300 and
  // 290 leave 1 full panel and a partial one after the groups; K > 256: 2 k blocks).
  const Case cases[] = {{65, 33, 257, false, Data::kNormal}, {33, 65, 129, true, Data::kExtreme},
                        {17, 257, 65, false, Data::kZeros},  {1, 300, 70, false, Data::kZeros},
                        {2, 290, 300, true, Data::kNormal},  {1, 256, 520, false, Data::kNoZeros},
                        {2, 128, 40, false, Data::kZeros}};
  uint32_t seed = 100;
  for (const char* spec : {"lmul/bf16", "lmul/fp32", "lmul/e8m4,rne", "lmul/e4m3", "lmul/fp16",
                           "exact/fp32", "exact/bf16", "exact/e4m3,wide", "mitchell/e8m3"}) {
    const Arith arith = *Arith::Parse(spec);
    for (const Case& cs : cases) {
      for (int threads : {1, 2, 0}) RunCase(arith, cs, Accum::kFp32, threads, seed);
      RunCase(arith, cs, Accum::kBf16, 2, seed);
      ++seed;
    }
  }
}

// Every Highway target the CPU supports: fast and general L-Mul kernels, exact
// kernels, shapes crossing the k block (256), the row block (96), panel tails.
TEST(Gemm, EveryTargetEveryKernel) {
  using internal::GemmKind;
  const auto targets = hwy::SupportedAndGeneratedTargets();
  std::string ran;
  for (int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    SCOPED_TRACE(hwy::TargetName(t));
    ran += std::string(" ") + hwy::TargetName(t);
    uint32_t seed = 500;
    const Case big = {101, 70, 300, false, Data::kZeros};
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/bf16"), big, Accum::kFp32, 2, seed++)),
              GemmKind::kLMulFast);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/e8m3"), {13, 40, 260, true, Data::kNoZeros},
                             Accum::kBf16, 1, seed++)),
              GemmKind::kLMulFast);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/fp32"), {9, 33, 17, false, Data::kNormal},
                             Accum::kFp32, 1, seed++)),
              GemmKind::kLMulFast);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/fp16"), {9, 33, 270, false, Data::kExtreme},
                             Accum::kFp32, 2, seed++)),
              GemmKind::kLMulGeneral);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/e4m3"), {17, 65, 33, false, Data::kNormal},
                             Accum::kBf16, 1, seed++)),
              GemmKind::kLMulGeneral);  // underflowing products, no Inf/NaN
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/e4m3"), {17, 65, 33, true, Data::kSpecial},
                             Accum::kBf16, 1, seed++)),
              GemmKind::kLMulGeneral);
    // fp32 accumulation, no Inf/NaN: the FMA-form general kernel (underflow,
    // zeros of A and B, and products clamped at the largest finite).
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/e4m3"), {17, 65, 33, false, Data::kNormal},
                             Accum::kFp32, 1, seed++)),
              GemmKind::kLMulGeneralFma);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/e4m3,rne"), {13, 70, 40, true, Data::kZeros},
                             Accum::kFp32, 2, seed++)),
              GemmKind::kLMulGeneralFma);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("lmul/e4m3"), {14, 40, 29, false, Data::kWide},
                             Accum::kFp32, 1, seed++)),
              GemmKind::kLMulGeneralFma);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("mitchell/e8m4,rne"), {10, 31, 20, false, Data::kZeros},
                             Accum::kFp32, 1, seed++)),
              GemmKind::kLMulFast);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("exact/fp32"), {9, 40, 300, false, Data::kSpecial},
                             Accum::kFp32, 2, seed++)),
              GemmKind::kExactFp32);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("exact/bf16"), {9, 40, 30, false, Data::kZeros},
                             Accum::kBf16, 1, seed++)),
              GemmKind::kExactRound);
    EXPECT_EQ(KindOf(RunCase(*Arith::Parse("exact/fp16"), {9, 40, 30, false, Data::kZeros},
                             Accum::kFp32, 1, seed++)),
              GemmKind::kExactRound);
    const GemmKernelEntry* simd = RunCase(*Arith::Parse("exact/e4m3"),
                                          {9, 40, 30, true, Data::kZeros}, Accum::kFp32, 1, seed++);
    ASSERT_NE(simd, nullptr);
    EXPECT_EQ(simd->kind, GemmKind::kExactRound);
    EXPECT_EQ(simd->impl, KernelImpl::kHighway) << simd->name;
    // Inf operands (products that are not exact in fp32): the portable kernel.
    const GemmKernelEntry* e = RunCase(*Arith::Parse("exact/e4m3"),
                                       {9, 40, 30, true, Data::kExtreme}, Accum::kFp32, 1, seed++);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->kind, GemmKind::kExactRound);
    EXPECT_EQ(e->impl, KernelImpl::kPortable) << e->name;
  }
  hwy::SetSupportedTargetsForTest(0);
  std::printf("[   INFO   ] targets tested:%s\n", ran.c_str());
}

// Shapes big enough for threaded packing (>= 2^16 elements of A and B) and the
// 12/8/4/2/1-row tiles: the same bits for 1, 2, 3 and all threads, equal to the
// reference, for the fast, general (with and without Inf/NaN) and exact kernels.
TEST(Gemm, ThreadsIdenticalBigShapes) {
  struct Big {
    const char* arith;
    Case cs;
  };
  const Big bigs[] = {{"lmul/bf16", {303, 257, 290, false, Data::kZeros}},
                      {"lmul/fp32", {127, 230, 530, true, Data::kExtreme}},
                      {"lmul/e4m3", {215, 300, 310, false, Data::kNormal}},
                      {"lmul/e8m4", {131, 260, 520, true, Data::kSpecial}},
                      {"exact/fp32", {140, 250, 470, false, Data::kNoZeros}}};
  uint32_t seed = 900;
  for (const Big& big : bigs) {
    const Arith arith = *Arith::Parse(big.arith);
    const Case& cs = big.cs;
    const int lda = cs.K + 1, ldc = cs.N + 3;
    const int ldb = cs.b_trans ? cs.K : cs.N + 1;
    const auto a = MakeMatrix(cs.M, cs.K, lda, cs.data, seed);
    const auto b = cs.b_trans ? MakeMatrix(cs.N, cs.K, ldb, cs.data, seed + 1)
                              : MakeMatrix(cs.K, cs.N, ldb, cs.data, seed + 1);
    seed += 2;
    std::vector<float> want(static_cast<size_t>(cs.M) * ldc, F(0xDEADBEEFu));
    ReferenceGemm(arith, cs.M, cs.N, cs.K, a.data(), lda, b.data(), ldb, cs.b_trans, want.data(),
                  ldc, Accum::kFp32);
    for (int threads : {1, 2, 3, 0}) {
      std::vector<float> got(want.size(), F(0xDEADBEEFu));
      Gemm(arith, cs.M, cs.N, cs.K, a.data(), lda, b.data(), ldb, cs.b_trans, got.data(), ldc,
           {Accum::kFp32, threads});
      ExpectSame(got, want, cs.M, cs.N, ldc,
                 std::string(big.arith) + " big threads=" + std::to_string(threads));
    }
  }
}

// Pack once, multiply many: same results as Gemm, for several M.
TEST(Gemm, PackedBReuse) {
  const Arith arith = *Arith::Parse("lmul/e8m3");
  const int K = 70, N = 37, ldb = N;
  const auto b = MakeMatrix(K, N, ldb, Data::kZeros, 7);
  const PackedB pb = PackB(arith, K, N, b.data(), ldb, false);
  EXPECT_EQ(pb.K(), K);
  EXPECT_EQ(pb.N(), N);
  EXPECT_EQ(pb.arith(), arith);
  for (int M : {1, 4, 13}) {
    const auto a = MakeMatrix(M, K, K, Data::kNormal, 8 + M);
    std::vector<float> want(static_cast<size_t>(M) * N), got(want.size());
    ReferenceGemm(arith, M, N, K, a.data(), K, b.data(), ldb, false, want.data(), N, Accum::kFp32);
    GemmPacked(M, a.data(), K, pb, got.data(), N, {Accum::kFp32, 2});
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(B(got[i]), B(want[i])) << "M=" << M;
  }
}

// One PackedB repacked for a sequence of different operands (attention's K and V per kv head
// and layer): each product equals the reference, whatever the previous pack held (larger or
// smaller shapes, other arithmetics and accumulations, specials, zeros, transposed or not).
TEST(Gemm, RepackBReusesOneObject) {
  struct Step {
    const char* arith;
    Accum accum;
    int M, N, K;
    bool b_trans;
    Data data;
  };
  const Step steps[] = {
      {"lmul/bf16", Accum::kFp32, 3, 150, 64, true, Data::kNormal},
      {"lmul/bf16", Accum::kFp32, 1, 9, 64, true, Data::kZeros},  // smaller after larger
      {"lmul/bf16", Accum::kBf16Dot, 2, 64, 131, false, Data::kNormal},
      {"exact/fp32", Accum::kFp32, 4, 64, 200, false, Data::kSpecial},
      {"lmul/e4m3", Accum::kFp32, 1, 33, 64, true, Data::kWide},
      {"lmul/bf16", Accum::kFp32, 5, 150, 64, true, Data::kNormal},
  };
  PackedB pb;
  uint32_t seed = 40;
  for (const Step& st : steps) {
    const Arith arith = *Arith::Parse(st.arith);
    const int ldb = st.b_trans ? st.K + 1 : st.N + 3;
    const auto b = st.b_trans ? MakeMatrix(st.N, st.K, ldb, st.data, ++seed)
                              : MakeMatrix(st.K, st.N, ldb, st.data, ++seed);
    const auto a = MakeMatrix(st.M, st.K, st.K, Data::kNormal, ++seed);
    std::vector<float> want(static_cast<size_t>(st.M) * st.N), got(want.size());
    ReferenceGemm(arith, st.M, st.N, st.K, a.data(), st.K, b.data(), ldb, st.b_trans, want.data(),
                  st.N, st.accum);
    RepackB(&pb, arith, st.K, st.N, b.data(), ldb, st.b_trans, {st.accum, 1 + seed % 2});
    EXPECT_EQ(pb.K(), st.K);
    EXPECT_EQ(pb.N(), st.N);
    GemmPacked(st.M, a.data(), st.K, pb, got.data(), st.N, {st.accum, 1});
    ExpectSame(got, want, st.M, st.N, st.N,
               std::string(st.arith) + " accum " + AccumName(st.accum));
  }
}

// A pack grown by AppendBColumns / AppendBRows (decode's cached keys and values) equals the
// pack of the whole B after every step: the same words, statistics and chosen kernel, and the
// reference's products. Steps cross panel boundaries and bring zeros, specials and extremes
// into a B that had none (the merged statistics must change the kernel choice as a repack's do).
TEST(Gemm, AppendBEqualsRepack) {
  const Data kinds[] = {Data::kNormal, Data::kNoZeros, Data::kZeros,   Data::kNormal,
                        Data::kWide,   Data::kNormal,  Data::kSpecial, Data::kExtreme};
  const int counts[] = {1, 2, 28, 1, 1, 33, 3, 64};
  for (const char* name : {"exact/fp32", "lmul/fp32", "lmul/bf16", "lmul/e4m3", "lmul/e5m2",
                           "exact/bf16", "mitchell/bf16", "lmul/e8m3"}) {
    const Arith arith = *Arith::Parse(name);
    for (const bool b_trans : {true, false}) {
      for (const int fixed : {64, 17}) {  // K (columns grow) or N (rows grow)
        const int ld = fixed + 3;
        std::vector<float> lines;  // the growing dimension's lines, ld apart
        int have = 0;
        PackedB grown, fresh;
        uint32_t seed = 100;
        for (size_t step = 0; step < std::size(counts); ++step) {
          const int count = counts[step];
          const auto part = MakeMatrix(count, fixed, ld, kinds[step], ++seed);
          lines.insert(lines.end(), part.begin(), part.end());
          const int K = b_trans ? fixed : have + count, N = b_trans ? have + count : fixed;
          if (step == 0) {
            RepackB(&grown, arith, K, N, lines.data(), ld, b_trans);
          } else if (b_trans) {
            AppendBColumns(&grown, count, part.data(), ld);
          } else {
            AppendBRows(&grown, count, part.data(), ld);
          }
          have += count;
          const std::string what = std::string(name) + (b_trans ? " columns" : " rows") +
                                   " fixed=" + std::to_string(fixed) + " step " +
                                   std::to_string(step) + " (" + std::to_string(have) + ")";
          RepackB(&fresh, arith, K, N, lines.data(), ld, b_trans);
          ASSERT_EQ(grown.K(), K) << what;
          ASSERT_EQ(grown.N(), N) << what;
          ASSERT_EQ(grown.bytes(), fresh.bytes()) << what;
          ASSERT_EQ(0, std::memcmp(grown.data(), fresh.data(), fresh.bytes())) << what;
          EXPECT_EQ(grown.has_special(), fresh.has_special()) << what;
          for (const Data ad : {Data::kNormal, Data::kExtreme}) {
            const int M = 3;
            const auto a = MakeMatrix(M, K, K, ad, ++seed);
            std::vector<float> want(static_cast<size_t>(M) * N), got(want.size()), ref(want.size());
            const GemmKernelEntry* e_grown = GemmPacked(M, a.data(), K, grown, got.data(), N);
            const GemmKernelEntry* e_fresh = GemmPacked(M, a.data(), K, fresh, want.data(), N);
            EXPECT_EQ(e_grown, e_fresh) << what;
            ReferenceGemm(arith, M, N, K, a.data(), K, lines.data(), ld, b_trans, ref.data(), N,
                          Accum::kFp32);
            ExpectSame(got, ref, M, N, N, what);
          }
        }
      }
    }
  }
  PackedB none;
  const float x = 1.0f;
  EXPECT_DEATH(AppendBRows(&none, 1, &x, 1), "unpacked B");
}

}  // namespace
}  // namespace lmul::kernels
