// Generation (engine/model/generate.h) on the tiny synthetic Llama: the loop `lmul run`
// uses equals a hand-written greedy decode, stops where it must, and the -cnv prefix reuse.
#include "engine/model/generate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "engine/model/testing/tiny_llama.h"

namespace lmul::engine {
namespace {

TEST(ReusablePrefix, LongestCommonPrefixLeavingOneTokenToRun) {
  const std::vector<int32_t> all = {1, 2, 3, 4};
  EXPECT_EQ(ReusablePrefix({}, all), 0u);
  EXPECT_EQ(ReusablePrefix(std::vector<int32_t>{1, 2, 9}, all), 2u);
  EXPECT_EQ(ReusablePrefix(std::vector<int32_t>{5}, all), 0u);
  // The whole prompt cached (or more): one token still runs for the next logits.
  EXPECT_EQ(ReusablePrefix(std::vector<int32_t>{1, 2, 3, 4}, all), 3u);
  EXPECT_EQ(ReusablePrefix(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, all), 3u);
  EXPECT_EQ(ReusablePrefix(std::vector<int32_t>{7, 8}, std::vector<int32_t>{7}), 0u);
}

class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(testmodel::PerProcessPath(::testing::TempDir(), "generate_tiny"));
    ASSERT_TRUE(testmodel::WriteTinyLlama({}, *path_).ok());
    auto m = Model::Load(*path_);
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(*m).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    std::remove(path_->c_str());
    delete path_;
  }
  static SamplingParams Greedy() {
    SamplingParams p;
    p.temp = 0;
    p.seed = 1;
    return p;
  }
  static Model* model_;
  static std::string* path_;
};
Model* GenerateTest::model_ = nullptr;
std::string* GenerateTest::path_ = nullptr;

// Greedy: each token is the argmax of the logits after the previous one.
TEST_F(GenerateTest, GreedyEqualsHandWrittenDecode) {
  const std::vector<int32_t> prompt = {3, 14, 15, 9};
  const int n = 6;
  Session s(*model_, Policy{}, 64, 1);
  Sampler sampler(Greedy());
  std::vector<int32_t> got;
  GenerateStats st;
  ASSERT_TRUE(Generate(
                  s, sampler, prompt, n, [](int32_t) { return false; },
                  [&](int32_t t) { got.push_back(t); }, &st)
                  .ok());
  EXPECT_EQ(st.prompt_tokens, 4);
  EXPECT_EQ(st.generated, n);
  EXPECT_EQ(st.decoded, n - 1);
  EXPECT_EQ(s.pos(), 4 + n - 1);  // the last token is not run

  Session ref(*model_, Policy{}, 64, 1);
  std::vector<float> logits;
  ASSERT_TRUE(ref.ForwardLast(prompt, &logits).ok());
  std::vector<int32_t> want;
  for (int i = 0; i < n; ++i) {
    const int32_t t =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    want.push_back(t);
    ASSERT_TRUE(ref.Forward({&t, 1}, &logits).ok());
  }
  EXPECT_EQ(got, want);
}

TEST_F(GenerateTest, StopsAtEndTokenAtNAndAtTheCacheEnd) {
  const std::vector<int32_t> prompt = {1, 2};
  std::vector<int32_t> all;
  {
    Session s(*model_, Policy{}, 64, 1);
    Sampler sampler(Greedy());
    ASSERT_TRUE(Generate(
                    s, sampler, prompt, 5, [](int32_t) { return false; },
                    [&](int32_t t) { all.push_back(t); }, nullptr)
                    .ok());
    ASSERT_EQ(all.size(), 5u);
  }
  {  // The third token is an end token: two are handed on.
    Session s(*model_, Policy{}, 64, 1);
    Sampler sampler(Greedy());
    std::vector<int32_t> got;
    int seen = 0;
    ASSERT_TRUE(Generate(
                    s, sampler, prompt, 5, [&](int32_t) { return ++seen == 3; },
                    [&](int32_t t) { got.push_back(t); }, nullptr)
                    .ok());
    EXPECT_EQ(got, std::vector<int32_t>(all.begin(), all.begin() + 2));
  }
  {  // n = 0: the prompt runs, nothing is generated.
    Session s(*model_, Policy{}, 64, 1);
    Sampler sampler(Greedy());
    GenerateStats st;
    ASSERT_TRUE(Generate(
                    s, sampler, prompt, 0, [](int32_t) { return false; },
                    [](int32_t) { ADD_FAILURE() << "no token expected"; }, &st)
                    .ok());
    EXPECT_EQ(st.generated, 0);
    EXPECT_EQ(s.pos(), 2);
  }
  {  // A cache of 4 tokens: the prompt (2) + 2 decoded, then a third token from the last logits.
    Session s(*model_, Policy{}, 4, 1);
    Sampler sampler(Greedy());
    std::vector<int32_t> got;
    ASSERT_TRUE(Generate(
                    s, sampler, prompt, 10, [](int32_t) { return false; },
                    [&](int32_t t) { got.push_back(t); }, nullptr)
                    .ok());
    EXPECT_EQ(got, std::vector<int32_t>(all.begin(), all.begin() + 3));
    EXPECT_EQ(s.pos(), 4);
  }
}

TEST_F(GenerateTest, SessionErrorsComeBack) {
  Session s(*model_, Policy{}, 8, 1);
  Sampler sampler(Greedy());
  const std::vector<int32_t> bad = {1, 100000};  // outside the vocabulary
  EXPECT_FALSE(Generate(
                   s, sampler, bad, 3, [](int32_t) { return false; }, [](int32_t) {}, nullptr)
                   .ok());
}

}  // namespace
}  // namespace lmul::engine
