#include "kernels/elementwise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

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

}  // namespace
}  // namespace lmul::kernels
