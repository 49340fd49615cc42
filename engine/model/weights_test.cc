// Compact weights (WeightStorage::kCompact: GEMMs dequantize the file's blocks per column
// block, kernels::GemmRows) against the fp32 packs (kPacked: PackB once, GemmPacked):
// bit-identical logits for every preset, every weight type the engine reads, prefill,
// token-by-token decode and ForwardBranches; on a synthetic model per type (no download)
// and, with LMUL_MODEL set, on the default model (SmolLM2-135M Q4_1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/io/dequant.h"
#include "engine/io/gguf_builder.h"
#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/session.h"
#include "engine/model/testing/tiny_llama.h"
#include "kernels/plan.h"

namespace lmul::engine {
namespace {

// d_model and the rows are multiples of 256 so that the K-quants fit.
constexpr int kVocab = 80, kDim = 256, kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 64,
              kFf = 512;

struct TypeInfo {
  GgmlType type;
  const char* name;
  int block, bytes;  // elements and bytes per block
};

const TypeInfo kTypes[] = {
    {GgmlType::kF32, "F32", 1, 4},       {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kBF16, "BF16", 1, 2},     {GgmlType::kQ8_0, "Q8_0", 32, 34},
    {GgmlType::kQ4_0, "Q4_0", 32, 18},   {GgmlType::kQ4_1, "Q4_1", 32, 20},
    {GgmlType::kQ5_0, "Q5_0", 32, 22},   {GgmlType::kQ5_1, "Q5_1", 32, 24},
    {GgmlType::kQ4_K, "Q4_K", 256, 144}, {GgmlType::kQ5_K, "Q5_K", 256, 176},
    {GgmlType::kQ6_K, "Q6_K", 256, 210},
};

[[maybe_unused]] void PutHalf(std::vector<uint8_t>* v, size_t at, uint16_t h) {
  (*v)[at] = static_cast<uint8_t>(h & 0xFF);
  (*v)[at + 1] = static_cast<uint8_t>(h >> 8);
}

// A small positive half (2^-9 .. 2^-6): block scales that keep the weights ~0.05-0.5.
[[maybe_unused]] uint16_t SmallHalf(std::mt19937* rng) {
  return static_cast<uint16_t>(((6 + (*rng)() % 4) << 10) | ((*rng)() & 0x3FF));
}

// Random tensor data of `n` elements of type t: random codes, scales set to sane halves.
[[maybe_unused]] std::vector<uint8_t> RandomData(const TypeInfo& t, size_t n, std::mt19937* rng) {
  const size_t blocks = n / t.block;
  std::vector<uint8_t> v(blocks * t.bytes);
  for (auto& b : v) b = static_cast<uint8_t>((*rng)());
  for (size_t i = 0; i < blocks; ++i) {
    const size_t o = i * t.bytes;
    switch (t.type) {
      case GgmlType::kF32: {
        std::normal_distribution<float> d(0.0f, 0.2f);
        const float x = d(*rng);
        std::memcpy(&v[o], &x, 4);
        break;
      }
      case GgmlType::kF16:  // sign, exponent 2^-6 .. 2^-2, random mantissa
        PutHalf(&v, o,
                static_cast<uint16_t>(((*rng)() & 0x8000) | ((9 + (*rng)() % 5) << 10) |
                                      ((*rng)() & 0x3FF)));
        break;
      case GgmlType::kBF16:
        PutHalf(&v, o,
                static_cast<uint16_t>(((*rng)() & 0x8000) | ((121 + (*rng)() % 5) << 7) |
                                      ((*rng)() & 0x7F)));
        break;
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
      case GgmlType::kQ5_0:
        PutHalf(&v, o, SmallHalf(rng));
        break;
      case GgmlType::kQ4_1:
      case GgmlType::kQ5_1:
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_K:
        PutHalf(&v, o, SmallHalf(rng));
        PutHalf(&v, o + 2, static_cast<uint16_t>(SmallHalf(rng) | ((*rng)() & 0x8000)));
        break;
      case GgmlType::kQ6_K:
        PutHalf(&v, o + 208, SmallHalf(rng));
        break;
      default:
        break;
    }
  }
  return v;
}

[[maybe_unused]] std::string WriteTypedModel(const TypeInfo& t) {
  std::mt19937 rng(11 + static_cast<uint32_t>(t.type));
  GgufBuilder b;
  b.AddString("general.architecture", "llama");
  b.AddUint32("llama.block_count", kLayers);
  b.AddUint32("llama.context_length", 64);
  b.AddUint32("llama.embedding_length", kDim);
  b.AddUint32("llama.feed_forward_length", kFf);
  b.AddUint32("llama.attention.head_count", kHeads);
  b.AddUint32("llama.attention.head_count_kv", kKvHeads);
  b.AddUint32("llama.rope.dimension_count", kHeadDim);
  b.AddFloat32("llama.rope.freq_base", 10000.0f);
  b.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  auto add = [&](const std::string& name, int64_t cols, int64_t rows) {
    b.AddTensor(name, t.type, {cols, rows}, RandomData(t, static_cast<size_t>(cols * rows), &rng));
  };
  add("token_embd.weight", kDim, kVocab);  // tied LM head of the same type
  const std::vector<float> ones(kDim, 1.0f);
  const int qd = kHeads * kHeadDim, kvd = kKvHeads * kHeadDim;
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    b.AddTensorF32(p + "attn_norm.weight", {kDim}, ones);
    add(p + "attn_q.weight", kDim, qd);
    add(p + "attn_k.weight", kDim, kvd);
    add(p + "attn_v.weight", kDim, kvd);
    add(p + "attn_output.weight", qd, kDim);
    b.AddTensorF32(p + "ffn_norm.weight", {kDim}, ones);
    add(p + "ffn_gate.weight", kDim, kFf);
    add(p + "ffn_up.weight", kDim, kFf);
    add(p + "ffn_down.weight", kFf, kDim);
  }
  b.AddTensorF32("output_norm.weight", {kDim}, ones);
  const char* dir = std::getenv("TMPDIR");
  const std::string path =
      testmodel::PerProcessPath(dir && *dir ? dir : "/tmp", std::string("weights_") + t.name);
  EXPECT_TRUE(b.WriteFile(path).ok());
  return path;
}

// Every preset without scaled sites (those always pack their weights, whatever the storage,
// and their decode differs from prefill by design: docs/engine.md "Scaled fp8"), plus two
// inline policies with bf16 accumulation.
[[maybe_unused]] std::vector<std::string> Policies() {
  std::vector<std::string> p;
  for (const std::string& name : Policy::PresetNames()) {
    const Policy policy = *Policy::Parse(name);
    bool scaled = false;
    for (bool s : policy.scaled) scaled = scaled || s;
    if (!scaled) p.push_back(name);
  }
  p.push_back("attn=lmul/e8m3,*=exact/fp32,accum=bf16");
  p.push_back("*=lmul/bf16,accum=bf16");
  return p;
}

void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b,
                    const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << what;
}

// Prefill, decode steps and branches: compact == packed, and compact decode == prefill.
void CompareStorages(const std::string& path, const std::vector<int32_t>& tokens, int n_prefill,
                     const std::vector<std::string>& policies, int threads,
                     const std::string& tag) {
  auto compact = Model::Load(path, LoadOptions{WeightStorage::kCompact});
  auto packed = Model::Load(path, LoadOptions{WeightStorage::kPacked});
  auto automatic = Model::Load(path);  // the default: WeightStorage::kAuto
  ASSERT_TRUE(compact.ok()) << compact.error();
  ASSERT_TRUE(packed.ok()) << packed.error();
  ASSERT_TRUE(automatic.ok()) << automatic.error();
  ASSERT_EQ((*automatic)->weight_storage(), WeightStorage::kAuto);
  const int n_vocab = (*compact)->config().n_vocab;
  for (const std::string& text : policies) {
    auto policy = Policy::Parse(text);
    ASSERT_TRUE(policy.ok()) << policy.error();
    const std::string what = tag + " " + text;
    const int n_ctx = static_cast<int>(tokens.size()) + 8;
    Session sc(**compact, *policy, n_ctx, threads), sp(**packed, *policy, n_ctx, threads);
    Session sa(**automatic, *policy, n_ctx, threads);
    Session all(**compact, *policy, n_ctx, threads);
    std::vector<float> lc, lp, lall;
    ASSERT_TRUE(all.Forward(tokens, &lall).ok());
    const std::span<const int32_t> pre(tokens.data(), n_prefill);
    ASSERT_TRUE(sc.Forward(pre, &lc).ok());
    ASSERT_TRUE(sp.Forward(pre, &lp).ok());
    ExpectSameBits(lc, lp, what + " prefill");
    {
      std::vector<float> la;
      ASSERT_TRUE(sa.Forward(tokens, &la).ok());
      ExpectSameBits(la, lall, what + " auto storage, whole forward");
    }
    EXPECT_EQ(0, std::memcmp(lc.data(), lall.data(), lc.size() * sizeof(float)))
        << what << " prefill rows of the whole forward";
    for (size_t t = n_prefill; t < tokens.size(); ++t) {
      ASSERT_TRUE(sc.Forward({&tokens[t], 1}, &lc).ok());
      ASSERT_TRUE(sp.Forward({&tokens[t], 1}, &lp).ok());
      ExpectSameBits(lc, lp, what + " decode at " + std::to_string(t));
      EXPECT_EQ(0, std::memcmp(lc.data(), lall.data() + t * n_vocab, lc.size() * sizeof(float)))
          << what << " decode == prefill at " << t;
    }
    // Branches (M between the decode and the prefill sizes).
    sc.Rewind(n_prefill);
    sp.Rewind(n_prefill);
    const std::vector<int32_t> b0 = {tokens[1], tokens[2], tokens[0]}, b1 = {tokens[3]},
                               b2 = {tokens[2], tokens[4]};
    const std::span<const int32_t> br[] = {b0, b1, b2};
    ASSERT_TRUE(sc.ForwardBranches(br, &lc).ok());
    ASSERT_TRUE(sp.ForwardBranches(br, &lp).ok());
    ExpectSameBits(lc, lp, what + " branches");
  }
  // The exact/fp32 decode steps above read an interleaved copy (gemv-exact-fp32-x8) of
  // the groups whose rows are Q4_0/Q4_1/Q8_0 with K % 32 == 0, built on their first use.
  const bool fp32_ran = std::find(policies.begin(), policies.end(), "fp32") != policies.end();
  const GgufTensor* wq = (*compact)->gguf().FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(wq, nullptr);
  const bool x8 = kernels::InterleavedForm(RowFormatOf(wq->type)) != kernels::RowFormat::kOther &&
                  wq->row_length() % 32 == 0;
  constexpr kernels::CpuFeatures kX8Cpu = kernels::kCpuAvx2 | kernels::kCpuF16c;
  if (fp32_ran && x8 && (kernels::KernelPlan::Host().features() & kX8Cpu) == kX8Cpu) {
    EXPECT_GT((*compact)->InterleavedBytes(), 0) << tag;
  }
  if (!x8) {
    EXPECT_EQ((*compact)->InterleavedBytes(), 0) << tag;
  }
  EXPECT_EQ((*packed)->InterleavedBytes(), 0) << tag << ": packed weights need no copy";
}

#ifndef LMUL_WEIGHTS_DEFAULT_MODEL  // synthetic models (label unit)
class CompactWeightsTest : public ::testing::TestWithParam<TypeInfo> {};

TEST_P(CompactWeightsTest, EveryPolicyBitIdenticalToPacked) {
  const TypeInfo& t = GetParam();
  const std::string path = WriteTypedModel(t);
  const std::vector<int32_t> tokens = {5, 17, 3, 63, 0, 42, 42, 8, 1, 30, 79, 7};
  // Prefill of 9 rows, then 3 decode steps, branches (the fused GEMVs where the arithmetic
  // has one: M <= kernels::kGemvMaxRows).
  CompareStorages(path, tokens, 9, Policies(), 2, t.name);
  // A prompt longer than kGemvMaxRows (PackB + GemmPacked per column block), then decode.
  std::vector<int32_t> longer;
  for (int i = 0; i < kernels::kGemvMaxRows + 6; ++i) longer.push_back((i * 37 + 11) % kVocab);
  CompareStorages(path, longer, kernels::kGemvMaxRows + 2, {"fp32", "bf16", "lmul-all"}, 2,
                  std::string(t.name) + " long prompt");
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Types, CompactWeightsTest, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<TypeInfo>& i) {
                           return std::string(i.param.name);
                         });

// The kernels' own decoders (kernels::DecodeRowRun, used by the compact GEMMs) give the bits
// of engine/io/dequant.h on random blocks whose scales take every half class (subnormal,
// zero, Inf, NaN) as well as normal values.
TEST(CompactWeights, KernelDecodersMatchDequantize) {
  std::mt19937 rng(3);
  for (const TypeInfo& t : kTypes) {
    if (RowFormatOf(t.type) == kernels::RowFormat::kOther) continue;
    const int K = 256, rows = 9;
    for (int round = 0; round < 20; ++round) {
      std::vector<uint8_t> data = RandomData(t, static_cast<size_t>(K) * rows, &rng);
      if (round % 2 == 1 && t.type != GgmlType::kF32) {  // arbitrary scale bits
        for (size_t o = 0; o + t.bytes <= data.size(); o += t.bytes) {
          PutHalf(&data, o, static_cast<uint16_t>(rng()));
          PutHalf(&data, o + 2, static_cast<uint16_t>(rng()));
        }
      }
      if (round == 3 && t.type == GgmlType::kF32) {
        for (auto& b : data) b = static_cast<uint8_t>(rng());  // any fp32 bits
      }
      GgufBuilder b;
      b.AddTensor("w", t.type, {K, rows}, data);
      const char* dir = std::getenv("TMPDIR");
      const std::string path =
          testmodel::PerProcessPath(dir && *dir ? dir : "/tmp", std::string("dec_") + t.name);
      ASSERT_TRUE(b.WriteFile(path).ok());
      auto g = GgufFile::Open(path);
      ASSERT_TRUE(g.ok()) << g.error();
      const GgufTensor& tensor = *(*g)->FindTensor("w");
      std::vector<float> want(static_cast<size_t>(K) * rows), got(want.size(), -1.0f);
      ASSERT_TRUE(DequantizeRows(tensor, 0, rows, want.data()).ok());
      kernels::RowRun run{RowFormatOf(t.type), tensor.data.data(), tensor.row_bytes(), rows};
      if (!kernels::DecodeRowRun(run, K, rows, got.data())) {
        std::remove(path.c_str());
        GTEST_SKIP() << "no AVX2: the kernels do not decode rows here";
      }
      EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)))
          << t.name << " round " << round;
      std::remove(path.c_str());
    }
  }
}

TEST(CompactWeights, StorageNames) {
  EXPECT_STREQ(WeightStorageName(WeightStorage::kCompact), "compact");
  EXPECT_STREQ(WeightStorageName(WeightStorage::kAuto), "auto");
  EXPECT_EQ(*ParseWeightStorage("packed"), WeightStorage::kPacked);
  EXPECT_EQ(*ParseWeightStorage("auto"), WeightStorage::kAuto);
  auto bad = ParseWeightStorage("fp32");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("expected compact, packed or auto"), std::string::npos) << bad.error();
}

// kAuto keeps a group compact exactly when its arithmetic has the fused exact/fp32 decode
// GEMV (the plan's GemmRows entry at M = 1 is GemvKind::kFused, gemv-exact-fp32: fp32
// accumulation, AVX2), and
// packs it otherwise, also where a reduced-operand GEMV exists (gemv-exact-wide,
// gemv-lmul-fast: those serve WeightStorage::kCompact; bench/RESULTS.md has why auto does
// not take them yet): the weight bytes a token reads equal the compact storage's or the
// packed storage's accordingly.
TEST(CompactWeights, AutoPacksOnlyWithoutAFusedGemv) {
  const std::string path = WriteTypedModel(kTypes[0]);
  auto compact = Model::Load(path, LoadOptions{WeightStorage::kCompact});
  auto packed = Model::Load(path, LoadOptions{WeightStorage::kPacked});
  auto automatic = Model::Load(path, LoadOptions{WeightStorage::kAuto});
  ASSERT_TRUE(compact.ok() && packed.ok() && automatic.ok());
  auto bytes = [](const Model& m, const char* preset) {
    return Session(m, *Policy::Parse(preset), 16, 1).weight_bytes_per_token();
  };
  // The plan's entry for a decode step (M = 1) of the weights' arithmetic.
  auto kind = [](const char* arith, kernels::Accum accum) {
    return kernels::KernelPlan::Host()
        .ChooseGemv(kernels::MakeGemvQuery(*Arith::Parse(arith), accum, 1))
        .kind;
  };
  auto fused = [&](const char* arith, kernels::Accum accum) {
    return kind(arith, accum) == kernels::GemvKind::kFused;
  };
  const struct {
    const char* preset;
    const char* weight_arith;
    kernels::Accum accum;
  } kCases[] = {
      {"fp32", "exact/fp32", kernels::Accum::kFp32},
      {"lmul-attn", "exact/fp32", kernels::Accum::kFp32},
      {"bf16", "exact/bf16,wide", kernels::Accum::kFp32},
      {"fp8-e4m3-all", "exact/e4m3,wide", kernels::Accum::kFp32},
      {"lmul-all", "lmul/bf16", kernels::Accum::kFp32},
      {"*=lmul/bf16,accum=bf16", "lmul/bf16", kernels::Accum::kBf16},
      {"*=exact/bf16", "exact/bf16", kernels::Accum::kFp32},
  };
  for (const auto& c : kCases) {
    const bool f = fused(c.weight_arith, c.accum);
    EXPECT_EQ(bytes(**automatic, c.preset), bytes(f ? **compact : **packed, c.preset)) << c.preset;
    EXPECT_NE(bytes(**compact, c.preset), bytes(**packed, c.preset)) << c.preset;
  }
#if defined(__x86_64__)
  // The plan's answer, independently; and which arithmetics auto keeps compact: only
  // exact/fp32, although bf16 and L-Mul have fused kernels too (those serve kCompact).
  EXPECT_EQ(fused("exact/fp32", kernels::Accum::kFp32), __builtin_cpu_supports("avx2") != 0);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_EQ(kind("exact/bf16,wide", kernels::Accum::kFp32), kernels::GemvKind::kFusedExactWide);
    EXPECT_EQ(kind("lmul/bf16", kernels::Accum::kFp32), kernels::GemvKind::kFusedLMulFast);
    EXPECT_FALSE(fused("exact/bf16,wide", kernels::Accum::kFp32));
    EXPECT_FALSE(fused("lmul/bf16", kernels::Accum::kFp32));
  }
#endif
  std::remove(path.c_str());
}

#else  // the default model (label model: its own binary, kept out of the sanitizer runs)
// The default model (LMUL_MODEL: SmolLM2-135M-Instruct Q4_1, Q8_0 embedding), a few prompts.
TEST(CompactWeightsDefaultModel, BitIdenticalToPacked) {
  const char* path = std::getenv("LMUL_MODEL");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "LMUL_MODEL not set";
  const std::vector<std::vector<int32_t> > prompts = {
      {1, 504, 3458, 282, 4649, 314, 6263, 30, 378, 2},
      {28, 1229, 9, 1113, 13, 48000, 2, 2, 7, 100},
  };
  int i = 0;
  for (const auto& p : prompts) {
    CompareStorages(path, p, 7, {"fp32", "lmul-attn", "lmul-all", "bf16", "fp8-e4m3-all"}, 2,
                    "default model prompt " + std::to_string(i++));
  }
}

#endif

}  // namespace
}  // namespace lmul::engine
