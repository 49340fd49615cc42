#include "engine/model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace lmul::engine {
namespace {

SamplingParams Plain(double temp) {
  SamplingParams p;
  p.temp = temp;
  p.top_k = 0;
  p.top_p = 1.0;
  p.min_p = 0.0;
  p.repeat_penalty = 1.0;
  p.seed = 1;
  return p;
}

// Logits whose softmax is `probs`.
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::map<int32_t, int> Histogram(Sampler& s, const std::vector<float>& logits, int draws) {
  std::map<int32_t, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.Sample(logits)];
  return h;
}

std::set<int32_t> Keys(const std::map<int32_t, int>& h) {
  std::set<int32_t> k;
  for (const auto& [t, c] : h) k.insert(t);
  return k;
}

int32_t Argmax(const std::vector<float>& v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

TEST(SamplerTest, DefaultsAreLlamaCpps) {
  const SamplingParams p;
  EXPECT_EQ(p.temp, 0.8);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_EQ(p.top_p, 0.95);
  EXPECT_EQ(p.min_p, 0.05);
  EXPECT_EQ(p.repeat_penalty, 1.0);
  EXPECT_EQ(p.repeat_last_n, 64);
  EXPECT_EQ(p.seed, 0xFFFFFFFFu);
}

TEST(SamplerTest, GreedyIsFirstArgmax) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 3.0f);
  SamplingParams p;  // llama.cpp's filters on: they never drop the maximum
  p.temp = 0;
  Sampler s(p);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> logits(1000);
    for (float& x : logits) x = d(rng);
    EXPECT_EQ(s.Sample(logits), Argmax(logits));
  }
  // Ties: the lowest index, as the pre-sampler loop.
  EXPECT_EQ(s.Sample(std::vector<float>{1, 5, 2, 5, 5}), 1);
  EXPECT_EQ(s.Sample(std::vector<float>{-3}), 0);
  // Negative temperature is greedy too.
  p.temp = -1;
  Sampler neg(p);
  EXPECT_EQ(neg.Sample(std::vector<float>{0, 1, 7, 2}), 2);
}

TEST(SamplerTest, TopKOneIsGreedy) {
  std::mt19937 rng(4);
  std::normal_distribution<float> d(0.0f, 1.0f);
  SamplingParams p = Plain(1.5);
  p.top_k = 1;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<float> logits(500);
    for (float& x : logits) x = d(rng);
    EXPECT_EQ(s.Sample(logits), Argmax(logits));
  }
}

TEST(SamplerTest, TopKKeepsTheKHighest) {
  SamplingParams p = Plain(100.0);  // nearly uniform over the survivors
  p.top_k = 3;
  Sampler s(p);
  const auto h = Histogram(s, {0.1f, 3.0f, -2.0f, 2.0f, 1.0f, 0.5f}, 3000);
  EXPECT_EQ(Keys(h), (std::set<int32_t>{1, 3, 4}));
}

TEST(SamplerTest, TopPKeepsTheShortestPrefixReachingP) {
  const auto logits = LogitsOf({0.15, 0.5, 0.05, 0.3});
  SamplingParams p = Plain(1.0);
  p.top_p = 0.75;  // 0.5 < 0.75 <= 0.5 + 0.3
  Sampler s(p);
  const auto h = Histogram(s, logits, 4000);
  EXPECT_EQ(Keys(h), (std::set<int32_t>{1, 3}));
  // Renormalised: 0.5 / 0.8 = 0.625.
  EXPECT_NEAR(h.at(1) / 4000.0, 0.625, 0.03);
  p.top_p = 0.85;  // needs the third (0.95)
  Sampler s2(p);
  EXPECT_EQ(Keys(Histogram(s2, logits, 4000)), (std::set<int32_t>{0, 1, 3}));
  p.top_p = 0.4;  // the top token alone
  Sampler s3(p);
  EXPECT_EQ(Keys(Histogram(s3, logits, 500)), (std::set<int32_t>{1}));
}

TEST(SamplerTest, MinPKeepsTokensAboveAFractionOfTheMax) {
  const auto logits = LogitsOf({0.15, 0.5, 0.05, 0.3});
  SamplingParams p = Plain(1.0);
  p.min_p = 0.2;  // probability >= 0.1
  Sampler s(p);
  EXPECT_EQ(Keys(Histogram(s, logits, 4000)), (std::set<int32_t>{0, 1, 3}));
  p.min_p = 0.5;  // >= 0.25
  Sampler s2(p);
  EXPECT_EQ(Keys(Histogram(s2, logits, 4000)), (std::set<int32_t>{1, 3}));
}

TEST(SamplerTest, TemperatureComesAfterTheFilters) {
  // At temp 1 top-p 0.85 keeps {0, 1}; a temperature applied first (flattening the
  // distribution) would keep all three. llama.cpp applies it last.
  const auto logits = LogitsOf({0.6, 0.3, 0.1});
  SamplingParams p = Plain(5.0);
  p.top_p = 0.85;
  Sampler s(p);
  EXPECT_EQ(Keys(Histogram(s, logits, 4000)), (std::set<int32_t>{0, 1}));
  // Temperature 0.5 squares the odds: 0.36 : 0.09 -> 0.8 for token 0.
  p.temp = 0.5;
  p.top_p = 1.0;
  Sampler s2(p);
  const auto h = Histogram(s2, LogitsOf({0.6, 0.3}), 5000);
  EXPECT_NEAR(h.at(0) / 5000.0, 0.8, 0.03);
}

TEST(SamplerTest, RepeatPenaltyAsLlamaCpp) {
  SamplingParams p = Plain(0.0);
  p.repeat_penalty = 1.3;
  {
    // Positive logit divided: 2.0 / 1.3 = 1.54 < 1.9.
    Sampler s(p);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, -1.0f}), 0);
    s.Accept(0);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, -1.0f}), 1);
  }
  {
    // Non-positive logit multiplied: -1.0 * 1.3 = -1.3 < -1.2.
    Sampler s(p);
    s.Accept(0);
    EXPECT_EQ(s.Sample(std::vector<float>{-1.0f, -1.2f}), 1);
    // Zero stays zero (0 * 1.3).
    EXPECT_EQ(s.Sample(std::vector<float>{0.0f, -1e-6f}), 0);
  }
  {
    // Once per distinct token, whatever its count: 2.0 / 1.3 = 1.54 > 1.5; applied three
    // times it would be 0.91.
    Sampler s(p);
    for (int i = 0; i < 3; ++i) s.Accept(0);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.5f}), 0);
  }
  {
    // Window of the last repeat_last_n accepted tokens.
    p.repeat_last_n = 2;
    Sampler s(p);
    s.Accept(0);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, 0, 0}), 1);
    s.Accept(2);
    s.Accept(3);  // 0 leaves the window
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, 0, 0}), 0);
    s.Accept(0);
    s.Accept(0);
    s.Accept(2);  // history {0, 2}: 0 still penalized
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f, 0, 0}), 1);
  }
  {
    // repeat_last_n 0 or penalty 1: off.
    p.repeat_last_n = 0;
    Sampler s(p);
    s.Accept(0);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f}), 0);
    SamplingParams q = Plain(0.0);
    Sampler t(q);
    t.Accept(0);
    EXPECT_EQ(t.Sample(std::vector<float>{2.0f, 1.9f}), 0);
  }
  {
    // Negative repeat_last_n: the whole history.
    p.repeat_last_n = -1;
    Sampler s(p);
    s.Accept(0);
    for (int i = 0; i < 1000; ++i) s.Accept(5);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f}), 1);
  }
  {
    // Penalties also reshape the distribution when sampling (before top-k).
    SamplingParams q = Plain(1.0);
    q.top_k = 1;
    q.repeat_penalty = 1.3;
    Sampler s(q);
    s.Accept(0);
    EXPECT_EQ(s.Sample(std::vector<float>{2.0f, 1.9f}), 1);
  }
}

TEST(SamplerTest, SeededDeterminism) {
  std::vector<float> logits(64, 0.0f);  // uniform: every draw depends on the stream
  SamplingParams p;                     // llama.cpp defaults, top-k 40
  p.seed = 42;
  Sampler a(p), b(p);
  std::vector<int32_t> sa, sb;
  for (int i = 0; i < 100; ++i) {
    sa.push_back(a.Sample(logits));
    sb.push_back(b.Sample(logits));
    a.Accept(sa.back());
    b.Accept(sb.back());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_EQ(a.seed(), 42u);
  p.seed = 43;
  Sampler c(p);
  std::vector<int32_t> sc;
  for (int i = 0; i < 100; ++i) sc.push_back(c.Sample(logits));
  EXPECT_NE(sa, sc);
  // Every draw stays within top-k 40 (ties broken by lower id: tokens 0..39).
  for (int32_t t : sa) EXPECT_LT(t, 40);
  // kRandomSeed draws a seed and reports it; that seed reproduces the run.
  p.seed = kRandomSeed;
  Sampler r(p);
  EXPECT_NE(r.seed(), kRandomSeed);
  SamplingParams q = p;
  q.seed = r.seed();
  Sampler r2(q);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(r.Sample(logits), r2.Sample(logits));
}

TEST(SamplerTest, ValidateNamesTheField) {
  SamplingParams p;
  EXPECT_TRUE(ValidateSamplingParams(p).ok());
  p.top_p = 1.5;
  EXPECT_NE(ValidateSamplingParams(p).error().find("top_p"), std::string::npos);
  p = SamplingParams{};
  p.min_p = -0.1;
  EXPECT_NE(ValidateSamplingParams(p).error().find("min_p"), std::string::npos);
  p = SamplingParams{};
  p.repeat_penalty = 0;
  EXPECT_NE(ValidateSamplingParams(p).error().find("repeat_penalty"), std::string::npos);
  p = SamplingParams{};
  p.temp = std::nan("");
  EXPECT_NE(ValidateSamplingParams(p).error().find("temp"), std::string::npos);
}

}  // namespace
}  // namespace lmul::engine
