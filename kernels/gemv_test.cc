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
#include "kernels/x86/gemv_avx2.h"
#include "kernels/x86/gemv_avx512.h"
#include "numeric/bits.h"

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

// ---- The interleaved forms (gemv-exact-fp32-x8, gemv-exact-fp32-x16) ----

bool HostHasAvx2() { return (KernelPlan::Host().features() & kCpuAvx2) != 0; }
bool HostHasAvx512() {
  return (KernelPlan::Host().features() & (kCpuAvx2 | kCpuAvx512F)) == (kCpuAvx2 | kCpuAvx512F);
}

// A kernel's scale conversion (`lanes` halves at a time) is numeric/bits.h's HalfToFloat for
// all 65,536 halves (signaling NaNs keep their payload unquieted).
template <int kLanes>
void CheckHalfToFloat(void (*convert)(const uint16_t*, float*)) {
  long bad = 0;
  for (uint32_t h0 = 0; h0 < 65536; h0 += kLanes) {
    uint16_t h[kLanes];
    float got[kLanes];
    for (int j = 0; j < kLanes; ++j) h[j] = static_cast<uint16_t>(h0 + j);
    convert(h, got);
    for (int j = 0; j < kLanes; ++j) {
      if (FloatBits(got[j]) != FloatBits(HalfToFloat(h[j])) && ++bad <= 3) {
        ADD_FAILURE() << "half 0x" << std::hex << h[j] << " got 0x" << FloatBits(got[j]);
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(GemmRowsInterleaved, HalfToFloatExhaustive) {
  if ((KernelPlan::Host().features() & (kCpuAvx2 | kCpuF16c)) != (kCpuAvx2 | kCpuF16c)) {
    GTEST_SKIP() << "no AVX2 + F16C";
  }
  CheckHalfToFloat<8>(internal::HalfToFloat8Avx2);
}

TEST(GemmRowsInterleaved, HalfToFloat16Exhaustive) {
  if (!HostHasAvx512()) GTEST_SKIP() << "no AVX-512F";
  CheckHalfToFloat<16>(internal::HalfToFloat16Avx512);
}

// N rows of K values stored in one GGUF block form (ggml's layouts, kernels/gemv.h), with
// Rows() decoding them by the formulas written out here (an independent statement of the
// formats) and, optionally, the interleaved form.
class StoredRows final : public RowSource {
 public:
  StoredRows(RowFormat f, int N, int K, uint32_t seed, bool special_scales) : f_(f), n_(N), k_(K) {
    bb_ = f == RowFormat::kQ8_0 ? 34 : f == RowFormat::kQ4_0 ? 18 : 20;
    row_bytes_ = static_cast<size_t>(K / 32) * bb_;
    bytes_.resize(row_bytes_ * N);
    std::mt19937 rng(seed);
    for (uint8_t& b : bytes_) b = static_cast<uint8_t>(rng());
    // Scales: mostly ordinary halves of either sign; with special_scales also zeros,
    // subnormals, Inf, quiet and signaling NaN.
    const uint16_t specials[] = {0x0000, 0x8000, 0x0001, 0x83FF, 0x7C00, 0xFC00, 0x7E00, 0x7C01};
    for (size_t blk = 0; blk < bytes_.size() / bb_; ++blk) {
      uint8_t* p = bytes_.data() + blk * bb_;
      for (int s = 0; s < (f == RowFormat::kQ4_1 ? 2 : 1); ++s) {
        uint16_t h = static_cast<uint16_t>((rng() % 2 ? 0x8000 : 0) | (0x2000 + rng() % 0x2000));
        if (special_scales && rng() % 9 == 0) h = specials[rng() % 8];
        p[2 * s] = static_cast<uint8_t>(h);
        p[2 * s + 1] = static_cast<uint8_t>(h >> 8);
      }
    }
  }
  void Rows(int n0, int count, float* out) const override {
    for (int n = n0; n < n0 + count; ++n) Decode(n, out + static_cast<size_t>(n - n0) * k_);
  }
  RowRun Run(int n) const override {
    return {f_, bytes_.data() + static_cast<size_t>(n) * row_bytes_, row_bytes_, n_ - n};
  }
  const InterleavedRows* Interleaved() const override { return il_; }
  void set_interleaved(const InterleavedRows* il) { il_ = il; }
  // (N, K) row-major, the values of Rows().
  std::vector<float> All() const {
    std::vector<float> w(static_cast<size_t>(n_) * k_);
    Rows(0, n_, w.data());
    return w;
  }

 private:
  static float Half(const uint8_t* p) {
    return HalfToFloat(static_cast<uint16_t>(p[0] | p[1] << 8));
  }
  void Decode(int n, float* y) const {
    const uint8_t* row = bytes_.data() + static_cast<size_t>(n) * row_bytes_;
    for (int k = 0; k < k_; ++k) {
      const uint8_t* blk = row + (k / 32) * bb_;
      const int j = k % 32;
      const float d = Half(blk);
      if (f_ == RowFormat::kQ8_0) {
        y[k] = static_cast<float>(static_cast<int8_t>(blk[2 + j])) * d;
        continue;
      }
      const uint8_t* q = blk + (f_ == RowFormat::kQ4_1 ? 4 : 2);
      const int nib = j < 16 ? (q[j] & 0x0F) : (q[j - 16] >> 4);
      y[k] = f_ == RowFormat::kQ4_0 ? static_cast<float>(nib - 8) * d
                                    : static_cast<float>(nib) * d + Half(blk + 2);
    }
  }
  RowFormat f_;
  int n_, k_;
  size_t bb_ = 0, row_bytes_ = 0;
  std::vector<uint8_t> bytes_;
  const InterleavedRows* il_ = nullptr;
};

// GemmRows from the interleaved form == the scalar reference on the decoded B == GemmRows
// from the stored rows (the tile GEMV); C's padding untouched. On an AVX-512 host the host's
// plan runs gemv-exact-fp32-x16, and an AVX2-only plan gemv-exact-fp32-x8 on the same form:
// both checked.
void CheckInterleaved(RowFormat f, int M, int N, int K, int threads, bool specials, uint32_t seed) {
  const Arith arith = *Arith::Parse("exact/fp32");
  StoredRows rows(f, N, K, seed, specials);
  const InterleavedRows il = InterleaveRows(rows, N, K);
  ASSERT_EQ(il.format, InterleavedForm(f));
  ASSERT_EQ(il.data.size(),
            static_cast<size_t>((N + 7) / 8) * (K / 32) * InterleavedBlockBytes(il.format));
  const int lda = K + 3, ldc = N + 5;
  const std::vector<float> a = Random(static_cast<size_t>(M) * lda, seed + 7, specials);
  const std::vector<float> w = rows.All();
  std::vector<float> want(static_cast<size_t>(M) * ldc, BitsFloat(0xDEADBEEFu));
  std::vector<float> tile = want, got = want;
  ReferenceGemm(arith, M, N, K, a.data(), lda, w.data(), K, /*b_trans=*/true, want.data(), ldc,
                Accum::kFp32);
  GemmOptions o;
  o.threads = threads;
  const GemvKernelEntry* t = GemmRows(arith, M, N, K, a.data(), lda, rows, tile.data(), ldc, o);
  rows.set_interleaved(&il);
  const GemvKernelEntry* x = GemmRows(arith, M, N, K, a.data(), lda, rows, got.data(), ldc, o);
  const std::string what = "format " + std::to_string(static_cast<int>(f)) +
                           " M=" + std::to_string(M) + " N=" + std::to_string(N) +
                           " K=" + std::to_string(K) + " threads=" + std::to_string(threads);
  const bool fused = HostHasAvx2() && M <= kGemvInterleavedMaxRows;
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(std::string(x->name),
            !fused ? t->name : HostHasAvx512() ? "gemv-exact-fp32-x16" : "gemv-exact-fp32-x8")
      << what;
  ExpectSame(got, want, M, N, ldc, what + " interleaved vs reference");
  ExpectSame(got, tile, M, N, ldc, what + " interleaved vs rows");
  if (HostHasAvx512()) {
    const KernelPlan avx2 = KernelPlan::Host().Without(kCpuAvx512All);
    o.plan = &avx2;
    std::vector<float> got8(got.size(), BitsFloat(0xDEADBEEFu));
    const GemvKernelEntry* x8 = GemmRows(arith, M, N, K, a.data(), lda, rows, got8.data(), ldc, o);
    ASSERT_NE(x8, nullptr);
    EXPECT_EQ(std::string(x8->name), fused ? "gemv-exact-fp32-x8" : t->name) << what;
    ExpectSame(got8, want, M, N, ldc, what + " x8 vs reference");
  }
}

TEST(GemmRowsInterleaved, BitExactFormatsShapesThreads) {
  uint32_t seed = 500;
  for (RowFormat f : {RowFormat::kQ4_1, RowFormat::kQ4_0, RowFormat::kQ8_0}) {
    // M: decode steps, 4-row tails, branch batches up to the fused range and one past it.
    for (int M : {1, 2, 3, 4, 5, 7, 8, 9, 13, 40, kGemvInterleavedMaxRows,
                  kGemvInterleavedMaxRows + 1}) {
      // N: one partial group, whole groups, chunk (4 groups) tails, several chunks.
      for (int N : {1, 7, 8, 9, 24, 31, 32, 33, 65, 100}) {
        for (int K : {32, 96}) {
          ++seed;
          CheckInterleaved(f, M, N, K, 1 + seed % 3, false, seed);
        }
      }
    }
  }
}

TEST(GemmRowsInterleaved, SpecialScalesAndA) {
  uint32_t seed = 900;
  for (RowFormat f : {RowFormat::kQ4_1, RowFormat::kQ4_0, RowFormat::kQ8_0}) {
    for (int M : {1, 2, 4, 6, 8}) CheckInterleaved(f, M, 77, 64, 2, true, ++seed);
  }
}

TEST(GemmRowsInterleaved, ModelShapes) {
  // SmolLM2-135M's: [q; k; v] (960 x 576), down (576 x 1536), a slice of the head; 1-2 threads.
  CheckInterleaved(RowFormat::kQ4_1, 1, 960, 576, 1, false, 31);
  CheckInterleaved(RowFormat::kQ4_1, 1, 576, 1536, 2, false, 32);
  CheckInterleaved(RowFormat::kQ8_0, 1, 1000, 576, 2, false, 33);
  CheckInterleaved(RowFormat::kQ4_1, 8, 200, 1536, 1, false, 34);
  CheckInterleaved(RowFormat::kQ4_1, 40, 120, 1536, 2, false, 35);  // an ARC branch batch
}

TEST(GemmRowsInterleaved, NoFormForMixedRowsOrK) {
  StoredRows q41(RowFormat::kQ4_1, 16, 64, 1, false);
  EXPECT_EQ(InterleaveRows(q41, 16, 48).format, RowFormat::kOther);  // K not a multiple of 32
  EXPECT_EQ(InterleaveRows(q41, 0, 64).format, RowFormat::kOther);
  EXPECT_EQ(InterleaveRows(q41, 16, 64).format, RowFormat::kQ4_1x8);
  EXPECT_EQ(InterleaveRows(VectorRows(std::vector<float>(64 * 16), 64), 16, 64).format,
            RowFormat::kOther);  // no stored rows
  // A second part of another type (stacked tensors of mixed types).
  class Mixed final : public RowSource {
   public:
    Mixed(const StoredRows& a, const StoredRows& b) : a_(a), b_(b) {}
    void Rows(int, int, float*) const override {}
    RowRun Run(int n) const override { return n < 8 ? a_.Run(n) : b_.Run(n - 8); }

   private:
    const StoredRows &a_, &b_;
  };
  StoredRows q8(RowFormat::kQ8_0, 8, 64, 2, false);
  EXPECT_EQ(InterleaveRows(Mixed(q41, q8), 16, 64).format, RowFormat::kOther);
  EXPECT_EQ(InterleavedForm(RowFormat::kF32), RowFormat::kOther);
  EXPECT_EQ(InterleavedForm(RowFormat::kQ8_0), RowFormat::kQ8_0x8);
}

// The interleaved entry applies only when B offers an interleaved form.
TEST(GemmRowsInterleaved, PlanChoice) {
  const KernelPlan avx2(kCpuAvx2 | kCpuFma | kCpuF16c), none(0),
      avx512(kCpuAvx2 | kCpuFma | kCpuF16c | kCpuAvx512F);
  GemvQuery q = MakeGemvQuery(*Arith::Parse("exact/fp32"), Accum::kFp32, 1);
  {
    // The interleaved kernels convert the block scales with F16C: without it, the tile GEMV.
    GemvQuery qi = q;
    qi.forms = RowFormatBit(RowFormat::kQ4_1x8);
    EXPECT_STREQ(KernelPlan(kCpuAvx2 | kCpuFma).ChooseGemv(qi).name, "gemv-exact-fp32");
    EXPECT_STREQ(KernelPlan(kCpuAvx2 | kCpuFma | kCpuAvx512F).ChooseGemv(qi).name,
                 "gemv-exact-fp32");
  }
  {
    GemvQuery q16 = q;
    q16.forms = RowFormatBit(RowFormat::kQ8_0x8);
    EXPECT_STREQ(avx512.ChooseGemv(q16).name, "gemv-exact-fp32-x16");
    EXPECT_EQ(avx512.ChooseGemv(q16).kind, GemvKind::kFusedInterleaved);
    q16.forms = RowFormatBit(RowFormat::kQ4_1);  // no interleaved form: the tile GEMV
    EXPECT_STREQ(avx512.ChooseGemv(q16).name, "gemv-exact-fp32");
  }
  EXPECT_STREQ(avx2.ChooseGemv(q).name, "gemv-exact-fp32");
  q.forms = RowFormatBit(RowFormat::kQ4_1x8);
  EXPECT_STREQ(avx2.ChooseGemv(q).name, "gemv-exact-fp32-x8");
  EXPECT_EQ(avx2.ChooseGemv(q).kind, GemvKind::kFusedInterleaved);
  q.rows = kGemvInterleavedMaxRows;  // branch batches too
  EXPECT_STREQ(avx2.ChooseGemv(q).name, "gemv-exact-fp32-x8");
  q.rows = kGemvInterleavedMaxRows + 1;  // past the fused GEMVs' range
  EXPECT_STREQ(avx2.ChooseGemv(q).name, "rows-packed-avx2");
  q.rows = 1;
  EXPECT_STREQ(none.ChooseGemv(q).name, "rows-packed");
  q.forms = RowFormatBit(RowFormat::kQ4_1);  // a row form is not an interleaved one
  EXPECT_STREQ(avx2.ChooseGemv(q).name, "gemv-exact-fp32");
  GemvQuery lm = MakeGemvQuery(*Arith::Parse("lmul/bf16"), Accum::kFp32, 1);
  lm.forms = RowFormatBit(RowFormat::kQ4_1x8);
  EXPECT_STREQ(avx2.ChooseGemv(lm).name, "gemv-lmul-fast");
  GemvQuery wide = MakeGemvQuery(*Arith::Parse("exact/bf16,wide"), Accum::kFp32, 1);
  wide.forms = RowFormatBit(RowFormat::kQ8_0x8);
  EXPECT_STREQ(avx2.ChooseGemv(wide).name, "gemv-exact-wide");
}

}  // namespace
}  // namespace lmul::kernels
