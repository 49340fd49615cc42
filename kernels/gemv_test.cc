// GemmRows (B produced a column block at a time) against the scalar reference and against
// Gemm on the same fp32 B: bit-identical for every arithmetic and accumulation, every
// shape class (M <= kGemvMaxRows fused GEMV and larger M; N and K tails), thread counts 1-3.
#include "kernels/gemv.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <string>

#include "kernels/plan.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"

namespace lmul::kernels {
namespace {

using testing::ExpectSame;

// B stored row-major (N, K); counts the rows handed out so tests see each row read once.
class VectorRows final : public RowSource {
 public:
  VectorRows(const std::vector<float>& w, int K) : w_(w), k_(K) {}
  void Rows(int n0, int count, float* out) const override {
    std::copy(w_.begin() + static_cast<size_t>(n0) * k_,
              w_.begin() + static_cast<size_t>(n0 + count) * k_, out);
    rows_read_ += count;
  }
  int64_t rows_read() const { return rows_read_; }

 private:
  const std::vector<float>& w_;
  int k_;
  mutable std::atomic<int64_t> rows_read_{0};
};

std::vector<float> Random(size_t n, uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto sv = testing::SpecialValues();
  std::vector<float> v(n);
  for (float& x : v) {
    x = normal(rng);
    if (rng() % 7 == 0) x = (rng() % 2) ? 0.0f : -0.0f;
    if (rng() % 11 == 0) x = std::ldexp(x, static_cast<int>(rng() % 60) - 30);
    if (specials && rng() % 40 == 0) x = sv[rng() % sv.size()];
  }
  return v;
}

struct Case {
  const char* arith;
  Accum accum;
};

const Case kCases[] = {
    {"exact/fp32", Accum::kFp32},   {"exact/fp32", Accum::kBf16},
    {"exact/bf16,wide", Accum::kFp32}, {"exact/bf16", Accum::kFp32},
    {"exact/e4m3,wide", Accum::kFp32}, {"exact/e5m2,wide", Accum::kFp32},
    {"lmul/bf16", Accum::kFp32},    {"lmul/bf16", Accum::kBf16Dot},
    {"lmul/e8m3", Accum::kFp32},    {"lmul/e8m4", Accum::kFp32},
    {"lmul/fp32", Accum::kFp32},    {"lmul/e4m3", Accum::kFp32},
    {"mitchell/bf16", Accum::kFp32}, {"lmul/fp16", Accum::kBf16},
};

// The entry the plan must choose (an independent statement of the table's conditions).
std::string ExpectedEntry(const Arith& arith, Accum accum, int M, const KernelPlan& plan) {
  const bool avx2 = (plan.features() & kCpuAvx2) != 0;
  const bool fma = (plan.features() & kCpuFma) != 0;
  if (avx2 && accum == Accum::kFp32 && M >= 1 && M <= kGemvMaxRows) {
    if (arith.op == Op::kExact && arith.format.kind == Format::Kind::kFp32) {
      return "gemv-exact-fp32";
    }
    // exact on a narrower format with products rounded to fp32 only ("wide").
    if (arith.op == Op::kExact && arith.wide) {
      return "gemv-exact-wide";
    }
    if (arith.op != Op::kExact && fma) return "gemv-lmul-fast";
  }
  return avx2 ? "rows-packed-avx2" : "rows-packed";
}

void Check(const Case& cs, int M, int N, int K, int threads, bool specials, uint32_t seed,
           const KernelPlan& plan = KernelPlan::Host()) {
  const Arith arith = *Arith::Parse(cs.arith);
  const int lda = K + 3, ldc = N + 5;
  const std::vector<float> a = Random(static_cast<size_t>(M) * lda, seed, specials);
  const std::vector<float> w = Random(static_cast<size_t>(N) * K, seed + 1, false);  // (N, K)
  std::vector<float> want(static_cast<size_t>(M) * ldc, 123.0f), got = want, gemm = want;
  ReferenceGemm(arith, M, N, K, a.data(), lda, w.data(), K, /*b_trans=*/true, want.data(), ldc,
                cs.accum);
  GemmOptions o;
  o.accum = cs.accum;
  o.threads = threads;
  o.plan = &plan;
  Gemm(arith, M, N, K, a.data(), lda, w.data(), K, /*b_trans=*/true, gemm.data(), ldc, o);
  const VectorRows rows(w, K);
  const GemvKernelEntry* ran = GemmRows(arith, M, N, K, a.data(), lda, rows, got.data(), ldc, o);
  const std::string what = std::string(cs.arith) + "@" + AccumName(cs.accum) + " M=" +
                           std::to_string(M) + " N=" + std::to_string(N) + " K=" +
                           std::to_string(K) + " threads=" + std::to_string(threads) + " " +
                           (ran != nullptr ? ran->name : "none");
  if (M > 0 && N > 0 && K > 0) {
    EXPECT_EQ(ran != nullptr ? ran->name : "none", ExpectedEntry(arith, cs.accum, M, plan))
        << what;
  } else {
    EXPECT_EQ(ran, nullptr) << what;
  }
  ExpectSame(got, want, M, ldc, ldc, what + " vs reference");
  ExpectSame(got, gemm, M, ldc, ldc, what + " vs Gemm");
  if (K > 0 && M > 0) {
    EXPECT_EQ(rows.rows_read(), N) << what << ": every row read once";
  }
}

TEST(GemmRows, BitExactEveryArithmetic) {
  uint32_t seed = 1;
  for (const Case& cs : kCases) {
    for (int M : {1, 2, 8, 9, kGemvMaxRows, kGemvMaxRows + 1}) {
      for (int N : {1, 65, 130}) {
        for (int K : {1, 8, 33, 100}) {
          ++seed;  // before the call: its threads and its data both derive from this seed
          Check(cs, M, N, K, 1 + (seed % 3), false, seed);
        }
      }
    }
  }
}

TEST(GemmRows, SpecialValuesInA) {
  uint32_t seed = 100;
  for (const Case& cs : kCases) {
    for (int M : {1, 2, 5, 8, 12}) Check(cs, M, 97, 45, 2, true, ++seed);
  }
}

TEST(GemmRows, EdgeShapes) {
  for (const Case& cs : kCases) {
    Check(cs, 1, 70, 0, 1, false, 5);  // K = 0: C = +0
    Check(cs, 0, 70, 10, 1, false, 6);
    Check(cs, 3, 0, 10, 1, false, 7);
  }
}

TEST(GemmRows, ThreadCountsAndLargeK) {
  for (int threads : {1, 3}) {
    Check({"exact/fp32", Accum::kFp32}, 1, 1000, 576, threads, false, 11);
    Check({"exact/fp32", Accum::kFp32}, 4, 700, 1536, threads, false, 12);
    Check({"lmul/bf16", Accum::kFp32}, 1, 600, 576, threads, false, 13);
    Check({"exact/fp32", Accum::kFp32}, 20, 513, 300, threads, false, 14);
  }
}

// The portable entry ("rows-packed": no AVX2 decode or transpose), run here through a plan
// without AVX2: the same bits.
TEST(GemmRows, PortableEntryBitExact) {
  const KernelPlan no_avx2 = KernelPlan::Host().Without(kCpuAvx2);
  uint32_t seed = 300;
  for (const Case& cs : kCases) {
    for (int M : {1, 9}) Check(cs, M, 70, 33, 2, true, ++seed, no_avx2);
  }
}

// The plan's choice for GemmRows on CPUs with and without AVX2 (any host: feature masks).
TEST(GemmRows, PlanChoice) {
  const Arith fp32 = *Arith::Parse("exact/fp32");
  const KernelPlan avx2(kCpuAvx2 | kCpuFma), avx2_no_fma(kCpuAvx2), none(0);
  for (const KernelPlan* plan : {&avx2, &avx2_no_fma, &none}) {
    for (const Case& cs : kCases) {
      const Arith arith = *Arith::Parse(cs.arith);
      for (int M : {1, 2, 8, 9, kGemvMaxRows, kGemvMaxRows + 1}) {
        EXPECT_EQ(plan->ChooseGemv(MakeGemvQuery(arith, cs.accum, M)).name,
                  ExpectedEntry(arith, cs.accum, M, *plan))
            << cs.arith << " M=" << M;
      }
    }
  }
  // Spelled out: fused GEMVs only with fp32 accumulation, M in [1, 64], AVX2: exact/fp32,
  // exact/<fmt>,wide (fp32 products of reduced operands) and lmul/mitchell (also FMA).
  auto kind = [](const KernelPlan& p, const char* arith, Accum accum, int M) {
    return p.ChooseGemv(MakeGemvQuery(*Arith::Parse(arith), accum, M)).kind;
  };
  EXPECT_EQ(kGemvMaxRows, 64);
  EXPECT_EQ(kind(avx2, "exact/fp32", Accum::kFp32, 1), GemvKind::kFused);
  EXPECT_EQ(kind(avx2, "exact/fp32", Accum::kFp32, 64), GemvKind::kFused);
  EXPECT_EQ(kind(avx2, "exact/fp32,wide", Accum::kFp32, 1), GemvKind::kFused);
  EXPECT_EQ(kind(avx2, "exact/fp32", Accum::kFp32, 65), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2, "exact/fp32", Accum::kBf16, 1), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2, "exact/bf16,wide", Accum::kFp32, 1), GemvKind::kFusedExactWide);
  EXPECT_EQ(kind(avx2, "exact/e4m3,wide", Accum::kFp32, 64), GemvKind::kFusedExactWide);
  EXPECT_EQ(kind(avx2, "exact/bf16,wide", Accum::kFp32, 65), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2, "exact/bf16", Accum::kFp32, 1), GemvKind::kPackedBlocks);  // bf16 out
  EXPECT_EQ(kind(avx2, "lmul/bf16", Accum::kFp32, 1), GemvKind::kFusedLMulFast);
  EXPECT_EQ(kind(avx2, "lmul/fp32", Accum::kFp32, 1), GemvKind::kFusedLMulFast);
  EXPECT_EQ(kind(avx2, "mitchell/e8m3", Accum::kFp32, 8), GemvKind::kFusedLMulFast);
  EXPECT_EQ(kind(avx2, "lmul/bf16", Accum::kFp32, 65), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2, "lmul/bf16", Accum::kBf16, 1), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2, "lmul/bf16", Accum::kBf16Dot, 1), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2_no_fma, "lmul/bf16", Accum::kFp32, 1), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(avx2_no_fma, "exact/bf16,wide", Accum::kFp32, 1), GemvKind::kFusedExactWide);
  EXPECT_EQ(kind(none, "exact/fp32", Accum::kFp32, 1), GemvKind::kPackedBlocks);
  EXPECT_EQ(kind(none, "lmul/bf16", Accum::kFp32, 1), GemvKind::kPackedBlocks);
  // Which stored forms each entry decodes itself.
  const uint8_t q4[20] = {};
  const RowRun q4_0{RowFormat::kQ4_0, q4, 18, 1}, other{RowFormat::kOther, q4, 18, 1};
  const GemvKernelEntry& fused = avx2.ChooseGemv(MakeGemvQuery(fp32, Accum::kFp32, 1));
  EXPECT_TRUE(KernelPlan::Decodes(fused, q4_0, 32));
  EXPECT_FALSE(KernelPlan::Decodes(fused, q4_0, 48));  // K not a multiple of the block
  EXPECT_FALSE(KernelPlan::Decodes(fused, other, 32));
  EXPECT_FALSE(KernelPlan::Decodes(none.ChooseGemv(MakeGemvQuery(fp32, Accum::kFp32, 1)), q4_0, 32));
}

}  // namespace
}  // namespace lmul::kernels
