// GemmRows (B produced a column block at a time) against the scalar reference and against
// Gemm on the same fp32 B: bit-identical for every arithmetic and accumulation, every
// shape class (M <= kGemvMaxRows fused GEMV and larger M; N and K tails), thread counts 1-3.
#include "kernels/gemv.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <string>

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

void Check(const Case& cs, int M, int N, int K, int threads, bool specials, uint32_t seed) {
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
  Gemm(arith, M, N, K, a.data(), lda, w.data(), K, /*b_trans=*/true, gemm.data(), ldc, o);
  const VectorRows rows(w, K);
  GemmRows(arith, M, N, K, a.data(), lda, rows, got.data(), ldc, o);
  const std::string what = std::string(cs.arith) + "@" + AccumName(cs.accum) + " M=" +
                           std::to_string(M) + " N=" + std::to_string(N) + " K=" +
                           std::to_string(K) + " threads=" + std::to_string(threads) + " " +
                           GemmRowsPath(arith, M, o);
  ExpectSame(got, want, M, ldc, ldc, what + " vs reference");
  ExpectSame(got, gemm, M, ldc, ldc, what + " vs Gemm");
  if (K > 0 && M > 0) EXPECT_EQ(rows.rows_read(), N) << what << ": every row read once";
}

TEST(GemmRows, BitExactEveryArithmetic) {
  uint32_t seed = 1;
  for (const Case& cs : kCases) {
    for (int M : {1, 2, 8, 9, kGemvMaxRows, kGemvMaxRows + 1}) {
      for (int N : {1, 65, 130}) {
        for (int K : {1, 8, 33, 100}) Check(cs, M, N, K, 1 + (seed % 3), false, ++seed);
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

TEST(GemmRows, PathChoice) {
  const Arith fp32 = *Arith::Parse("exact/fp32");
  GemmOptions o;
  EXPECT_STREQ(GemmRowsPath(fp32, kGemvMaxRows + 1, o), "packed-blocks");
  EXPECT_STREQ(GemmRowsPath(*Arith::Parse("lmul/bf16"), kGemvMaxRows + 1, o), "packed-blocks");
  EXPECT_STREQ(GemmRowsPath(*Arith::Parse("exact/bf16"), 1, o), "packed-blocks");
  o.accum = Accum::kBf16;
  EXPECT_STREQ(GemmRowsPath(fp32, 1, o), "packed-blocks");
  EXPECT_STREQ(GemmRowsPath(*Arith::Parse("lmul/bf16"), 1, o), "packed-blocks");
  o.accum = Accum::kBf16Dot;
  EXPECT_STREQ(GemmRowsPath(*Arith::Parse("lmul/bf16"), 1, o), "packed-blocks");
#if defined(__x86_64__)
  o.accum = Accum::kFp32;
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_STREQ(GemmRowsPath(fp32, 1, o), "gemv-exact-fp32");
    EXPECT_STREQ(GemmRowsPath(fp32, kGemvMaxRows, o), "gemv-exact-fp32");
    EXPECT_STREQ(GemmRowsPath(*Arith::Parse("exact/bf16,wide"), 1, o), "gemv-exact-wide");
    EXPECT_STREQ(GemmRowsPath(*Arith::Parse("exact/e4m3,wide"), kGemvMaxRows, o),
                 "gemv-exact-wide");
    EXPECT_STREQ(GemmRowsPath(*Arith::Parse("lmul/bf16"), 1, o), "gemv-lmul-fast");
    EXPECT_STREQ(GemmRowsPath(*Arith::Parse("mitchell/e8m3"), 8, o), "gemv-lmul-fast");
  }
#endif
}

}  // namespace
}  // namespace lmul::kernels
