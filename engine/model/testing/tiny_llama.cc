#include "engine/model/testing/tiny_llama.h"

#include <unistd.h>

namespace lmul::engine::testmodel {

std::vector<float> Randn(std::mt19937* rng, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(*rng);
  return v;
}

void AddTinyLlama(const TinyLlamaOptions& o, GgufBuilder* b) {
  using T = TinyLlama;
  std::mt19937 rng(o.seed);
  b->AddString("general.architecture", "llama");
  if (!o.name.empty()) b->AddString("general.name", o.name);
  b->AddUint32("llama.block_count", T::kLayers);
  b->AddUint32("llama.context_length", static_cast<uint32_t>(o.context_length));
  b->AddUint32("llama.embedding_length", T::kDim);
  b->AddUint32("llama.feed_forward_length", T::kFf);
  b->AddUint32("llama.attention.head_count", T::kHeads);
  b->AddUint32("llama.attention.head_count_kv", T::kKvHeads);
  b->AddUint32("llama.rope.dimension_count", T::kHeadDim);
  b->AddFloat32("llama.rope.freq_base", 10000.0f);
  b->AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  if (o.q8_0_embedding) {
    std::vector<uint8_t> embd;
    for (int r = 0; r < T::kVocab; ++r) {
      embd.push_back(0x1F);  // f16 0x251F ~ 0.0200: the block scale
      embd.push_back(0x25);
      for (int j = 0; j < T::kDim; ++j) embd.push_back(static_cast<uint8_t>(rng() % 255) - 127);
    }
    b->AddTensor("token_embd.weight", GgmlType::kQ8_0, {T::kDim, T::kVocab}, embd);
  } else {
    b->AddTensorF32("token_embd.weight", {T::kDim, T::kVocab},
                    Randn(&rng, T::kDim * T::kVocab, 1.0f));
  }
  auto norm_weights = [&] {
    if (!o.random_norms) return std::vector<float>(T::kDim, 1.0f);
    auto v = Randn(&rng, T::kDim, 0.1f);
    for (auto& x : v) x += 1.0f;
    return v;
  };
  const float ws = o.weight_scale;
  const int qd = T::kHeads * T::kHeadDim, kvd = T::kKvHeads * T::kHeadDim;
  for (int l = 0; l < T::kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const std::vector<float> norm = norm_weights();
    b->AddTensorF32(p + "attn_norm.weight", {T::kDim}, norm);
    b->AddTensorF32(p + "attn_q.weight", {T::kDim, qd}, Randn(&rng, T::kDim * qd, ws));
    b->AddTensorF32(p + "attn_k.weight", {T::kDim, kvd}, Randn(&rng, T::kDim * kvd, ws));
    b->AddTensorF32(p + "attn_v.weight", {T::kDim, kvd}, Randn(&rng, T::kDim * kvd, ws));
    b->AddTensorF32(p + "attn_output.weight", {qd, T::kDim}, Randn(&rng, T::kDim * qd, ws));
    b->AddTensorF32(p + "ffn_norm.weight", {T::kDim}, norm);
    b->AddTensorF32(p + "ffn_gate.weight", {T::kDim, T::kFf}, Randn(&rng, T::kDim * T::kFf, ws));
    b->AddTensorF32(p + "ffn_up.weight", {T::kDim, T::kFf}, Randn(&rng, T::kDim * T::kFf, ws));
    b->AddTensorF32(p + "ffn_down.weight", {T::kFf, T::kDim}, Randn(&rng, T::kDim * T::kFf, ws));
  }
  b->AddTensorF32("output_norm.weight", {T::kDim}, norm_weights());
}

std::string PerProcessPath(const std::string& dir, const std::string& tag) {
  return dir + "/" + tag + "_" + std::to_string(getpid()) + ".gguf";
}

Status WriteTinyLlama(const TinyLlamaOptions& o, const std::string& path) {
  GgufBuilder b;
  AddTinyLlama(o, &b);
  return b.WriteFile(path);
}

}  // namespace lmul::engine::testmodel
