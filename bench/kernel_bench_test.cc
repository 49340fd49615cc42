// bench::ParseCount: the --n sizes of `lmul bench elementwise` (16K as its help says).
#include "bench/kernel_bench.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace lmul::bench {
namespace {

TEST(ParseCount, DigitsAndBinarySuffixes) {
  constexpr size_t kMax = size_t{1} << 30;
  EXPECT_EQ(*ParseCount("1", kMax), 1u);
  EXPECT_EQ(*ParseCount("2048", kMax), 2048u);
  EXPECT_EQ(*ParseCount("2K", kMax), 2048u);
  EXPECT_EQ(*ParseCount("16K", kMax), 16384u);
  EXPECT_EQ(*ParseCount("256k", kMax), 262144u);
  EXPECT_EQ(*ParseCount("16M", kMax), size_t{1} << 24);
  EXPECT_EQ(*ParseCount("1G", kMax), kMax);
  EXPECT_EQ(*ParseCount("1073741824", kMax), kMax);
}

TEST(ParseCount, RejectsOutOfRangeAndMalformed) {
  constexpr size_t kMax = size_t{1} << 30;
  for (const char* bad : {"", "0", "0K", "K", "16KB", "16 K", "-1", "+5", "1.5K", "2G",
                          "1073741825", "1048577K", "99999999999999999999999999",
                          "18446744073709551615", "18014398509481984K", "0x10", "16Q"}) {
    auto r = ParseCount(bad, kMax);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' gave " << (r.ok() ? *r : 0);
    if (!r.ok()) {
      EXPECT_NE(r.error().find(std::string("'") + bad + "'"), std::string::npos);
      EXPECT_NE(r.error().find("1..1073741824"), std::string::npos);
    }
  }
  // The whole size_t range: no wrap-around at the top.
  const size_t all = SIZE_MAX;
  EXPECT_EQ(*ParseCount("18446744073709551615", all), all);
  EXPECT_FALSE(ParseCount("18446744073709551616", all).ok());
  EXPECT_FALSE(ParseCount("17179869184G", all).ok());  // 2^34 * 2^30 = 2^64
  EXPECT_EQ(*ParseCount("17179869183G", all), size_t{17179869183} << 30);
}

}  // namespace
}  // namespace lmul::bench
