#include "kernels/elementwise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "hwy/targets.h"
#include "kernels/arith_ops.h"
#include "kernels/plan.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"

namespace lmul::kernels {
namespace {

using testing::B;

const size_t kSizes[] = {0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 67, 127, 129, 255, 1023};

// Runs `body` once per Highway target this CPU supports (and the build
// generated), with dispatch forced to that target; reports targets skipped.
template <class Body>
void ForEachTarget(Body body) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  std::string ran;
  for (int64_t t : targets) {
    hwy::SetSupportedTargetsForTest(t);
    ASSERT_EQ(SimdTarget(), t) << hwy::TargetName(t);
    SCOPED_TRACE(hwy::TargetName(t));
    body();
    ran += std::string(" ") + hwy::TargetName(t);
  }
  hwy::SetSupportedTargetsForTest(0);
  std::string skipped;
  for (int64_t t : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SSE4}}) {
    if (std::find(targets.begin(), targets.end(), t) == targets.end()) {
      skipped += std::string(" ") + hwy::TargetName(t);
    }
  }
  std::printf("[   INFO   ] targets tested:%s; not supported here (skipped):%s\n", ran.c_str(),
              skipped.empty() ? " none" : skipped.c_str());
}

// MulElementwise bit for bit against the reference on the current target.
void ExpectSameAsReference(const Arith& arith, const std::vector<float>& a,
                           const std::vector<float>& b, const std::string& what) {
  const size_t n = a.size();
  std::vector<float> want(n), got(n);
  ReferenceMulElementwise(arith, a.data(), b.data(), want.data(), n);
  MulElementwise(arith, a.data(), b.data(), got.data(), n);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(B(got[i]), B(want[i]))
        << arith.Name() << " " << what << " a=0x" << std::hex << B(a[i]) << " b=0x" << B(b[i]);
  }
}

// Bit-exact against Arith::Mul for every arithmetic, on random inputs mixed
// with specials, at sizes hitting every vector tail; also with y aliasing a.
TEST(MulElementwise, BitExactAllArithsAllSizes) {
  ForEachTarget([] {
    for (const Arith& arith : testing::AllAriths()) {
      for (size_t n : kSizes) {
        const auto a = testing::RandomInputs(n, static_cast<uint32_t>(n) * 7 + 1);
        const auto b = testing::RandomInputs(n, static_cast<uint32_t>(n) * 7 + 2);
        std::vector<float> want(n), got(n + 1, 12345.0f);
        ReferenceMulElementwise(arith, a.data(), b.data(), want.data(), n);
        MulElementwise(arith, a.data(), b.data(), got.data(), n);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(B(got[i]), B(want[i])) << arith.Name() << " n=" << n << " i=" << i << " a=0x"
                                           << std::hex << B(a[i]) << " b=0x" << B(b[i]);
        }
        EXPECT_EQ(got[n], 12345.0f) << "wrote past the end, n=" << n;
        std::vector<float> alias = a;
        MulElementwise(arith, alias.data(), b.data(), alias.data(), n);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(B(alias[i]), B(want[i])) << arith.Name();
      }
    }
  });
}

// Inputs of moderate to large exponents only (no specials; a few lanes with
// zeros, subnormals or products that leave the range): whole vectors take the
// fast path, or are sent back to the general one by a single lane.
TEST(MulElementwise, FastPathAndBoundaries) {
  std::mt19937 rng(77);
  const size_t n = 4099;
  std::vector<float> a(n), b(n);
  for (int mode = 0; mode < 3; ++mode) {
    for (size_t i = 0; i < n; ++i) {
      for (float* v : {&a[i], &b[i]}) {
        const int range = mode == 0 ? 20 : 64;  // mode 1/2: products cross 2^+-127
        const uint32_t e =
            static_cast<uint32_t>(127 - range + static_cast<int>(rng() % (2 * range + 1)));
        *v = testing::F((rng() & 0x80000000u) | (e << 23) |
                        (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
        if (mode == 2 && rng() % 97 == 0) *v = (rng() % 2) ? 0.0f : testing::F(0x80000123u);
      }
    }
    ForEachTarget([&] {
      for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
        ExpectSameAsReference(arith, a, b, "mode " + std::to_string(mode));
      }
    });
  }
}

// Operands drawn around each format's own normal range (exponents from one
// below its smallest normal to one above its largest finite, full fp32
// mantissas so that rounding crosses both ends): for fp16/e5m2/e4m3 as for the
// exp8 formats, whole vectors take the fast path and single lanes send them back.
TEST(MulElementwise, FastPathInEachFormatsRange) {
  std::mt19937 rng(91);
  const size_t n = 2053;
  size_t fast_vectors_seen = 0;
  for (const Arith& arith : testing::AllAriths()) {
    if (arith.op == Op::kExact) continue;
    const Format& f = arith.format;
    const int lo = f.MinNormalExp() - 1, hi = f.MaxExp() - f.bias + 1;
    std::vector<float> a(n), b(n);
    for (int mode = 0; mode < 2; ++mode) {
      // mode 0: operands near 1 (products in range: fast vectors); mode 1: the whole range.
      const int elo = mode == 0 ? std::max(lo + 1, -3) : lo, ehi = mode == 0 ? 3 : hi;
      for (size_t i = 0; i < n; ++i) {
        for (float* v : {&a[i], &b[i]}) {
          const int e = elo + static_cast<int>(rng() % static_cast<uint32_t>(ehi - elo + 1));
          *v = testing::F((rng() & 0x80000000u) | (static_cast<uint32_t>(e + 127) << 23) |
                          (static_cast<uint32_t>(rng()) & 0x7FFFFFu));
        }
      }
      if (mode == 0) {  // count 16-lane vectors whose products are all in range
        for (size_t v = 0; v + 16 <= n; v += 16) {
          bool in = true;
          for (size_t i = v; i < v + 16; ++i) {
            const float p = arith.Mul(a[i], b[i]);
            in &= std::isfinite(p) && std::fabs(p) >= std::ldexp(1.0f, f.MinNormalExp());
          }
          fast_vectors_seen += in;
        }
      }
      ForEachTarget([&] { ExpectSameAsReference(arith, a, b, "mode " + std::to_string(mode)); });
    }
  }
  EXPECT_GT(fast_vectors_seen, 100u) << "the data never exercised whole in-range vectors";
}

// Every pair of special values, for every arithmetic.
TEST(MulElementwise, SpecialPairs) {
  const auto s = testing::SpecialValues();
  std::vector<float> a, b;
  for (float x : s) {
    for (float y : s) {
      a.push_back(x);
      b.push_back(y);
    }
  }
  ForEachTarget([&] {
    for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
      ExpectSameAsReference(arith, a, b, "specials");
    }
  });
}

// bf16 storage, exhaustive in a: every bf16 pattern (all signs, subnormals, Inf,
// NaNs) against a permutation of all patterns and against the special values,
// for arithmetics whose format fits bf16 (exact results) and others (rounded);
// plus sizes around the 1024-element chunks and y aliasing a.
TEST(MulElementwiseBf16, AllBf16ValuesBitExact) {
  std::vector<uint16_t> a(65536), b_perm(65536), b_special(65536);
  const auto specials = testing::SpecialValues();
  for (uint32_t i = 0; i < 65536; ++i) {
    a[i] = static_cast<uint16_t>(i);
    b_perm[i] =
        static_cast<uint16_t>((i * 40503u + 12345u) & 0xFFFFu);  // odd multiplier: a permutation
    b_special[i] = static_cast<uint16_t>(testing::B(specials[i % specials.size()]) >> 16);
  }
  const char* kSpecs[] = {"lmul/bf16", "mitchell/bf16", "exact/bf16", "lmul/e8m3", "lmul/e8m7",
                          "lmul/fp32", "exact/fp32",    "lmul/e4m3",  "lmul/fp16"};
  ForEachTarget([&] {
    for (const char* spec : kSpecs) {
      const Arith arith = *Arith::Parse(spec);
      for (const auto* b : {&b_perm, &b_special}) {
        std::vector<uint16_t> want(a.size()), got(a.size());
        ReferenceMulElementwiseBf16(arith, a.data(), b->data(), want.data(), a.size());
        MulElementwiseBf16(arith, a.data(), b->data(), got.data(), a.size());
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_EQ(got[i], want[i]) << spec << std::hex << " a=0x" << a[i] << " b=0x" << (*b)[i];
        }
      }
      for (size_t n : {size_t{1}, size_t{15}, size_t{1023}, size_t{1025}, size_t{3000}}) {
        std::vector<uint16_t> want(n), y(a.begin() + 100, a.begin() + 100 + n);
        ReferenceMulElementwiseBf16(arith, y.data(), b_perm.data(), want.data(), n);
        MulElementwiseBf16(arith, y.data(), b_perm.data(), y.data(), n);  // y aliases a
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], want[i]) << spec << " n=" << n;
      }
    }
  });
}

// For arithmetics whose format fits bf16 the fp32 product of bf16 operands is
// already a bf16 value: bf16 storage loses nothing (the rounding is a no-op).
TEST(MulElementwiseBf16, ExactWhenTheFormatFitsBf16) {
  std::vector<float> a(65536), b(65536), y(65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    a[i] = testing::F(i << 16);
    b[i] = testing::F(((i * 40503u + 12345u) & 0xFFFFu) << 16);
  }
  for (const char* spec : {"lmul/bf16", "mitchell/bf16", "exact/bf16", "lmul/e8m4"}) {
    MulElementwise(*Arith::Parse(spec), a.data(), b.data(), y.data(), y.size());
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_EQ(testing::B(y[i]) & 0xFFFFu, 0u) << spec << " i=" << i;
    }
  }
}


// ---- ReduceElementwise: x reduced to a format, against the spec's lmul::Reduce ----

// Every format of the spec (all e8mK) with both roundings.
std::vector<std::pair<Format, Rounding>> AllReductions() {
  std::vector<std::string> names = {"fp32", "bf16", "fp16", "e5m2", "e4m3"};
  for (int k = 1; k <= 23; ++k) names.push_back("e8m" + std::to_string(k));
  std::vector<std::pair<Format, Rounding>> out;
  for (const auto& n : names) {
    for (Rounding r : {Rounding::kRne, Rounding::kTrunc}) out.emplace_back(*Format::Parse(n), r);
  }
  return out;
}

std::string ReductionName(const Format& f, Rounding r) {
  return f.Name() + "," + RoundingName(r);
}

// ReduceElementwise on x (threads as given) equals lmul::Reduce bit for bit.
void ExpectReduceSameAsSpec(const Format& f, Rounding r, const std::vector<float>& x,
                            const std::vector<float>& want, int threads, const std::string& what) {
  std::vector<float> got(x.size() + 1, 12345.0f);
  ReduceElementwise(f, r, x.data(), got.data(), x.size(), threads);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(B(got[i]), B(want[i])) << ReductionName(f, r) << " " << what << " n=" << x.size()
                                     << " i=" << i << " x=0x" << std::hex << B(x[i]);
  }
  EXPECT_EQ(got[x.size()], 12345.0f) << "wrote past the end, n=" << x.size();
}

std::vector<float> SpecReduce(const Format& f, Rounding r, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = Reduce(f, x[i], r);
  return y;
}

// Random inputs mixed with specials at sizes hitting every vector tail, aliased output, and
// sizes that split over threads (odd sizes: parts end inside a vector).
TEST(ReduceElementwise, BitExactEveryFormatAllSizes) {
  for (const auto& [f, r] : AllReductions()) {
    std::vector<std::vector<float>> inputs, wants;
    for (size_t n : kSizes) {
      inputs.push_back(testing::RandomInputs(n, static_cast<uint32_t>(n) * 13 + 5));
      wants.push_back(SpecReduce(f, r, inputs.back()));
    }
    const auto big = testing::RandomInputs(200003, 77);
    const auto big_want = SpecReduce(f, r, big);
    ForEachTarget([&] {
      for (size_t j = 0; j < inputs.size(); ++j) {
        ExpectReduceSameAsSpec(f, r, inputs[j], wants[j], 1, "random");
        std::vector<float> alias = inputs[j];
        ReduceElementwise(f, r, alias.data(), alias.data(), alias.size());
        for (size_t i = 0; i < alias.size(); ++i) {
          ASSERT_EQ(B(alias[i]), B(wants[j][i])) << ReductionName(f, r) << " aliased i=" << i;
        }
      }
      for (int threads : {1, 2, 3, 0}) {
        ExpectReduceSameAsSpec(f, r, big, big_want, threads, "threads " + std::to_string(threads));
      }
    });
  }
}

// Inputs at every rounding decision: every bf16 pattern with the low half 0, 1, 0x7FFF,
// 0x8000, 0x8001, 0xFFFF; in every binade (both signs, exponent fields 0..255), for every
// position s of the format's last kept bit, the dropped bits just below, at and above half
// with the kept lsb even and odd; plus the mantissa extremes (Inf, NaN payloads).
std::vector<float> BoundaryInputs() {
  std::vector<float> v;
  for (uint32_t hi = 0; hi < 65536; ++hi) {
    for (uint32_t lo : {0x0u, 0x1u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) {
      v.push_back(testing::F(hi << 16 | lo));
    }
  }
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint32_t e = 0; e < 256; ++e) {
      const uint32_t base = sign | e << 23;
      for (uint32_t m : {0x0u, 0x1u, 0x2u, 0x3u, 0x400000u, 0x400001u, 0x7FFFFEu, 0x7FFFFFu}) {
        v.push_back(testing::F(base | m));
      }
      for (int s = 1; s <= 23; ++s) {
        const uint32_t half = 1u << (s - 1);
        for (uint32_t low : {half - 1, half, half + 1}) {
          for (uint32_t lsb : {0u, 1u}) {
            const uint32_t m = ((lsb << s) | low | (s < 22 ? 0x400000u : 0u)) & 0x7FFFFFu;
            v.push_back(testing::F(base | m));
            v.push_back(testing::F(base | (m & ((2u << s) - 1))));  // nothing above the lsb
          }
        }
      }
    }
  }
  for (float s : testing::SpecialValues()) v.push_back(s);
  return v;
}

TEST(ReduceElementwise, EveryRoundingBoundaryAndBf16Pattern) {
  const auto x = BoundaryInputs();
  for (const auto& [f, r] : AllReductions()) {
    const auto want = SpecReduce(f, r, x);
    ForEachTarget([&] { ExpectReduceSameAsSpec(f, r, x, want, 2, "boundaries"); });
  }
}

// 10^6 random bit patterns per reduction (every exponent, NaN payloads) on the dispatched
// target, split over the cores.
TEST(ReduceElementwise, RandomBitPatterns) {
  std::mt19937 rng(2024);
  std::vector<float> x(1'000'000);
  for (auto& v : x) v = testing::F(static_cast<uint32_t>(rng()));
  for (const auto& [f, r] : AllReductions()) {
    ExpectReduceSameAsSpec(f, r, x, SpecReduce(f, r, x), 0, "random bits");
  }
}

// All 2^32 fp32 patterns through ReduceElementwise (dispatched target, 2 threads) against
// lmul::Reduce, for the reductions of the fine-tuning presets and the fp8 formats. Long (about
// a minute per reduction on one core): runs when LMUL_REDUCE_EXHAUSTIVE=1, e.g.
//   LMUL_REDUCE_EXHAUSTIVE=1 build/release/kernels/lmul_kernels_tests --gtest_filter='*Exhaustive*'
TEST(ReduceElementwise, Exhaustive) {
  if (std::getenv("LMUL_REDUCE_EXHAUSTIVE") == nullptr) {
    GTEST_SKIP() << "all 2^32 inputs: set LMUL_REDUCE_EXHAUSTIVE=1 to run";
  }
  const char* env = std::getenv("LMUL_REDUCE_FORMATS");  // e.g. "e8m3,trunc;e4m3,rne"
  std::vector<std::pair<Format, Rounding>> cases;
  std::string list = env != nullptr ? env
                                    : "e8m3,trunc;bf16,trunc;bf16,rne;e4m3,rne;e5m2,rne;fp16,rne";
  for (size_t at = 0; at < list.size();) {
    size_t end = list.find(';', at);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(at, end - at);
    const size_t comma = item.find(',');
    ASSERT_NE(comma, std::string::npos) << item;
    cases.emplace_back(*Format::Parse(item.substr(0, comma)),
                       item.substr(comma + 1) == "rne" ? Rounding::kRne : Rounding::kTrunc);
    at = end + 1;
  }
  constexpr size_t kChunk = size_t{1} << 22;
  std::vector<float> x(kChunk), got(kChunk);
  for (const auto& [f, r] : cases) {
    for (uint64_t start = 0; start < (uint64_t{1} << 32); start += kChunk) {
      for (size_t i = 0; i < kChunk; ++i) x[i] = testing::F(static_cast<uint32_t>(start + i));
      ReduceElementwise(f, r, x.data(), got.data(), kChunk, 2);
      for (size_t i = 0; i < kChunk; ++i) {
        if (B(got[i]) != B(Reduce(f, x[i], r))) {
          FAIL() << ReductionName(f, r) << " x=0x" << std::hex << B(x[i]) << " got 0x" << B(got[i])
                 << " want 0x" << B(Reduce(f, x[i], r));
        }
      }
    }
    std::printf("[   INFO   ] %s: all 2^32 inputs bit-exact\n", ReductionName(f, r).c_str());
  }
}

}  // namespace
}  // namespace lmul::kernels
