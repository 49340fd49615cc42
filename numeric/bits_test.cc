#include "numeric/bits.h"

#include <gtest/gtest.h>

#include "numeric/format.h"

namespace lmul {
namespace {

static_assert(FloatBits(1.0f) == 0x3F800000u && BitsFloat(0xC0000000u) == -2.0f);
static_assert(Bf16CodeRne(1.0f) == 0x3F80u && Bf16CodeFloat(0x3F80u) == 1.0f);

// RoundBf16 is the spec's Reduce(bf16, rne) (NaN: the quiet NaN with the sign), on a
// stride through every bit pattern plus the halfway and boundary patterns of each code.
TEST(Bits, RoundBf16IsReduceRne) {
  auto check = [](uint32_t u) {
    const float x = BitsFloat(u);
    ASSERT_EQ(FloatBits(RoundBf16(x)), FloatBits(Reduce(Format::Bf16(), x, Rounding::kRne)))
        << std::hex << u;
    ASSERT_EQ(Bf16CodeRne(x), FloatBits(RoundBf16(x)) >> 16) << std::hex << u;
  };
  for (uint64_t u = 0; u <= 0xFFFFFFFFu; u += 65521) check(static_cast<uint32_t>(u));
  for (uint32_t code = 0; code < 65536; ++code) {
    for (uint32_t low : {0x0000u, 0x0001u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) {
      check(code << 16 | low);
    }
  }
}

TEST(Bits, Bf16CodeFloatIsDecode) {
  for (uint32_t code = 0; code < 65536; ++code) {
    const float want = Decode(Format::Bf16(), code);
    const float got = Bf16CodeFloat(static_cast<uint16_t>(code));
    if (want != want) {
      EXPECT_NE(got, got) << code;  // NaN codes: a NaN (Decode canonicalises the payload)
    } else {
      EXPECT_EQ(FloatBits(got), FloatBits(want)) << code;
    }
  }
}

}  // namespace
}  // namespace lmul
