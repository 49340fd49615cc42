// PairSampler (analysis/precision/capture.h): the sampled pairs are operands the
// engine really multiplied together, and the sample is uniform.
//
// * Synthetic GEMM / elementwise events: index -> (m, n, k) mapping, and the
//   inclusion frequency of every product over 4000 seeds (uniformity of Algorithm L,
//   early and late items alike).
// * A tiny synthetic Llama model (GgufBuilder, no download): with a reservoir large
//   enough for the whole population, the attn.qk pairs summed over d and pushed
//   through the softmax reproduce the attn.av p operands; each p row sums to 1; every
//   pair equals the operands the observer saw; prefill and split decode give the same
//   population; a subsample is spread over query rows in proportion to their products.
#include "analysis/precision/capture.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "engine/model/session.h"
#include "engine/model/testing/tiny_llama.h"

namespace lmul::precision {
namespace {

using engine::MatrixView;
using engine::Site;
using engine::SiteEvent;
using engine::SiteOp;

MatrixView RowMajor(const float* p, int rows, int cols) {
  return MatrixView{p, rows, cols, cols, 1};
}

TEST(PairSamplerTest, GemmEventMapsIndicesToOperands) {
  // A (3 x 4), B (4 x 5): 60 products, all kept.
  std::vector<float> a(12), b(20);
  for (int i = 0; i < 12; ++i) a[i] = static_cast<float>(i + 1);
  for (int i = 0; i < 20; ++i) b[i] = static_cast<float>(100 + i);
  PairSampler s(Site::kMlp, 1000, 1);
  s.OnSite(SiteEvent{Site::kMlp, SiteOp::kDown, 2, -1, 7, RowMajor(a.data(), 3, 4),
                     RowMajor(b.data(), 4, 5)});
  s.OnSite(SiteEvent{Site::kAttnQK, SiteOp::kQK, 0, 0, 0, RowMajor(a.data(), 3, 4),
                     RowMajor(b.data(), 4, 5)});  // another site: ignored
  ASSERT_EQ(s.products_seen(), 60u);
  ASSERT_EQ(s.size(), 60u);
  std::set<std::tuple<int, int, int>> seen;
  for (size_t i = 0; i < s.size(); ++i) {
    const PairOrigin& o = s.origins()[i];
    EXPECT_EQ(o.layer, 2);
    EXPECT_EQ(o.op, SiteOp::kDown);
    const int m = o.row - 7;
    ASSERT_TRUE(m >= 0 && m < 3 && o.col >= 0 && o.col < 5 && o.inner >= 0 && o.inner < 4);
    EXPECT_EQ(s.pairs()[2 * i], a[m * 4 + o.inner]);
    EXPECT_EQ(s.pairs()[2 * i + 1], b[o.inner * 5 + o.col]);
    seen.insert({m, o.col, o.inner});
  }
  EXPECT_EQ(seen.size(), 60u);  // each product once
}

TEST(PairSamplerTest, ElementwiseEvent) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {10, 20, 30, 40, 50, 60};
  PairSampler s(Site::kElementwise, 100, 3);
  s.OnSite(SiteEvent{Site::kElementwise, SiteOp::kSwiGlu, 0, -1, 0, RowMajor(a.data(), 2, 3),
                     RowMajor(b.data(), 2, 3)});
  ASSERT_EQ(s.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(s.pairs()[2 * i + 1], 10 * s.pairs()[2 * i]);
}

// Every product of a stream of 5 events (1000 products) is kept with probability
// capacity / total = 0.1: counts over 4000 seeds are Binomial(4000, 0.1), mean 400,
// sd 19. Two-sided bounds on every product's count and a chi-square over all 1000.
TEST(PairSamplerTest, InclusionIsUniformOverTheStream) {
  std::vector<float> a(40), b(50);  // A (8 x 5) . B (5 x 10) = 400 products; ids in values
  for (int i = 0; i < 40; ++i) a[i] = static_cast<float>(i);
  for (int i = 0; i < 50; ++i) b[i] = static_cast<float>(i);
  const int kSeeds = 4000, kCap = 100;
  std::map<std::tuple<int, int, int>, int> count;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    PairSampler s(Site::kLmHead, kCap, static_cast<uint64_t>(seed));
    // Events of 400, 200 (first 4 rows), 400: 1000 products; layer tags the event.
    s.OnSite(SiteEvent{Site::kLmHead, SiteOp::kLmHead, 0, -1, 0, RowMajor(a.data(), 8, 5),
                       RowMajor(b.data(), 5, 10)});
    s.OnSite(SiteEvent{Site::kLmHead, SiteOp::kLmHead, 1, -1, 0, RowMajor(a.data(), 4, 5),
                       RowMajor(b.data(), 5, 10)});
    s.OnSite(SiteEvent{Site::kLmHead, SiteOp::kLmHead, 2, -1, 0, RowMajor(a.data(), 8, 5),
                       RowMajor(b.data(), 5, 10)});
    ASSERT_EQ(s.products_seen(), 1000u);
    ASSERT_EQ(s.size(), static_cast<uint64_t>(kCap));
    std::set<std::tuple<int, int, int>> distinct;
    for (const PairOrigin& o : s.origins()) {
      const int id = (o.layer * 8 + o.row) * 50 + o.col * 5 + o.inner;
      distinct.insert({o.layer, o.row, o.col * 5 + o.inner});
      ++count[{id, 0, 0}];
    }
    ASSERT_EQ(distinct.size(), static_cast<size_t>(kCap)) << "a product sampled twice";
  }
  ASSERT_EQ(count.size(), 1000u) << "some product never sampled";
  const double p = static_cast<double>(kCap) / 1000, mean = kSeeds * p;
  const double sd = std::sqrt(kSeeds * p * (1 - p));
  double chi2 = 0, worst = 0;
  for (const auto& [id, c] : count) {
    chi2 += (c - mean) * (c - mean) / (mean * (1 - p));
    worst = std::max(worst, std::abs(c - mean) / sd);
  }
  std::printf("inclusion counts: chi2 = %.1f (999 dof), worst |z| = %.2f\n", chi2, worst);
  EXPECT_LT(worst, 5.0);
  // chi2 with 999 dof: mean 999, sd 44.7; two-sided 5 sd.
  EXPECT_GT(chi2, 999 - 5 * 44.7);
  EXPECT_LT(chi2, 999 + 5 * 44.7);
}

TEST(PairSamplerTest, SeedDeterminesTheSample) {
  std::vector<float> a(40), b(50);
  for (int i = 0; i < 40; ++i) a[i] = static_cast<float>(i);
  for (int i = 0; i < 50; ++i) b[i] = static_cast<float>(i);
  auto run = [&](uint64_t seed) {
    PairSampler s(Site::kMlp, 50, seed);
    for (int r = 0; r < 3; ++r) {
      s.OnSite(SiteEvent{Site::kMlp, SiteOp::kGateUp, r, -1, 0, RowMajor(a.data(), 8, 5),
                         RowMajor(b.data(), 5, 10)});
    }
    return s.origins();
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

// ---------------------------------------------------------------------------
// Tiny synthetic model (all F32).
using engine::testmodel::TinyLlama;
constexpr int kVocab = TinyLlama::kVocab, kLayers = TinyLlama::kLayers, kHeads = TinyLlama::kHeads,
              kHeadDim = TinyLlama::kHeadDim;

std::string WriteTinyModel() {
  engine::testmodel::TinyLlamaOptions o;
  o.seed = 11;
  o.weight_scale = 0.4f;
  const std::string path =
      engine::testmodel::PerProcessPath(::testing::TempDir(), "capture_tiny_llama");
  EXPECT_TRUE(engine::testmodel::WriteTinyLlama(o, path).ok());
  return path;
}

// Forwards several observers.
struct Fanout : engine::ActivationObserver {
  std::vector<engine::ActivationObserver*> to;
  void OnSite(const SiteEvent& e) override {
    for (auto* o : to) o->OnSite(e);
  }
};

// Copies every attention operand it sees: key (layer, head, op, abs row, col) -> value,
// for A and B in GEMM (row, col) coordinates (B rows indexed by absolute key position
// for V, by d for K^T).
struct Recorder : engine::ActivationObserver {
  std::map<std::tuple<int, int, int, int, int>, float> a, b;
  void OnSite(const SiteEvent& e) override {
    if (e.site != Site::kAttnQK && e.site != Site::kAttnAV) return;
    const int op = static_cast<int>(e.op);
    for (int r = 0; r < e.a.rows; ++r)
      for (int c = 0; c < e.a.cols; ++c) a[{e.layer, e.head, op, e.pos0 + r, c}] = e.a.at(r, c);
    for (int r = 0; r < e.b.rows; ++r)
      for (int c = 0; c < e.b.cols; ++c) b[{e.layer, e.head, op, r, c}] = e.b.at(r, c);
  }
};

class CaptureTinyModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = engine::Model::Load(WriteTinyModel());
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(*m).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  // Runs `tokens` in the given batch split with the observers attached.
  static void Run(const std::vector<int32_t>& tokens, const std::vector<int>& split,
                  engine::ActivationObserver* obs) {
    auto policy = engine::Policy::Parse("fp32");
    ASSERT_TRUE(policy.ok());
    engine::Session s(*model_, *policy, 64, 1);
    s.set_observer(obs);
    size_t at = 0;
    for (int len : split) {
      ASSERT_TRUE(s.Forward(std::span(tokens).subspan(at, len), nullptr).ok());
      at += len;
    }
  }
  static engine::Model* model_;
};
engine::Model* CaptureTinyModelTest::model_ = nullptr;

const std::vector<int32_t> kTokens = {3, 17, 42, 5, 63, 0, 29, 11, 8};

TEST_F(CaptureTinyModelTest, QkPairsReproduceTheSoftmaxOperandsOfAv) {
  const int n = static_cast<int>(kTokens.size());
  // Population: per layer and head, sum_t (t + 1) * head_dim products.
  const uint64_t expected = static_cast<uint64_t>(kLayers) * kHeads * kHeadDim * n * (n + 1) / 2;
  PairSampler qk(Site::kAttnQK, 1 << 20, 1), av(Site::kAttnAV, 1 << 20, 1);
  Recorder rec;
  Fanout fan;
  fan.to = {&qk, &av, &rec};
  Run(kTokens, {n}, &fan);
  ASSERT_EQ(qk.products_seen(), expected);
  ASSERT_EQ(av.products_seen(), expected);
  ASSERT_EQ(qk.size(), expected);  // the reservoir holds the whole population
  ASSERT_EQ(av.size(), expected);

  // Each pair is exactly (Q(t, d), K^T(d, j)) / (P(t, j), V(j, d)) as the site saw them,
  // only causal, each product once.
  std::set<std::tuple<int, int, int, int, int>> distinct;
  std::map<std::tuple<int, int, int, int>, double> score;  // (layer, head, t, j) -> q.k
  for (size_t i = 0; i < qk.size(); ++i) {
    const PairOrigin& o = qk.origins()[i];
    ASSERT_LE(o.col, o.row) << "masked product captured";
    const int op = static_cast<int>(SiteOp::kQK);
    EXPECT_EQ(qk.pairs()[2 * i], (rec.a.at({o.layer, o.head, op, o.row, o.inner})));
    EXPECT_EQ(qk.pairs()[2 * i + 1], (rec.b.at({o.layer, o.head, op, o.inner, o.col})));
    distinct.insert({o.layer, o.head, o.row, o.col, o.inner});
    score[{o.layer, o.head, o.row, o.col}] +=
        static_cast<double>(qk.pairs()[2 * i]) * qk.pairs()[2 * i + 1];
  }
  EXPECT_EQ(distinct.size(), expected);
  std::map<std::tuple<int, int, int, int>, float> p;         // (layer, head, t, j) -> P(t, j)
  std::map<std::tuple<int, int, int, int>, double> row_sum;  // (layer, head, t, d)
  for (size_t i = 0; i < av.size(); ++i) {
    const PairOrigin& o = av.origins()[i];
    ASSERT_LE(o.inner, o.row) << "masked product captured";
    const int op = static_cast<int>(SiteOp::kAV);
    EXPECT_EQ(av.pairs()[2 * i], (rec.a.at({o.layer, o.head, op, o.row, o.inner})));
    EXPECT_EQ(av.pairs()[2 * i + 1], (rec.b.at({o.layer, o.head, op, o.inner, o.col})));
    p[{o.layer, o.head, o.row, o.inner}] = av.pairs()[2 * i];
    row_sum[{o.layer, o.head, o.row, o.col}] += av.pairs()[2 * i];
  }
  for (const auto& [key, s] : row_sum) EXPECT_NEAR(s, 1.0, 1e-5);
  // softmax_j(score(t, j) / sqrt(head_dim)) from the qk pairs == the p the av site got.
  double worst = 0;
  for (int l = 0; l < kLayers; ++l)
    for (int h = 0; h < kHeads; ++h)
      for (int t = 0; t < n; ++t) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j <= t; ++j) mx = std::max(mx, score.at({l, h, t, j}));
        for (int j = 0; j <= t; ++j)
          sum += std::exp((score.at({l, h, t, j}) - mx) / std::sqrt(double{kHeadDim}));
        for (int j = 0; j <= t; ++j) {
          const double want =
              std::exp((score.at({l, h, t, j}) - mx) / std::sqrt(double{kHeadDim})) / sum;
          worst = std::max(worst, std::abs(want - p.at({l, h, t, j})));
        }
      }
  std::printf("max |softmax(qk pairs) - captured p| = %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(worst, 0.0);  // fp32 engine vs float64 recomputation: not the same numbers
}

TEST_F(CaptureTinyModelTest, SplitDecodeGivesTheSamePopulation) {
  const int n = static_cast<int>(kTokens.size());
  auto population = [&](const std::vector<int>& split) {
    PairSampler s(Site::kAttnQK, 1 << 20, 1);
    Run(kTokens, split, &s);
    std::vector<std::tuple<int, int, int, int, int, float, float>> v;
    for (size_t i = 0; i < s.size(); ++i) {
      const PairOrigin& o = s.origins()[i];
      v.emplace_back(o.layer, o.head, o.row, o.col, o.inner, s.pairs()[2 * i],
                     s.pairs()[2 * i + 1]);
    }
    std::sort(v.begin(), v.end());
    return v;
  };
  const auto once = population({n});
  EXPECT_EQ(once.size(), static_cast<size_t>(kLayers) * kHeads * kHeadDim * n * (n + 1) / 2);
  EXPECT_EQ(once, population({4, 1, 3, 1}));  // pos0 > 0 events, bit-identical operands
}

// A subsample of the real stream: sample size, no duplicates, values right, and the
// number drawn from each query row t proportional to its t + 1 visible keys (chi-square).
TEST_F(CaptureTinyModelTest, SubsampleIsSpreadOverRowsByTheirProducts) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 37 + 5) % kVocab);
  const int n = static_cast<int>(tokens.size());
  const uint64_t total = static_cast<uint64_t>(kLayers) * kHeads * kHeadDim * n * (n + 1) / 2;
  const uint64_t cap = 8000;  // of 52480
  PairSampler s(Site::kAttnAV, cap, 42);
  Recorder rec;
  Fanout fan;
  fan.to = {&s, &rec};
  Run(tokens, {n}, &fan);
  ASSERT_EQ(s.products_seen(), total);
  ASSERT_EQ(s.size(), cap);
  std::set<std::tuple<int, int, int, int, int>> distinct;
  std::vector<double> per_row(n, 0.0);
  for (size_t i = 0; i < s.size(); ++i) {
    const PairOrigin& o = s.origins()[i];
    const int op = static_cast<int>(SiteOp::kAV);
    ASSERT_EQ(s.pairs()[2 * i], (rec.a.at({o.layer, o.head, op, o.row, o.inner})));
    ASSERT_EQ(s.pairs()[2 * i + 1], (rec.b.at({o.layer, o.head, op, o.inner, o.col})));
    distinct.insert({o.layer, o.head, o.row, o.col, o.inner});
    per_row[o.row] += 1;
  }
  EXPECT_EQ(distinct.size(), cap);
  double chi2 = 0;
  for (int t = 0; t < n; ++t) {
    const double e = static_cast<double>(cap) * (t + 1) / (n * (n + 1) / 2.0);
    chi2 += (per_row[t] - e) * (per_row[t] - e) / e;
  }
  // 39 dof: mean 39, sd 8.8 (sampling without replacement makes it slightly smaller).
  std::printf("rows chi2 = %.1f (39 dof)\n", chi2);
  EXPECT_LT(chi2, 39 + 5 * 8.8);
  EXPECT_GT(chi2, 5.0);
}

TEST(SummarizePairs, MediansAndZeroOperands) {
  // (a, b) pairs: |a| = 3, 1, 2, 0 -> upper median 2; |b| = 5, 4, 0, 6 -> 5; zeros in 2 of 4.
  const std::vector<float> pairs = {-3, 5, 1, -4, 2, 0, 0, 6};
  const PairSummary s = SummarizePairs(pairs);
  EXPECT_EQ(s.median_abs_a, 2.0f);
  EXPECT_EQ(s.median_abs_b, 5.0f);
  EXPECT_DOUBLE_EQ(s.zero_operand_frac, 0.5);
  const PairSummary none = SummarizePairs({});
  EXPECT_EQ(none.median_abs_a, 0.0f);
  EXPECT_EQ(none.zero_operand_frac, 0.0);
}

// The tiny model has no tokenizer: refused with the model's path, before any data is read.
TEST(WikiTextCaptureText, NeedsATokenizer) {
  const std::string path = WriteTinyModel();
  auto m = engine::Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.error();
  auto t = WikiTextCaptureText(**m, "/nonexistent", 16, 8);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().find(path + ": no tokenizer metadata"), std::string::npos) << t.error();
}

}  // namespace
}  // namespace lmul::precision
