// Exhaustive checks against the value-domain oracle (numeric/testing/value_oracle.h):
// every e4m3 x e4m3 and e5m2 x e5m2 pair for every operation and reduction, and
// every bf16 value against a sampled set of partners.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "numeric/arith.h"
#include "numeric/testing/value_oracle.h"

namespace lmul {
namespace {

void CheckAllPairs(const Format& f, const Arith& a) {
  const uint32_t n = 1u << f.Width();
  std::vector<double> values(n);
  for (uint32_t c = 0; c < n; ++c) values[c] = oracle::Value(f, c);
  long checked = 0;
  for (uint32_t x = 0; x < n; ++x) {
    for (uint32_t y = 0; y < n; ++y) {
      const float got = Decode(a.OutputFormat(), a.MulCodes(x, y));
      const double want = oracle::MulValues(a, values[x], values[y]);
      ASSERT_TRUE(oracle::SameValue(want, got))
          << a.Name() << " codes " << x << " * " << y << " (" << values[x] << " * " << values[y]
          << "): got " << got << " want " << want;
      // The fp32-carrier entry point agrees with the code entry point.
      const float via_mul = a.Mul(Decode(f, x), Decode(f, y));
      ASSERT_TRUE(oracle::SameValue(want, via_mul)) << a.Name() << " Mul() " << x << " " << y;
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<long>(n) * n);
}

TEST(ArithExhaustiveTest, AllE4M3Pairs) {
  for (const char* spec : {"lmul/e4m3", "mitchell/e4m3", "exact/e4m3", "exact/e4m3,wide"}) {
    CheckAllPairs(Format::E4M3(), *Arith::Parse(spec));
  }
}

TEST(ArithExhaustiveTest, AllE5M2Pairs) {
  for (const char* spec : {"lmul/e5m2", "mitchell/e5m2", "exact/e5m2", "exact/e5m2,wide"}) {
    CheckAllPairs(Format::E5M2(), *Arith::Parse(spec));
  }
}

// All 65536 bf16 codes times 300 partners (specials plus random codes), every
// operation; also the fp16 codes the same way.
TEST(ArithExhaustiveTest, AllBf16AndFp16ValuesSampledPartners) {
  std::mt19937 rng(2024);
  for (const char* fmt : {"bf16", "fp16"}) {
    const Format f = *Format::Parse(fmt);
    std::vector<uint32_t> partners = {0,
                                      f.SignBit(),
                                      1,
                                      f.SignBit() | 1,
                                      1u << f.man_bits,
                                      f.MaxFiniteField(),
                                      f.InfField(),
                                      f.NanField(),
                                      Encode(f, 1.0f, Rounding::kRne),
                                      Encode(f, -1.5f, Rounding::kRne)};
    while (partners.size() < 300) partners.push_back(rng() & 0xFFFF);
    for (const char* op : {"lmul/", "mitchell/", "exact/"}) {
      for (const char* opt : {"", ",wide"}) {
        if (std::string(opt) == ",wide" && std::string(op) != "exact/") continue;
        const Arith a = *Arith::Parse(std::string(op) + fmt + opt);
        for (uint32_t x = 0; x < 65536; ++x) {
          const double vx = oracle::Value(f, x);
          for (uint32_t y : partners) {
            const float got = Decode(a.OutputFormat(), a.MulCodes(x, y));
            const double want = oracle::MulValues(a, vx, oracle::Value(f, y));
            ASSERT_TRUE(oracle::SameValue(want, got))
                << a.Name() << " codes 0x" << std::hex << x << " * 0x" << y << ": got " << got
                << " want " << want;
          }
        }
      }
    }
  }
}

// Random fp32 operands (wide exponent range) through the full Mul (reduction
// included) for fp32 and every e8mK, both reductions.
TEST(ArithExhaustiveTest, RandomFp32CarrierAllE8MK) {
  std::mt19937 rng(99);
  std::vector<std::string> specs;
  for (int k = 1; k <= 23; ++k) {
    for (const char* op : {"lmul", "mitchell", "exact"}) {
      specs.push_back(std::string(op) + "/e8m" + std::to_string(k));
      specs.push_back(std::string(op) + "/e8m" + std::to_string(k) +
                      (std::string(op) == "exact" ? ",trunc" : ",rne"));
    }
  }
  specs.push_back("lmul/fp32");
  specs.push_back("exact/fp32");
  for (const std::string& spec : specs) {
    const Arith a = *Arith::Parse(spec);
    for (int i = 0; i < 4000; ++i) {
      uint32_t bx = rng(), by = rng();
      if (i % 2) {  // exponents near 127 so most products are in range
        bx = (bx & 0x83FFFFFFu) | 0x3C000000u;
        by = (by & 0x83FFFFFFu) | 0x3C000000u;
      }
      const float x = BitsFloat(bx), y = BitsFloat(by);
      const float got = a.Mul(x, y);
      const double want = oracle::MulValues(a, oracle::Round(a.format, x, a.reduce),
                                            oracle::Round(a.format, y, a.reduce));
      ASSERT_TRUE(oracle::SameValue(want, got))
          << spec << " " << x << " * " << y << ": got " << got << " want " << want;
    }
  }
}

}  // namespace
}  // namespace lmul
