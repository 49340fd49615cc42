// Cross-field consistency of a model file, checked by Model::Load before any tensor is
// used (docs/robustness.md). ModelConfig::FromGguf reads each field and range-checks it;
// ValidateModel checks that the fields agree with each other and with the tensors:
//   - tokenizer.ggml.tokens entries == token_embd.weight rows (n_vocab) == output.weight rows;
//     tokenizer.ggml.token_type / scores have one entry per token;
//   - <arch>.block_count == the blocks present: every blk.L.* tensor has L < block_count and
//     block block_count-1 exists (a 30-layer file declared as 29 layers is refused);
//   - head counts and widths vs the projection shapes: attn_q rows == head_count x head_dim,
//     attn_k / attn_v rows == head_count_kv x head_dim, ffn_* vs feed_forward_length.
// Each error names the metadata fields and tensors involved and the values found.
#ifndef LMUL_ENGINE_MODEL_VALIDATE_H_
#define LMUL_ENGINE_MODEL_VALIDATE_H_

#include "base/result.h"
#include "engine/io/gguf.h"
#include "engine/model/config.h"

namespace lmul::engine {

Status ValidateModel(const GgufFile& g, const ModelConfig& c);

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_VALIDATE_H_
