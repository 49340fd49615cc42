// `lmul capture` on the real default model (LMUL_MODEL, SmolLM2-135M-Instruct) and
// WikiText-2 ($LMUL_DATA): 64 tokens, a 20000-pair sample of attn.qk and attn.av.
// Skips when the model or the data are not there. About 2 s in Release.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <tuple>

#include "analysis/precision/capture.h"
#include "analysis/precision/npy.h"
#include "eval/data_dir.h"
#include "eval/wikitext.h"

namespace lmul::precision {
namespace {

class CaptureModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* path = std::getenv("LMUL_MODEL");
    if (path == nullptr || *path == '\0') return;
    auto m = engine::Model::Load(path);
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(*m).release();
    auto text = eval::ReadWikiText2Test(eval::DefaultDataDir());
    if (text.ok()) tokens_ = FirstTokens(*model_, *text, 64);
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) GTEST_SKIP() << "LMUL_MODEL not set (scripts/fetch_model.sh)";
    if (tokens_.empty()) GTEST_SKIP() << "WikiText-2 not found under " << eval::DefaultDataDir();
  }
  static engine::Model* model_;
  static std::vector<int32_t> tokens_;
};
engine::Model* CaptureModelTest::model_ = nullptr;
std::vector<int32_t> CaptureModelTest::tokens_;

TEST_F(CaptureModelTest, AttentionPairsFromWikiText) {
  ASSERT_EQ(tokens_.size(), 64u);
  const engine::ModelConfig& c = model_->config();
  // Two windows of 32 tokens: per window, layer and head sum_t (t + 1) * head_dim.
  const uint64_t expected = 2ull * c.n_layer * c.n_head * c.head_dim * (32 * 33 / 2);
  for (engine::Site site : {engine::Site::kAttnQK, engine::Site::kAttnAV}) {
    CaptureOptions o;
    o.site = site;
    o.pairs = 20000;
    o.seed = 3;
    o.ctx = 32;
    o.threads = 1;
    auto r = RunCapture(*model_, tokens_, o);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->products, expected) << engine::SiteName(site);
    ASSERT_EQ(r->pairs.size(), 2 * o.pairs);
    EXPECT_EQ(r->windows, 2);
    std::set<std::tuple<int, int, int, int, int, int>> distinct;
    std::set<int> layers;
    double p_max = 0;
    for (size_t i = 0; i < r->origins.size(); ++i) {
      const PairOrigin& q = r->origins[i];
      const float a = r->pairs[2 * i], b = r->pairs[2 * i + 1];
      ASSERT_TRUE(std::isfinite(a) && std::isfinite(b));
      distinct.insert({q.sequence, q.layer, q.head, q.row, q.col, q.inner});
      layers.insert(q.layer);
      if (site == engine::Site::kAttnAV) {
        ASSERT_GE(a, 0.0f);  // softmax probabilities
        ASSERT_LE(a, 1.0f);
        ASSERT_LE(q.inner, q.row);
        p_max = std::max(p_max, static_cast<double>(a));
      } else {
        ASSERT_LE(q.col, q.row);
      }
    }
    EXPECT_EQ(distinct.size(), o.pairs);
    EXPECT_EQ(static_cast<int>(layers.size()), c.n_layer);  // 20000 draws reach every layer
    if (site == engine::Site::kAttnAV) {
      EXPECT_GT(p_max, 0.5);  // attention sinks exist
    }
    // NPY round trip: the file `lmul error --dist activations:FILE` reads.
    const std::string path =
        ::testing::TempDir() + "/capture_model_test_" + std::to_string(getpid()) + ".npy";
    ASSERT_TRUE(WriteNpyPairs(path, r->pairs).ok());
    auto back = ReadNpyPairs(path);
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(*back, r->pairs);
    // Same seed, same sample; thread count does not matter.
    o.threads = 2;
    auto again = RunCapture(*model_, tokens_, o);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->pairs, r->pairs);
  }
}

}  // namespace
}  // namespace lmul::precision
