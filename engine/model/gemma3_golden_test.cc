// Gemma 3 270M (gemma3 architecture; LMUL_GEMMA3 = scripts/fetch_gemma3.sh's path, skipped
// when unset) under the fp32 policy against tests/testdata/engine/gemma3_goldens.txt:
// scripts/engine_reference.py's Gemma3Reference, a NumPy float64 forward on PyPI
// gguf-dequantized weights written from llama.cpp's gemma3 graph (not from lmul's C++).
// Prompts are token ids (the forward is checked independently of the tokenizer), one of
// them 600 tokens long so the 512-token sliding window is crossed. Also the tokenizer's
// ids for one sentence (sentencepiece's).
// Asserted: last-position top-20 logits within kMaxAbsLogitError of ref, the full-vocab
// summary, per-position argmax identical, the 32-token greedy continuation identical;
// prefill == token-by-token decode bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"

namespace lmul::engine {
namespace {

// |fp32 engine logit - float64 reference logit| bound (measured values are printed).
// Measured 1.4e-5 .. 6.2e-5 (the 600-token prompt the largest).
constexpr double kMaxAbsLogitError = 2e-4;

struct Golden {
  std::vector<int32_t> prompt, argmax, greedy;
  std::vector<std::pair<int, double>> top;
  std::vector<double> summary;
};

std::map<std::string, Golden> LoadGoldens() {
  std::map<std::string, Golden> out;
  std::ifstream in(LMUL_TESTDATA_DIR "/engine/gemma3_goldens.txt");
  EXPECT_TRUE(in) << "missing gemma3_goldens.txt";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string kind, name;
    int count = 0;
    ss >> kind >> name;
    Golden& g = out[name];
    auto ids = [&](std::vector<int32_t>* v) {
      ss >> count;
      int x;
      while (ss >> x) v->push_back(x);
      EXPECT_EQ(static_cast<int>(v->size()), count) << line.substr(0, 80);
    };
    if (kind == "prompt") ids(&g.prompt);
    if (kind == "ref_argmax") ids(&g.argmax);
    if (kind == "ref_greedy") ids(&g.greedy);
    if (kind == "ref_top") {
      ss >> count;
      std::string item;
      while (ss >> item) {
        const size_t colon = item.find(':');
        g.top.emplace_back(std::stoi(item.substr(0, colon)), std::stod(item.substr(colon + 1)));
      }
    }
    if (kind == "ref_summary") {
      double x;
      while (ss >> x) g.summary.push_back(x);
    }
  }
  return out;
}

class Gemma3GoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* path = std::getenv("LMUL_GEMMA3");
    if (path == nullptr || *path == '\0') return;
    auto m = Model::Load(path);
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(*m).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) {
      GTEST_SKIP() << "LMUL_GEMMA3 not set (scripts/fetch_gemma3.sh prints the path)";
    }
  }
  static Model* model_;
};
Model* Gemma3GoldenTest::model_ = nullptr;

TEST_F(Gemma3GoldenTest, Config) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.arch_settings.activation, Activation::kGeluTanh);
  EXPECT_TRUE(c.arch_settings.qk_norm);
  EXPECT_TRUE(c.arch_settings.post_norms);
  EXPECT_EQ(c.arch_settings.rope_mode, RopeMode::kNeox);
  EXPECT_EQ(c.n_layer, 18);
  EXPECT_EQ(c.d_model, 640);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_kv_head, 1);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_EQ(c.n_vocab, 262144);
  int global = 0;
  for (int l = 0; l < c.n_layer; ++l) global += !c.IsSlidingLayer(l);
  EXPECT_EQ(global, 3);  // layers 5, 11, 17
  EXPECT_FALSE(c.IsSlidingLayer(5));
  EXPECT_EQ(c.RopeBase(5), 1e6f);
  EXPECT_EQ(c.RopeBase(0), 1e4f);
  // The SentencePiece tokenizer (engine/tokenizer/spm.h; ids from sentencepiece, see
  // tests/testdata/engine/gemma3_tokens.txt).
  ASSERT_TRUE(model_->has_tokenizer());
  EXPECT_EQ(model_->tokenizer().Encode("The capital of France is Paris.", true, false),
            (std::vector<int32_t>{2, 818, 5279, 529, 7001, 563, 9079, 236761}));
}

TEST_F(Gemma3GoldenTest, Fp32MatchesFloat64Reference) {
  const auto goldens = LoadGoldens();
  ASSERT_GE(goldens.size(), 4u);
  auto policy = Policy::Parse("fp32");
  ASSERT_TRUE(policy.ok());
  const int V = model_->config().n_vocab;
  for (const auto& [name, g] : goldens) {
    ASSERT_FALSE(g.prompt.empty()) << name;
    Session s(*model_, *policy, 1024, 0);
    std::vector<float> logits;
    ASSERT_TRUE(s.Forward(g.prompt, &logits).ok());
    const int n = static_cast<int>(g.prompt.size());
    const float* last = logits.data() + static_cast<size_t>(n - 1) * V;
    double worst = 0;
    for (const auto& [id, want] : g.top) worst = std::max(worst, std::abs(last[id] - want));
    double mean = 0, mx = -1e30, mn = 1e30;
    for (int i = 0; i < V; ++i) {
      mean += last[i];
      mx = std::max(mx, static_cast<double>(last[i]));
      mn = std::min(mn, static_cast<double>(last[i]));
    }
    mean /= V;
    std::printf("%-8s n=%3d  max |dlogit| top-20 = %.3g (range %.2f..%.2f)\n", name.c_str(), n,
                worst, mn, mx);
    EXPECT_LT(worst, kMaxAbsLogitError) << name;
    ASSERT_EQ(g.summary.size(), 4u);
    EXPECT_NEAR(mean, g.summary[0], 1e-3) << name;
    EXPECT_NEAR(mn, g.summary[2], kMaxAbsLogitError) << name;
    EXPECT_NEAR(mx, g.summary[3], kMaxAbsLogitError) << name;
    std::vector<int32_t> argmax(n);
    for (int t = 0; t < n; ++t) {
      const float* row = logits.data() + static_cast<size_t>(t) * V;
      argmax[t] = static_cast<int32_t>(std::max_element(row, row + V) - row);
    }
    EXPECT_EQ(argmax, g.argmax) << name;
    if (!g.greedy.empty()) {
      std::vector<int32_t> out;
      int32_t next = argmax.back();
      for (size_t k = 0; k < g.greedy.size(); ++k) {
        out.push_back(next);
        if (k + 1 == g.greedy.size()) break;
        std::vector<float> l1;
        ASSERT_TRUE(s.Forward(std::vector<int32_t>{next}, &l1).ok());
        next = static_cast<int32_t>(std::max_element(l1.begin(), l1.end()) - l1.begin());
      }
      EXPECT_EQ(out, g.greedy) << name;
    }
  }
}

TEST_F(Gemma3GoldenTest, PrefillEqualsDecodeAcrossTheWindow) {
  // 530 tokens: decode steps at positions >= 512 use the sliding-window mask.
  const auto goldens = LoadGoldens();
  ASSERT_TRUE(goldens.count("long"));
  std::vector<int32_t> toks(goldens.at("long").prompt.begin(),
                            goldens.at("long").prompt.begin() + 530);
  auto policy = Policy::Parse("fp32");
  ASSERT_TRUE(policy.ok());
  Session a(*model_, *policy, 1024, 0), b(*model_, *policy, 1024, 0);
  std::vector<float> la, lb;
  ASSERT_TRUE(a.Forward(toks, &la).ok());
  ASSERT_TRUE(b.Forward(std::span(toks).first(520), nullptr).ok());
  const int V = model_->config().n_vocab;
  for (int t = 520; t < 530; ++t) {
    ASSERT_TRUE(b.Forward(std::span(toks).subspan(t, 1), &lb).ok());
    EXPECT_TRUE(std::equal(lb.begin(), lb.end(), la.begin() + static_cast<ptrdiff_t>(t) * V))
        << "position " << t;
  }
}

TEST_F(Gemma3GoldenTest, ForwardBranchesAcrossTheWindow) {
  // Context of 500 tokens, then branches reaching positions 500..529: the sliding-window
  // mask of a branch row counts positions, not cache indices (the second branch's keys
  // sit at cache indices 510.. but positions 500..).
  const auto goldens = LoadGoldens();
  ASSERT_TRUE(goldens.count("long"));
  const std::vector<int32_t>& p = goldens.at("long").prompt;
  const std::vector<int32_t> ctx(p.begin(), p.begin() + 500);
  const std::vector<int32_t> b0(p.begin() + 500, p.begin() + 510);
  const std::vector<int32_t> b1(p.begin() + 500, p.begin() + 530);
  auto policy = Policy::Parse("lmul-attn");
  ASSERT_TRUE(policy.ok());
  Session a(*model_, *policy, 1024, 0), b(*model_, *policy, 1024, 0);
  ASSERT_TRUE(a.Forward(ctx, nullptr).ok());
  ASSERT_TRUE(b.Forward(ctx, nullptr).ok());
  std::vector<float> batched, seq;
  const std::vector<std::span<const int32_t>> spans = {b0, b1};
  ASSERT_TRUE(a.ForwardBranches(spans, &batched).ok());
  const size_t V = model_->config().n_vocab;
  size_t row = 0;
  for (const auto* br : {&b0, &b1}) {
    b.Rewind(500);
    ASSERT_TRUE(b.Forward(*br, &seq).ok());
    EXPECT_TRUE(std::equal(seq.begin(), seq.end(), batched.begin() + row * V))
        << "branch of " << br->size();
    row += br->size();
  }
}

}  // namespace
}  // namespace lmul::engine
