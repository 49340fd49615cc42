// The fp32 policy on the real default model (SmolLM2-135M-Instruct, LMUL_MODEL) against
// goldens from an independent implementation (tests/testdata/engine/README.md):
//   ref   = scripts/engine_reference.py, NumPy float64 on gguf-dequantized weights
//   llamaf32 = llama.cpp (llama-cpp-python) on an F32 copy of the dequantized weights
//           with an F32 KV cache: fp32 throughout, a second independent fp32 engine
//   llama = llama.cpp on the original Q4_1/Q8_0 file with default settings: its CPU
//           matmuls quantize activations to 8 bits (and its KV cache is f16), so it is
//           reported as a measured figure, not asserted close
// Asserted: top-k logits of the last position within kMaxAbsLogitError of ref and of
// llamaf32; the full-vocab summary; the per-position argmax; the 32-token greedy
// continuation identical to ref's and llamaf32's. Also: prefill == token-by-token
// decode, and 1 vs 2 threads, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/model/model.h"
#include "engine/model/session.h"

namespace lmul::engine {
namespace {

// Bound on |fp32 engine logit - float64 reference logit|, chosen from the measured
// error (see the printed values; docs/engine.md): fp32 rounding through 30 layers.
constexpr double kMaxAbsLogitError = 2e-4;

struct Golden {
  std::vector<int32_t> prompt;
  std::vector<std::pair<int, double>> ref_top, llama_top, f32_top;
  std::vector<double> ref_summary, llama_summary, f32_summary;
  std::vector<int32_t> ref_argmax, llama_argmax, f32_argmax, ref_greedy, llama_greedy, f32_greedy;
};

std::map<std::string, Golden> LoadGoldens() {
  std::map<std::string, Golden> out;
  std::ifstream in(LMUL_TESTDATA_DIR "/engine/smollm2_goldens.txt");
  EXPECT_TRUE(in) << "missing smollm2_goldens.txt";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string kind, name;
    ss >> kind >> name;
    Golden& g = out[name];
    auto ids = [&](std::vector<int32_t>* v, bool counted) {
      int n = -1;
      if (counted) ss >> n;
      int x;
      while (ss >> x) v->push_back(x);
      if (counted) {
        EXPECT_EQ(static_cast<int>(v->size()), n) << line;
      }
    };
    auto tops = [&](std::vector<std::pair<int, double>>* v) {
      int k;
      ss >> k;
      std::string item;
      while (ss >> item) {
        const size_t colon = item.find(':');
        v->emplace_back(std::stoi(item.substr(0, colon)), std::stod(item.substr(colon + 1)));
      }
    };
    auto nums = [&](std::vector<double>* v) {
      double x;
      while (ss >> x) v->push_back(x);
    };
    if (kind == "prompt") ids(&g.prompt, true);
    if (kind == "ref_top") tops(&g.ref_top);
    if (kind == "llama_top") tops(&g.llama_top);
    if (kind == "ref_summary") nums(&g.ref_summary);
    if (kind == "llama_summary") nums(&g.llama_summary);
    if (kind == "ref_argmax") ids(&g.ref_argmax, false);
    if (kind == "llama_argmax") ids(&g.llama_argmax, false);
    if (kind == "ref_greedy") ids(&g.ref_greedy, true);
    if (kind == "llama_greedy") ids(&g.llama_greedy, true);
    if (kind == "llamaf32_top") tops(&g.f32_top);
    if (kind == "llamaf32_summary") nums(&g.f32_summary);
    if (kind == "llamaf32_argmax") ids(&g.f32_argmax, false);
    if (kind == "llamaf32_greedy") ids(&g.f32_greedy, true);
  }
  return out;
}

class ModelGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* path = std::getenv("LMUL_MODEL");
    if (path == nullptr || *path == '\0') return;
    auto m = Model::Load(path);
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(m).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    const char* path = std::getenv("LMUL_MODEL");
    if (path == nullptr || *path == '\0') {
      GTEST_SKIP() << "LMUL_MODEL not set (scripts/fetch_model.sh prints the model path)";
    }
    ASSERT_NE(model_, nullptr);
  }
  static Model* model_;
};
Model* ModelGoldenTest::model_ = nullptr;

int Argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

TEST_F(ModelGoldenTest, Fp32LogitsMatchNumpyReference) {
  const auto goldens = LoadGoldens();
  ASSERT_FALSE(goldens.empty());
  const int V = model_->config().n_vocab;
  auto policy = Policy::Parse("fp32");
  ASSERT_TRUE(policy.ok());
  double worst = 0, worst_llama = 0, worst_f32 = 0;
  for (const auto& [name, g] : goldens) {
    Session s(*model_, *policy, 512, 2);
    std::vector<float> logits;
    ASSERT_TRUE(s.Forward(g.prompt, &logits).ok());
    const int n = static_cast<int>(g.prompt.size());
    const float* last = logits.data() + static_cast<size_t>(n - 1) * V;
    double max_err = 0, max_err_llama = 0, max_err_f32 = 0;
    for (const auto& [id, want] : g.ref_top) max_err = std::max(max_err, std::abs(last[id] - want));
    ASSERT_EQ(g.f32_top.size(), g.ref_top.size()) << name;
    for (const auto& [id, want] : g.f32_top) {
      max_err_f32 = std::max(max_err_f32, std::abs(last[id] - want));
    }
    for (const auto& [id, want] : g.llama_top) {
      max_err_llama = std::max(max_err_llama, std::abs(last[id] - want));
    }
    // Full-vocab summary of the last position.
    double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < V; ++i) {
      sum += last[i];
      mn = std::min<double>(mn, last[i]);
      mx = std::max<double>(mx, last[i]);
    }
    const double mean = sum / V;
    for (int i = 0; i < V; ++i) sq += (last[i] - mean) * (last[i] - mean);
    const double sd = std::sqrt(sq / V);
    ASSERT_EQ(g.ref_summary.size(), 4u);
    EXPECT_NEAR(mean, g.ref_summary[0], kMaxAbsLogitError) << name;
    EXPECT_NEAR(sd, g.ref_summary[1], kMaxAbsLogitError) << name;
    EXPECT_NEAR(mn, g.ref_summary[2], kMaxAbsLogitError) << name;
    EXPECT_NEAR(mx, g.ref_summary[3], kMaxAbsLogitError) << name;
    // Argmax at every position.
    int argmax_agree = 0, argmax_agree_llama = 0;
    for (int t = 0; t < n; ++t) {
      const int a = Argmax(logits.data() + static_cast<size_t>(t) * V, V);
      EXPECT_EQ(a, g.ref_argmax[t]) << name << " position " << t;
      argmax_agree += a == g.ref_argmax[t];
      argmax_agree_llama += a == g.llama_argmax[t];
    }
    for (int t = 0; t < n; ++t) {
      EXPECT_EQ(Argmax(logits.data() + static_cast<size_t>(t) * V, V), g.f32_argmax[t]) << name;
    }
    std::printf(
        "%-8s n=%2d  max|dlogit| (top-%zu, last position): vs numpy-f64 %.3g, vs llama.cpp-f32 "
        "%.3g, vs llama.cpp-q %.3g (logit range %.1f); argmax agree: numpy %d/%d llama.cpp-q "
        "%d/%d\n",
        name.c_str(), n, g.ref_top.size(), max_err, max_err_f32, max_err_llama, mx - mn,
        argmax_agree, n, argmax_agree_llama, n);
    EXPECT_LE(max_err, kMaxAbsLogitError) << name;
    EXPECT_LE(max_err_f32, kMaxAbsLogitError) << name;
    worst = std::max(worst, max_err);
    worst_f32 = std::max(worst_f32, max_err_f32);
    worst_llama = std::max(worst_llama, max_err_llama);
  }
  std::printf(
      "fp32 max |dlogit|: vs numpy float64 %.3g, vs llama.cpp F32 %.3g (bound %.1g); vs "
      "llama.cpp on the quantized file %.3g\n",
      worst, worst_f32, kMaxAbsLogitError, worst_llama);
}

TEST_F(ModelGoldenTest, Fp32GreedyContinuationMatchesNumpyReference) {
  const auto goldens = LoadGoldens();
  const int V = model_->config().n_vocab;
  auto policy = Policy::Parse("fp32");
  ASSERT_TRUE(policy.ok());
  for (const auto& [name, g] : goldens) {
    Session s(*model_, *policy, 512, 2);
    std::vector<float> logits;
    ASSERT_TRUE(s.Forward(g.prompt, &logits).ok());
    std::vector<int32_t> out;
    int next = Argmax(logits.data() + (logits.size() - V), V);
    for (size_t i = 0; i < g.ref_greedy.size(); ++i) {
      out.push_back(next);
      if (i + 1 == g.ref_greedy.size()) break;
      const int32_t tok = next;
      ASSERT_TRUE(s.Forward({&tok, 1}, &logits).ok());
      next = Argmax(logits.data(), V);
    }
    int agree_llama = 0;
    while (agree_llama < static_cast<int>(out.size()) &&
           out[agree_llama] == g.llama_greedy[agree_llama]) {
      ++agree_llama;
    }
    std::printf(
        "%-8s greedy %zu tokens: identical to numpy-f64: %s, to llama.cpp-f32: %s; common prefix "
        "with llama.cpp-q: %d\n",
        name.c_str(), out.size(), out == g.ref_greedy ? "yes" : "NO",
        out == g.f32_greedy ? "yes" : "NO", agree_llama);
    EXPECT_EQ(out, g.ref_greedy) << name;
    EXPECT_EQ(out, g.f32_greedy) << name;
  }
}

TEST_F(ModelGoldenTest, PrefillEqualsDecodeAndThreadCountInvariant) {
  const auto goldens = LoadGoldens();
  const Golden& g = goldens.at("capital");
  const int V = model_->config().n_vocab;
  for (const char* preset : {"fp32", "lmul-attn", "bf16"}) {
    auto policy = Policy::Parse(preset);
    ASSERT_TRUE(policy.ok());
    Session batch(*model_, *policy, 64, 1);
    std::vector<float> all;
    ASSERT_TRUE(batch.Forward(g.prompt, &all).ok());
    Session step(*model_, *policy, 64, 2);
    std::vector<float> one;
    for (size_t t = 0; t < g.prompt.size(); ++t) {
      ASSERT_TRUE(step.Forward({&g.prompt[t], 1}, &one).ok());
      ASSERT_EQ(0, std::memcmp(one.data(), all.data() + t * V, V * sizeof(float)))
          << preset << ": decode logits differ from prefill at position " << t;
    }
    EXPECT_EQ(step.pos(), static_cast<int>(g.prompt.size()));
    // Rewind and re-run the last token: same logits.
    step.Rewind(step.pos() - 1);
    ASSERT_TRUE(step.Forward({&g.prompt.back(), 1}, &one).ok());
    EXPECT_EQ(0,
              std::memcmp(one.data(), all.data() + (g.prompt.size() - 1) * V, V * sizeof(float)));
  }
}

// Scaled presets: decode need not equal the prefill (per-tensor scales of the batch's
// tensors; docs/engine.md, "Scaled fp8"). Measured: how far token-by-token decode is from
// the prefill, against how far the preset's prefill is from fp32; asserted: less.
TEST_F(ModelGoldenTest, ScaledPresetsDecodeCloseToPrefill) {
  const auto goldens = LoadGoldens();
  const int V = model_->config().n_vocab;
  for (const char* preset :
       {"fp8-e4m3-attn-scaled", "fp8-e5m2-attn-scaled", "fp8-e4m3-all-scaled"}) {
    const Policy policy = *Policy::Parse(preset);
    double decode_d = 0, fp32_d = 0;
    int agree = 0, total = 0;
    for (const auto& [name, g] : goldens) {
      Session batch(*model_, policy, 64, 2), ref(*model_, *Policy::Parse("fp32"), 64, 2);
      std::vector<float> all, f, one;
      ASSERT_TRUE(batch.Forward(g.prompt, &all).ok());
      ASSERT_TRUE(ref.Forward(g.prompt, &f).ok());
      for (size_t i = 0; i < all.size(); ++i) {
        fp32_d = std::max(fp32_d, static_cast<double>(std::abs(all[i] - f[i])));
      }
      Session step(*model_, policy, 64, 1);
      for (size_t t = 0; t < g.prompt.size(); ++t) {
        ASSERT_TRUE(step.Forward({&g.prompt[t], 1}, &one).ok());
        for (int v = 0; v < V; ++v) {
          ASSERT_TRUE(std::isfinite(one[v]));
          decode_d = std::max(decode_d, static_cast<double>(std::abs(one[v] - all[t * V + v])));
        }
        agree += Argmax(one.data(), V) == Argmax(&all[t * V], V);
        ++total;
      }
    }
    std::printf("%-22s decode vs prefill: max |dlogit| %.3g, argmax %d/%d; prefill vs fp32 %.3g\n",
                preset, decode_d, agree, total, fp32_d);
    EXPECT_LT(decode_d, fp32_d) << preset;
  }
}

// Every preset on the golden prompts against fp32: the deviation is measured and
// printed; asserted only loosely (finite, argmax mostly kept), since how close an
// approximate arithmetic stays is a result, not a spec.
TEST_F(ModelGoldenTest, PresetsDeviationFromFp32) {
  const auto goldens = LoadGoldens();
  const int V = model_->config().n_vocab;
  std::map<std::string, std::vector<float>> fp32;
  for (const std::string& preset : Policy::PresetNames()) {
    auto policy = Policy::Parse(preset);
    ASSERT_TRUE(policy.ok());
    double max_d = 0;
    int agree = 0, total = 0;
    for (const auto& [name, g] : goldens) {
      Session s(*model_, *policy, 512, 2);
      std::vector<float> logits;
      ASSERT_TRUE(s.Forward(g.prompt, &logits).ok());
      if (preset == "fp32") fp32[name] = logits;
      const std::vector<float>& f = fp32[name];
      for (size_t i = 0; i < logits.size(); ++i) {
        ASSERT_TRUE(std::isfinite(logits[i])) << preset << " " << name;
        max_d = std::max(max_d, static_cast<double>(std::abs(logits[i] - f[i])));
      }
      for (size_t t = 0; t < g.prompt.size(); ++t) {
        agree += Argmax(&logits[t * V], V) == Argmax(&f[t * V], V);
        ++total;
      }
    }
    std::printf("%-14s vs fp32: max |dlogit| %.3g, argmax agreement %d/%d\n", preset.c_str(), max_d,
                agree, total);
    // Unscaled e4m3 at every site (fp8-e4m3-all) is the exception: residual-stream values
    // above 448 saturate in RMSNorm's products and values below 2^-10 vanish, so only
    // about half the argmaxes survive (26/45 measured); its scaled variant keeps ~80%.
    EXPECT_GE(agree, preset == "fp8-e4m3-all" ? total / 2 : total * 3 / 4) << preset;
  }
}

}  // namespace
}  // namespace lmul::engine
