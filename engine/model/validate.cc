#include "engine/model/validate.h"

#include <string>

#include "base/escape.h"

namespace lmul::engine {
namespace {

std::string Rows(const GgufTensor& t) { return std::to_string(t.ne.size() >= 2 ? t.ne[1] : 1); }

// Tensor `name` (when present) must have ne == {cols, rows}; the message names the fields
// that determine rows.
Status CheckProjection(const GgufFile& g, const std::string& name, int64_t cols,
                       const std::string& cols_field, int64_t rows, const std::string& rows_field) {
  const GgufTensor* t = g.FindTensor(name);
  if (t == nullptr) return Status::Ok();  // Model::Load reports missing tensors
  if (t->ne.size() != 2 || t->ne[0] != cols || t->ne[1] != rows) {
    return MakeError(g.path() + ": tensor '" + name + "' has shape " + t->ShapeString() +
                     ", inconsistent with " + rows_field + " = " + std::to_string(rows) +
                     " rows and " + cols_field + " = " + std::to_string(cols) + " columns");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateModel(const GgufFile& g, const ModelConfig& c) {
  const std::string& p = g.path();
  const std::string a = c.arch + ".";
  // Vocabulary: tokenizer entries == embedding rows == LM head rows.
  if (g.Has("tokenizer.ggml.tokens")) {
    auto n = g.ArraySize("tokenizer.ggml.tokens");
    if (!n.ok()) return MakeError(n.error());
    if (*n != static_cast<uint64_t>(c.n_vocab)) {
      return MakeError(p + ": metadata 'tokenizer.ggml.tokens' has " + std::to_string(*n) +
                       " entries but tensor 'token_embd.weight' has " + std::to_string(c.n_vocab) +
                       " rows (n_vocab): every token id needs an embedding row and a piece");
    }
    for (const char* key : {"tokenizer.ggml.token_type", "tokenizer.ggml.scores"}) {
      if (!g.Has(key)) continue;
      auto m = g.ArraySize(key);
      if (!m.ok()) return MakeError(m.error());
      if (*m != *n) {
        return MakeError(p + ": metadata '" + key + "' has " + std::to_string(*m) +
                         " entries, 'tokenizer.ggml.tokens' " + std::to_string(*n) +
                         ": expected one per token");
      }
    }
  }
  if (const GgufTensor* out = g.FindTensor("output.weight"); out != nullptr) {
    if (out->ne.size() != 2 || out->ne[1] != c.n_vocab) {
      return MakeError(p + ": tensor 'output.weight' has " + Rows(*out) +
                       " rows, tensor 'token_embd.weight' " + std::to_string(c.n_vocab) +
                       " (n_vocab): the LM head needs one row per token");
    }
  }
  // Blocks: no tensor beyond block_count, and the last declared block exists.
  for (const GgufTensor& t : g.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    int64_t l = 0;
    size_t i = 4;
    while (i < t.name.size() && i < 14 && t.name[i] >= '0' && t.name[i] <= '9') {
      l = l * 10 + (t.name[i++] - '0');
    }
    if (i == 4 || i >= t.name.size() || t.name[i] != '.') {
      return MakeError(p + ": tensor '" + EscapeUntrusted(t.name, 80) +
                       "': expected blk.<layer>.<name>");
    }
    if (l >= c.n_layer) {
      return MakeError(p + ": metadata '" + a + "block_count' = " + std::to_string(c.n_layer) +
                       " but tensor '" + EscapeUntrusted(t.name, 80) + "' belongs to block " +
                       std::to_string(l) + ": the file has more blocks than it declares");
    }
  }
  if (c.n_layer > 0) {
    const std::string last = "blk." + std::to_string(c.n_layer - 1) + ".attn_q.weight";
    if (g.FindTensor(last) == nullptr) {
      return MakeError(p + ": metadata '" + a + "block_count' = " + std::to_string(c.n_layer) +
                       " but tensor '" + last + "' is missing: the file has fewer blocks than " +
                       "it declares");
    }
  }
  // Head counts and widths against the projections of every block.
  const int64_t d = c.d_model, qd = int64_t{c.n_head} * c.head_dim,
                kvd = int64_t{c.n_kv_head} * c.head_dim;
  const std::string emb = "'" + a + "embedding_length'";
  const std::string q_rows = "'" + a + "attention.head_count' x head_dim";
  const std::string kv_rows = "'" + a + "attention.head_count_kv' x head_dim";
  const std::string ff = "'" + a + "feed_forward_length'";
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "attn_q.weight", d, emb, qd, q_rows));
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "attn_k.weight", d, emb, kvd, kv_rows));
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "attn_v.weight", d, emb, kvd, kv_rows));
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "attn_output.weight", qd, q_rows, d, emb));
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "ffn_gate.weight", d, emb, c.d_ff, ff));
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "ffn_up.weight", d, emb, c.d_ff, ff));
    LMUL_RETURN_IF_ERROR(CheckProjection(g, b + "ffn_down.weight", c.d_ff, ff, d, emb));
  }
  return Status::Ok();
}

}  // namespace lmul::engine
