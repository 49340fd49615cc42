// Per-tensor power-of-two scaling (engine/model/scaling.h): the scale is a power of two,
// amax lands in (max/2, max] (the top binade unless its significand exceeds max's; every
// fp32 binade, subnormals included), zero and non-finite tensors, saturation, single
// rounding of the unscale.
#include "engine/model/scaling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace lmul::engine {
namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

TEST(ScalingTest, FormatConstants) {
  EXPECT_EQ(MaxFiniteExponent(Format::E4M3()), 8);
  EXPECT_EQ(MaxFiniteExponent(Format::E5M2()), 15);
  EXPECT_EQ(MaxFiniteExponent(Format::Fp16()), 15);
  EXPECT_EQ(MaxFiniteValue(Format::E4M3()), 448.0f);
  EXPECT_EQ(MaxFiniteValue(Format::E5M2()), 57344.0f);
  EXPECT_TRUE(ScalingSupported(*Arith::Parse("exact/e4m3,wide")));
  EXPECT_TRUE(ScalingSupported(*Arith::Parse("exact/e5m2,wide")));
  EXPECT_FALSE(ScalingSupported(*Arith::Parse("exact/e4m3")));  // product in e4m3
  EXPECT_FALSE(ScalingSupported(*Arith::Parse("exact/bf16,wide")));
  EXPECT_FALSE(ScalingSupported(*Arith::Parse("lmul/e4m3")));
}

// amax * 2^e in (max/2, max] for amax in every fp32 binade (normal and subnormal), with
// random significands: in the top binade [2^emax, 2^(emax+1)) unless amax's significand
// exceeds max's, then one binade lower. e is an integer, so the scale is a power of two
// by construction, and applying it is exact (checked against the double product).
TEST(ScalingTest, AmaxLandsInTopBinadeWithoutSaturating) {
  std::mt19937 rng(5);
  for (const Format& f : {Format::E4M3(), Format::E5M2(), Format::Fp16()}) {
    const int emax = MaxFiniteExponent(f);
    const double mx = MaxFiniteValue(f);
    int top = 0, lower = 0;
    for (int b = -149; b <= 127; ++b) {
      for (int trial = 0; trial < 16; ++trial) {
        uint32_t bits;
        if (b >= -126) {
          bits = (static_cast<uint32_t>(b + 127) << 23) | (rng() & 0x7FFFFF);
        } else {  // subnormal binade 2^b: mantissa bit (b + 149) is the leading one
          const uint32_t lead = 1u << (b + 149);
          bits = lead | (rng() & (lead - 1));
        }
        const float amax = BitsFloat(bits);
        ASSERT_EQ(std::ilogb(amax), b);
        const int e = ScaleExponent(f, amax);
        const double scaled = std::ldexp(static_cast<double>(amax), e);
        EXPECT_GT(scaled, mx / 2) << f.Name() << " amax " << amax;
        EXPECT_LE(scaled, mx) << f.Name() << " amax " << amax;
        const double significand = std::ldexp(static_cast<double>(amax), -b);  // [1, 2)
        const bool fits_top = std::ldexp(significand, emax) <= mx;
        EXPECT_EQ(e, fits_top ? emax - b : emax - b - 1) << f.Name() << " amax " << amax;
        (fits_top ? top : lower) += 1;
        // The scaled value is exact on the fp32 carrier and never saturated.
        EXPECT_EQ(static_cast<double>(ScaleSaturate(amax, e, MaxFiniteValue(f))), scaled);
        EXPECT_EQ(static_cast<double>(Pow2Mul(amax, e)), scaled);
      }
    }
    EXPECT_GT(top, 0);
    EXPECT_GT(lower, 0);  // both cases were exercised
  }
  // The boundary: e4m3's max significand 1.75 stays in the top binade, the next float not.
  const Format e4m3 = Format::E4M3();
  EXPECT_EQ(ScaleExponent(e4m3, 1.75f), 8);
  EXPECT_EQ(ScaleExponent(e4m3, std::nextafter(1.75f, 2.0f)), 7);
  EXPECT_EQ(ScaleExponent(e4m3, 448.0f), 0);
  EXPECT_EQ(ScaleExponent(e4m3, 449.0f), -1);
  EXPECT_EQ(ScaleExponent(e4m3, BitsFloat(1)), 8 + 149);  // smallest subnormal amax
  EXPECT_EQ(ScaleExponent(Format::E5M2(), 3.4e38f), 15 - 127 - 1);
}

TEST(ScalingTest, ZeroAndNonFiniteTensors) {
  const Format f = Format::E4M3();
  EXPECT_EQ(ScaleExponent(f, 0.0f), 0);
  EXPECT_EQ(ScaleExponent(f, kInf), 0);
  EXPECT_EQ(ScaleExponent(f, kNan), 0);
  const std::vector<float> zeros = {0.0f, -0.0f, 0.0f, 0.0f};
  ScaledTensor z = ScaleTensor(f, zeros.data(), 2, 2, 2);
  EXPECT_EQ(z.exp, 0);
  EXPECT_TRUE(std::signbit(z.data[1]));  // -0 kept
  // amax over finite values: Inf and NaN are not counted, and pass through unchanged.
  const std::vector<float> x = {0.5f, -kInf, kNan, -3.0f, kInf, 0.001f};
  EXPECT_EQ(FiniteAmax(x.data(), 2, 3, 3), 3.0f);
  ScaledTensor t = ScaleTensor(f, x.data(), 2, 3, 3);
  EXPECT_EQ(t.exp, 8 - 1);  // floor(log2 3) = 1
  EXPECT_EQ(t.data[0], 64.0f);
  EXPECT_EQ(t.data[1], -kInf);
  EXPECT_TRUE(std::isnan(t.data[2]));
  EXPECT_EQ(t.data[3], -384.0f);
  EXPECT_EQ(t.data[4], kInf);
  EXPECT_EQ(t.data[5], std::ldexp(0.001f, 7));
  // Only non-finite values: amax 0, scale 1.
  const std::vector<float> nf = {kNan, kInf};
  EXPECT_EQ(FiniteAmax(nf.data(), 1, 2, 2), 0.0f);
  EXPECT_EQ(ScaleTensor(f, nf.data(), 1, 2, 2).exp, 0);
}

TEST(ScalingTest, SaturationAndNoSaturationOfTheTensorsOwnValues) {
  // ScaleSaturate clamps finite values to +-max (an unsaturated rne cast of 500 would give
  // 512 = NaN in e4m3 "FN"; e5m2 gives Inf from 61440 on); Inf and NaN pass.
  EXPECT_EQ(ScaleSaturate(500.0f, 0, 448.0f), 448.0f);
  EXPECT_EQ(ScaleSaturate(-1e30f, 0, 448.0f), -448.0f);
  EXPECT_EQ(ScaleSaturate(0x1p120f, 10, 57344.0f), 57344.0f);  // 2^130 overflows to Inf first
  EXPECT_EQ(ScaleSaturate(-kInf, 3, 448.0f), -kInf);
  EXPECT_TRUE(std::isnan(ScaleSaturate(kNan, 3, 448.0f)));
  // A tensor's own values never reach the clamp: amax 500 -> e = -1.
  const std::vector<float> x = {500.0f, -511.0f, 300.0f, 1.0f};
  ScaledTensor t = ScaleTensor(Format::E4M3(), x.data(), 1, 4, 4);
  EXPECT_EQ(t.exp, -1);
  EXPECT_EQ(t.data[0], 250.0f);
  EXPECT_EQ(t.data[1], -255.5f);
  EXPECT_EQ(t.data[2], 150.0f);
  const std::vector<float> y = {1.99f, 1.0f};  // e5m2: 1.99 * 2^15 = 65208 > 57344
  ScaledTensor u = ScaleTensor(Format::E5M2(), y.data(), 1, 2, 2);
  EXPECT_EQ(u.exp, 14);
  EXPECT_EQ(u.data[0], std::ldexp(1.99f, 14));
  EXPECT_EQ(u.data[1], 16384.0f);
}

TEST(ScalingTest, StridedTensorAndUnscale) {
  // A 2 x 3 view with row stride 5 and column stride 2 of a 10-value buffer.
  std::vector<float> buf(10);
  for (int i = 0; i < 10; ++i) buf[i] = 0.01f * static_cast<float>(i + 1);
  buf[8] = 1000.0f;  // outside the view (elements 0, 2, 4, 5, 7, 9)
  ScaledTensor t = ScaleTensor(Format::E4M3(), buf.data(), 2, 3, 5, 2);
  EXPECT_EQ(FiniteAmax(buf.data(), 2, 3, 5, 2), buf[9]);
  EXPECT_EQ(t.exp, 8 - std::ilogb(buf[9]));
  EXPECT_EQ(t.data[4], Pow2Mul(buf[7], t.exp));  // element (1, 1)
  EXPECT_EQ(t.data[5], Pow2Mul(buf[9], t.exp));
  // Unscale: exact for normal results, one rne rounding into the subnormals, Inf on overflow.
  std::vector<float> c = {3.0f, 1.5f, BitsFloat(0x00C00001), 1e38f};
  UnscaleBlock(c.data(), 1, 2, 2, 3);
  EXPECT_EQ(c[0], 0.375f);
  EXPECT_EQ(c[1], 0.1875f);
  EXPECT_EQ(Pow2Mul(BitsFloat(0x00C00001), -1), BitsFloat(0x00600000));  // tie -> even
  EXPECT_EQ(Pow2Mul(BitsFloat(0x00C00003), -1), BitsFloat(0x00600002));  // tie -> even
  EXPECT_EQ(Pow2Mul(1e38f, 10), kInf);
  EXPECT_EQ(Pow2Mul(-1e38f, 10), -kInf);
  EXPECT_EQ(Pow2Mul(0x1p-140f, -20), 0.0f);
  EXPECT_EQ(Pow2Mul(0x1p-140f, 140), 1.0f);
}

// The array forms equal the scalar functions element for element (bit patterns; NaN
// payloads included) on every special value and on random values of every binade, for sizes
// that hit vector tails, in place and out of place.
TEST(ScalingTest, ArrayFormsEqualScalarFunctions) {
  std::vector<float> x = {0.0f, -0.0f, kInf, -kInf, kNan, -kNan, BitsFloat(0x7FA00001),
                          BitsFloat(0x00000001), BitsFloat(0x807FFFFF), 448.0f, -448.0f,
                          57344.0f, 65504.0f, 1e38f, -3.4e38f, 1.0f, -1.5f};
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  while (x.size() < 1000) x.push_back(BitsFloat(bits(rng)));
  auto same = [](float a, float b) { return FloatBits(a) == FloatBits(b); };
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{33}, x.size()}) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; ++i) amax = std::max(amax, FiniteAmax(x.data() + i, 1, 1, 1));
    EXPECT_TRUE(same(FiniteAmaxArray(x.data(), n), amax)) << n;
    for (int e : {-400, -150, -20, -1, 0, 1, 8, 30, 149, 400}) {
      std::vector<float> y(n), z(x.begin(), x.begin() + static_cast<ptrdiff_t>(n));
      ScaleSaturateArray(x.data(), y.data(), n, e, 448.0f);
      ScaleSaturateArray(z.data(), z.data(), n, e, 448.0f);  // in place
      for (size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(same(y[i], ScaleSaturate(x[i], e, 448.0f))) << i << " e " << e;
        ASSERT_TRUE(same(z[i], y[i])) << i;
      }
      Pow2MulArray(x.data(), y.data(), n, e);
      for (size_t i = 0; i < n; ++i) ASSERT_TRUE(same(y[i], Pow2Mul(x[i], e))) << i << " e " << e;
    }
  }
  const std::vector<float> nonfinite = {kNan, kInf, -kInf};
  EXPECT_EQ(FiniteAmaxArray(nonfinite.data(), nonfinite.size()), 0.0f);
}

// The point of scaling: small values (softmax probabilities) that unscaled e4m3 flushes to
// zero keep ~3 significant bits.
TEST(ScalingTest, SmallValuesSurviveTheCast) {
  const Arith a = *Arith::Parse("exact/e4m3,wide");
  const std::vector<float> p = {1e-4f, 3e-4f, 2e-5f, 7e-4f};
  const std::vector<float> v = {1.0f, 1.0f, 1.0f, 1.0f};
  ScaledTensor sp = ScaleTensor(a.format, p.data(), 1, 4, 4);
  ScaledTensor sv = ScaleTensor(a.format, v.data(), 1, 4, 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.Mul(p[i], v[i]), 0.0f) << "unscaled e4m3 keeps " << p[i];
    const float r = Pow2Mul(a.Mul(sp.data[i], sv.data[i]), -(sp.exp + sv.exp));
    EXPECT_NEAR(r, p[i], p[i] * 0x1p-4) << p[i];
  }
}

}  // namespace
}  // namespace lmul::engine
