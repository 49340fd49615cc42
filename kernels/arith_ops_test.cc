#include "kernels/arith_ops.h"

#include <gtest/gtest.h>

#include <random>

#include "kernels/test_util.h"

namespace lmul::kernels {
namespace {

using testing::B;
using testing::F;

// The per-element fast path equals the spec on special values x special values
// and on random pairs, for every arithmetic (all e8mK included).
TEST(ArithOps, MulOneMatchesSpec) {
  const auto specials = testing::SpecialValues();
  const auto xs = testing::RandomInputs(4000, 1);
  const auto ys = testing::RandomInputs(4000, 2);
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    const internal::ArithConsts c = internal::MakeConsts(arith);
    long mismatches = 0;
    for (float x : specials) {
      for (float y : specials) {
        if (B(internal::MulOne(c, x, y)) != B(arith.Mul(x, y))) {
          if (++mismatches < 5) {
            ADD_FAILURE() << arith.Name() << " x=0x" << std::hex << B(x) << " y=0x" << B(y)
                          << " got 0x" << B(internal::MulOne(c, x, y)) << " want 0x"
                          << B(arith.Mul(x, y));
          }
        }
      }
    }
    for (size_t i = 0; i < xs.size(); ++i) {
      if (B(internal::MulOne(c, xs[i], ys[i])) != B(arith.Mul(xs[i], ys[i]))) {
        if (++mismatches < 5) {
          ADD_FAILURE() << arith.Name() << " x=0x" << std::hex << B(xs[i]) << " y=0x" << B(ys[i]);
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << arith.Name();
  }
}

// Operand reduction equals Reduce of the spec (NaN: the canonical quiet NaN, sign kept).
TEST(ArithOps, ReduceToCarrierMatchesSpec) {
  const auto xs = testing::RandomInputs(20000, 3);
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    const internal::ArithConsts c = internal::MakeConsts(arith);
    for (float x : xs) {
      ASSERT_EQ(internal::ReduceToCarrier(c, x), B(arith.Reduce(x)))
          << arith.Name() << " x=0x" << std::hex << B(x);
    }
  }
}

// RNE rounding of any float to any format equals lmul::Reduce(kRne); the bf16
// accumulator rounding equals Reduce(bf16, rne).
TEST(ArithOps, RoundRneMatchesSpec) {
  std::mt19937 rng(4);
  std::vector<float> xs = testing::RandomInputs(50000, 5);
  for (int i = 0; i < 50000; ++i) xs.push_back(F(static_cast<uint32_t>(rng())));
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    const internal::ArithConsts c = internal::MakeConsts(arith);
    for (float x : xs) {
      ASSERT_EQ(B(internal::RoundRneToFormat(c, x)), B(Reduce(arith.format, x, Rounding::kRne)))
          << arith.Name() << " x=0x" << std::hex << B(x);
    }
  }
  for (float x : xs) {
    ASSERT_EQ(B(RoundBf16(x)), B(Reduce(Format::Bf16(), x, Rounding::kRne))) << std::hex << B(x);
  }
}

}  // namespace
}  // namespace lmul::kernels

namespace lmul::kernels {
namespace {
// The carrier-form scalar L-Mul (used by the GEMM) equals the spec.
TEST(ArithOps, LMulCarrierAnyMatchesSpec) {
  const auto specials = testing::SpecialValues();
  auto xs = testing::RandomInputs(4000, 11);
  auto ys = testing::RandomInputs(4000, 12);
  for (float x : specials) {
    for (float y : specials) {
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  for (const Arith& arith : testing::AllAriths(/*all_e8m=*/true)) {
    if (arith.op == Op::kExact) continue;
    const internal::ArithConsts c = internal::MakeConsts(arith);
    for (size_t i = 0; i < xs.size(); ++i) {
      const uint32_t a = internal::ReduceToCarrier(c, xs[i]),
                     b = internal::ReduceToCarrier(c, ys[i]);
      ASSERT_EQ(B(arith.Reduce(xs[i])), a) << arith.Name();
      ASSERT_EQ(B(internal::LMulCarrierAny(c, a, b)), B(arith.Mul(xs[i], ys[i])))
          << arith.Name() << " x=0x" << std::hex << B(xs[i]) << " y=0x" << B(ys[i]);
    }
  }
}
}  // namespace
}  // namespace lmul::kernels
