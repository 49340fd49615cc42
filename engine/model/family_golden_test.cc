// The model families beyond SmolLM2/Gemma 3 (Llama 3.x with llama3 RoPE scaling, Qwen2 with
// q/k/v biases, Gemma 2 with logit soft-capping and alternating sliding windows, Mistral with
// a sliding window): tiny random-weight models written from Hugging Face transformers by
// scripts/make_family_goldens.py (tests/testdata/engine/families/, provenance in README.md
// there and in each file's lmul.golden.* metadata). lmul's fp32 logits must match
// transformers' within 1e-3 at every golden row; every preset runs, prefill equals decode.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "engine/io/dequant.h"
#include "engine/io/gguf.h"
#include "engine/io/gguf_builder.h"
#include "engine/model/model.h"
#include "engine/model/session.h"
#include "engine/model/testing/tiny_llama.h"

namespace lmul::engine {
namespace {

const std::string kDir = LMUL_TESTDATA_DIR "/engine/families/";

struct Golden {
  std::vector<int32_t> tokens;
  std::vector<int> positions;
  std::vector<float> logits;  // (positions, n_vocab)
};

Golden LoadGolden(const std::string& family) {
  Golden g;
  auto f = GgufFile::Open(kDir + family + "_logits.gguf");
  EXPECT_TRUE(f.ok()) << f.error();
  if (!f.ok()) return g;
  auto toks = (*f)->GetIntArray("lmul.golden.tokens");
  auto pos = (*f)->GetIntArray("lmul.golden.positions");
  EXPECT_TRUE(toks.ok() && pos.ok());
  for (int64_t t : *toks) g.tokens.push_back(static_cast<int32_t>(t));
  for (int64_t p : *pos) g.positions.push_back(static_cast<int>(p));
  auto t = (*f)->GetTensor("logits");
  EXPECT_TRUE(t.ok()) << t.error();
  auto v = DequantizeTensor(**t);
  EXPECT_TRUE(v.ok()) << v.error();
  g.logits = std::move(*v);
  return g;
}

struct Expected {
  const char* family;
  const char* arch;
  RopeMode rope_mode;
  RopeScaling rope_scaling;
  Activation activation;
  bool qkv_bias, post_norms;
  int sliding_window;
  int sliding_layers;  // of n_layer
  float attn_softcap, final_softcap;
  float embed_scale;
};

void PrintTo(const Expected& e, std::ostream* os) { *os << e.family; }  // test names

const Expected kFamilies[] = {
    {"llama3", "llama", RopeMode::kNormal, RopeScaling::kFreqFactors, Activation::kSilu, false,
     false, 0, 0, 0.0f, 0.0f, 1.0f},
    {"qwen2", "qwen2", RopeMode::kNeox, RopeScaling::kNone, Activation::kSilu, true, false, 0, 0,
     0.0f, 0.0f, 1.0f},
    {"gemma2", "gemma2", RopeMode::kNeox, RopeScaling::kNone, Activation::kGeluTanh, false, true,
     32, 2, 5.0f, 3.0f, 8.0f},
    {"mistral", "llama", RopeMode::kNormal, RopeScaling::kNone, Activation::kSilu, false, false, 32,
     2, 0.0f, 0.0f, 1.0f},
};

class FamilyGoldenTest : public ::testing::TestWithParam<Expected> {
 protected:
  void SetUp() override {
    auto m = Model::Load(kDir + GetParam().family + ".gguf");
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(m).value();
    golden_ = LoadGolden(GetParam().family);
    ASSERT_FALSE(golden_.tokens.empty());
  }
  Policy P(const std::string& s) {
    auto p = Policy::Parse(s);
    EXPECT_TRUE(p.ok()) << p.error();
    return *p;
  }
  // Logits of every token of the golden sequence under `policy` (one prefill).
  std::vector<float> Run(const std::string& policy) {
    Session s(*model_, P(policy), 0, 1);
    std::vector<float> logits;
    EXPECT_TRUE(s.Forward(golden_.tokens, &logits).ok());
    return logits;
  }
  std::unique_ptr<Model> model_;
  Golden golden_;
};

TEST_P(FamilyGoldenTest, SettingsFromGguf) {
  const Expected& e = GetParam();
  const ModelConfig& c = model_->config();
  const ArchSettings& a = c.arch_settings;
  EXPECT_EQ(c.arch, e.arch);
  EXPECT_EQ(a.rope_mode, e.rope_mode);
  EXPECT_EQ(a.rope_scaling, e.rope_scaling);
  EXPECT_EQ(a.activation, e.activation);
  EXPECT_EQ(a.qkv_bias, e.qkv_bias);
  EXPECT_EQ(a.post_norms, e.post_norms);
  EXPECT_FALSE(a.qk_norm);
  EXPECT_EQ(c.sliding_window, e.sliding_window);
  int sliding = 0;
  for (int l = 0; l < c.n_layer; ++l) sliding += c.IsSlidingLayer(l);
  EXPECT_EQ(sliding, e.sliding_layers);
  if (std::string(e.family) == "gemma2") {  // layers 0, 2 slide; 1, 3 are global
    EXPECT_TRUE(c.IsSlidingLayer(0));
    EXPECT_FALSE(c.IsSlidingLayer(1));
  }
  EXPECT_EQ(a.attn_softcap, e.attn_softcap);
  EXPECT_EQ(a.final_softcap, e.final_softcap);
  EXPECT_EQ(a.embed_scale, e.embed_scale);
  EXPECT_EQ(model_->rope_freqs().size(),
            e.rope_scaling == RopeScaling::kFreqFactors ? size_t(c.rope_dim / 2) : 0u);
  std::printf("%s: %s\n", e.family, c.Summary().c_str());
}

TEST_P(FamilyGoldenTest, Fp32MatchesTransformers) {
  const int V = model_->config().n_vocab;
  const std::vector<float> logits = Run("fp32");
  ASSERT_EQ(logits.size(), golden_.tokens.size() * V);
  double max_diff = 0, range = 0;
  int argmax_agree = 0;
  for (size_t r = 0; r < golden_.positions.size(); ++r) {
    const float* got = logits.data() + static_cast<size_t>(golden_.positions[r]) * V;
    const float* want = golden_.logits.data() + r * V;
    for (int v = 0; v < V; ++v) {
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[v] - want[v])));
      range = std::max(range, static_cast<double>(std::fabs(want[v])));
    }
    argmax_agree += std::max_element(got, got + V) - got == std::max_element(want, want + V) - want;
  }
  std::printf(
      "%s fp32 vs transformers: max |dlogit| %.3g over %zu rows x %d (|logit| <= %.2f), "
      "argmax %d/%zu\n",
      GetParam().family, max_diff, golden_.positions.size(), V, range, argmax_agree,
      golden_.positions.size());
  EXPECT_LE(max_diff, 1e-3);
  EXPECT_GT(range, 1.0);  // the golden is not trivially small
  EXPECT_EQ(argmax_agree, static_cast<int>(golden_.positions.size()));
}

TEST_P(FamilyGoldenTest, EveryPresetRunsPrefillEqualsDecode) {
  const int V = model_->config().n_vocab;
  const std::vector<float> ref = Run("fp32");
  // The scaled presets are not here: decode need not equal the prefill under them
  // (docs/engine.md, "Scaled fp8"; model_test.cc ScaledPresetsDecode).
  for (const char* preset :
       {"fp32", "bf16", "fp8-e4m3-attn", "fp8-e5m2-attn", "lmul-attn", "lmul-attn-k3",
        "lmul-attn-k4", "lmul-all", "lmul-all-k3", "lmul-all-k4", "fp8-e4m3-all"}) {
    SCOPED_TRACE(preset);
    const std::vector<float> all = Run(preset);
    ASSERT_EQ(all.size(), ref.size());
    double max_diff = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      ASSERT_TRUE(std::isfinite(all[i]));
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(all[i] - ref[i])));
    }
    std::printf("%s %-14s max |dlogit| vs fp32 %.3g\n", GetParam().family, preset, max_diff);
    if (std::string(preset) == "fp32") {
      EXPECT_EQ(max_diff, 0.0);
    } else {
      EXPECT_GT(max_diff, 0.0);  // the preset's arithmetic is in effect
      // Every-site presets with 3-4 mantissa bits move qwen2's logits (up to 69 in this
      // file) by up to ~10 (lmul-all-k4: 9.68); attention-only ones stay below 8.
      const bool all_sites = std::string(preset).find("-all") != std::string::npos;
      EXPECT_LT(max_diff, all_sites ? 16.0 : 8.0);
    }
    // Token-by-token decode over the first 48 tokens (past the sliding window of 32)
    // equals the prefill bit for bit.
    Session s(*model_, P(preset), 0, 1);
    std::vector<float> step;
    for (int t = 0; t < 48; ++t) {
      ASSERT_TRUE(s.Forward({golden_.tokens.data() + t, 1}, &step).ok());
      ASSERT_EQ(
          0, std::memcmp(step.data(), all.data() + static_cast<size_t>(t) * V, V * sizeof(float)))
          << "position " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyGoldenTest, ::testing::ValuesIn(kFamilies),
                         [](const auto& info) { return std::string(info.param.family); });

// Unsupported metadata and tensors refuse the file with one line naming the key.
TEST(FamilyErrors, UnsupportedMetadataNamesTheKey) {
  struct Case {
    const char* what;
    void (*add)(GgufBuilder*);
    const char* expect;
  };
  const Case cases[] = {
      {"yarn", [](GgufBuilder* b) { b->AddString("llama.rope.scaling.type", "yarn"); },
       "'llama.rope.scaling.type': \"yarn\" is not supported"},
      {"linear without factor",
       [](GgufBuilder* b) { b->AddString("llama.rope.scaling.type", "linear"); },
       "'llama.rope.scaling.factor': missing"},
      {"negative softcap",
       [](GgufBuilder* b) { b->AddFloat32("llama.final_logit_softcapping", -1.0f); },
       "'llama.final_logit_softcapping': expected a finite value >= 0"},
      {"output bias",
       [](GgufBuilder* b) {
         b->AddTensorF32("blk.0.attn_output.bias", {32}, std::vector<float>(32, 0.1f));
       },
       "'blk.0.attn_output.bias' is not supported"},
      {"bias in layer 1 only",
       [](GgufBuilder* b) {
         b->AddTensorF32("blk.1.attn_q.bias", {32}, std::vector<float>(32, 0.1f));
       },
       "'blk.1.attn_q.bias' is not used by llama"},
      {"rope_freqs shape",
       [](GgufBuilder* b) {
         b->AddTensorF32("rope_freqs.weight", {3}, std::vector<float>(3, 1.0f));
       },
       "'rope_freqs.weight': expected shape"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    GgufBuilder b;
    testmodel::TinyLlamaOptions o;
    testmodel::AddTinyLlama(o, &b);
    c.add(&b);
    const std::string path = testmodel::PerProcessPath(::testing::TempDir(), "family_err");
    ASSERT_TRUE(b.WriteFile(path).ok());
    auto m = Model::Load(path);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().find(c.expect), std::string::npos) << m.error();
    EXPECT_EQ(m.error().find('\n'), std::string::npos) << m.error();
    std::remove(path.c_str());
  }
}

}  // namespace
}  // namespace lmul::engine
