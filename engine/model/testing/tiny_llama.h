// Tiny synthetic Llama models for tests (no download): a GGUF written with GgufBuilder,
// vocab 64, d_model 32, 2 layers, 4 query heads and 2 KV heads of head_dim 8, d_ff 64,
// LM head tied to the token embedding. The options reproduce the variants the engine,
// eval and capture tests use; the same options and seed give the same file.
#ifndef LMUL_ENGINE_MODEL_TESTING_TINY_LLAMA_H_
#define LMUL_ENGINE_MODEL_TESTING_TINY_LLAMA_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf_builder.h"

namespace lmul::engine::testmodel {

struct TinyLlama {
  static constexpr int kVocab = 64, kDim = 32, kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 8,
                       kFf = 64;
};

struct TinyLlamaOptions {
  uint32_t seed = 7;
  int context_length = 128;
  float weight_scale = 0.3f;    // stddev of the projection weights
  bool q8_0_embedding = false;  // token_embd Q8_0 (random codes, scale ~0.02); else F32 N(0, 1)
  bool random_norms = false;    // norm weights 1 + N(0, 0.1); else all 1
  std::string name;             // general.name (empty: absent)
};

// n values drawn from N(0, scale) with rng.
std::vector<float> Randn(std::mt19937* rng, size_t n, float scale);

// Adds the tiny model's metadata and tensors to b.
void AddTinyLlama(const TinyLlamaOptions& o, GgufBuilder* b);

// A per-process path under dir for a test file: dir/<tag>_<pid>.gguf (ctest runs the cases
// of one test binary in parallel processes).
std::string PerProcessPath(const std::string& dir, const std::string& tag);

// Writes the tiny model to path.
Status WriteTinyLlama(const TinyLlamaOptions& o, const std::string& path);

}  // namespace lmul::engine::testmodel

#endif  // LMUL_ENGINE_MODEL_TESTING_TINY_LLAMA_H_
