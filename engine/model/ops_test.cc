// engine/model/ops: the one implementation of each elementwise operation.
#include "engine/model/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/model/policy.h"

namespace lmul::engine::ops {
namespace {

ElementwiseContext Fp32() {
  static const Policy p = *Policy::Parse("fp32");
  return ElementwiseContext{&p.at(Site::kElementwise), nullptr, 0, 0};
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(OpsTest, RmsNormMatchesFormula) {
  const int rows = 3, width = 37;
  const std::vector<float> x = Random(rows * width, 1), g = Random(width, 2);
  std::vector<float> out(x.size());
  RmsNorm(Fp32(), rows, width, 1e-5f, x.data(), g, out.data());
  for (int i = 0; i < rows; ++i) {
    double ms = 0;
    for (int j = 0; j < width; ++j) ms += double(x[i * width + j]) * x[i * width + j];
    const double s = 1.0 / std::sqrt(ms / width + 1e-5);
    for (int j = 0; j < width; ++j) {
      EXPECT_NEAR(out[i * width + j], x[i * width + j] * s * g[j], 1e-5);
    }
  }
}

// Linear scaling by 2 and frequency factors of 2 both turn position 2p into position p:
// the fp32 angles are exactly half (doubling is exact), so the tables are bit-equal.
TEST(OpsTest, RopeTableScalingIsExactOnDoubledPositions) {
  const int rd = 16;
  RopeTable plain(10000.0f, rd, 1.0f, {}), linear(10000.0f, rd, 0.5f, {}),
      factors(10000.0f, rd, 1.0f, std::vector<float>(rd / 2, 2.0f));
  plain.Ensure(64);
  linear.Ensure(128);
  factors.Ensure(128);
  for (int p = 0; p < 64; ++p) {
    EXPECT_EQ(0, std::memcmp(plain.cos(p), linear.cos(2 * p), rd / 2 * sizeof(float))) << p;
    EXPECT_EQ(0, std::memcmp(plain.sin(p), linear.sin(2 * p), rd / 2 * sizeof(float))) << p;
    EXPECT_EQ(0, std::memcmp(plain.cos(p), factors.cos(2 * p), rd / 2 * sizeof(float))) << p;
  }
  // Mixed factors: pair i uses its own factor only.
  std::vector<float> ff(rd / 2, 1.0f);
  ff[3] = 8.0f;
  RopeTable mixed(10000.0f, rd, 1.0f, ff);
  mixed.Ensure(8);
  for (int i = 0; i < rd / 2; ++i) {
    if (i != 3) EXPECT_EQ(mixed.cos(5)[i], plain.cos(5)[i]);
  }
  EXPECT_NE(mixed.cos(5)[3], plain.cos(5)[3]);
}

// llama.cpp's converter permutes Wq/Wk rows of llama models (HF rotate_half layout ->
// adjacent pairs): NORMAL RoPE on the permuted head equals NEOX RoPE on the original head,
// permuted. Permutation per head: new[2i] = old[i], new[2i+1] = old[i + half].
TEST(OpsTest, NormalRopeOnPermutedHeadEqualsNeox) {
  const int hd = 16, heads = 3, n = 5, half = hd / 2;
  RopeTable table(10000.0f, hd, 1.0f, {});
  table.Ensure(40);
  const std::vector<int> pos = {0, 1, 7, 20, 39};
  std::vector<float> neox = Random(n * heads * hd, 3), normal(neox.size());
  for (int r = 0; r < n * heads; ++r) {
    for (int i = 0; i < half; ++i) {
      normal[r * hd + 2 * i] = neox[r * hd + i];
      normal[r * hd + 2 * i + 1] = neox[r * hd + i + half];
    }
  }
  Rope(Fp32(), RopeMode::kNeox, table, hd, hd, heads, n, pos, neox.data(), heads * hd);
  Rope(Fp32(), RopeMode::kNormal, table, hd, hd, heads, n, pos, normal.data(), heads * hd);
  for (int r = 0; r < n * heads; ++r) {
    for (int i = 0; i < half; ++i) {
      EXPECT_EQ(normal[r * hd + 2 * i], neox[r * hd + i]);
      EXPECT_EQ(normal[r * hd + 2 * i + 1], neox[r * hd + i + half]);
    }
  }
  // Position 0 is the identity; dimensions past rope_dim pass through.
  std::vector<float> x = Random(hd, 4), y = x;
  const std::vector<int> p0 = {0};
  Rope(Fp32(), RopeMode::kNormal, table, hd, hd, 1, 1, p0, y.data(), hd);
  EXPECT_EQ(x, y);
  RopeTable small(10000.0f, 8, 1.0f, {});
  small.Ensure(4);
  const std::vector<int> p3 = {3};
  y = x;
  Rope(Fp32(), RopeMode::kNeox, small, hd, 8, 1, 1, p3, y.data(), hd);
  for (int j = 8; j < hd; ++j) EXPECT_EQ(x[j], y[j]);
  EXPECT_NE(x[0], y[0]);
}

TEST(OpsTest, SoftCapAndBias) {
  EXPECT_EQ(SoftCap(3.5f, 0.0f), 3.5f);
  EXPECT_FLOAT_EQ(SoftCap(100.0f, 5.0f), 5.0f);
  EXPECT_FLOAT_EQ(SoftCap(1.0f, 5.0f), std::tanh(0.2f) * 5.0f);
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  AddBias(2, 2, std::vector<float>{10, 20}, x.data(), 3);  // columns 0..1 of rows of 3
  EXPECT_EQ(x, (std::vector<float>{11, 22, 3, 14, 25, 6}));
  AddBias(2, 2, {}, x.data(), 3);
  EXPECT_EQ(x, (std::vector<float>{11, 22, 3, 14, 25, 6}));
}

TEST(OpsTest, GatedActivation) {
  const std::vector<float> gu = {-1.0f, 0.5f, 2.0f, 3.0f};  // one row, d_ff 2: gate | up
  std::vector<float> gate(2), up(2);
  GatedActivation(Activation::kSilu, 1, 2, gu.data(), gate.data(), up.data());
  EXPECT_FLOAT_EQ(gate[0], -1.0f / (1.0f + std::exp(1.0f)));
  EXPECT_EQ(up, (std::vector<float>{2.0f, 3.0f}));
  GatedActivation(Activation::kGeluTanh, 1, 2, gu.data(), gate.data(), up.data());
  EXPECT_NEAR(gate[1], 0.5 * 0.5 * (1 + std::tanh(0.7978845608 * (0.5 + 0.044715 * 0.125))), 1e-6);
}

}  // namespace
}  // namespace lmul::engine::ops
