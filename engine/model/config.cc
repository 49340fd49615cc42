#include "engine/model/config.h"

#include <cmath>

namespace lmul::engine {
namespace {

// Gemma 3 support (issue 4's second architecture), CMake option LMUL_ENABLE_GEMMA3 (default
// ON). Off: ModelConfig rejects "gemma3" (llama only).
#ifdef LMUL_ENABLE_GEMMA3
constexpr bool kGemma3Enabled = true;
#else
constexpr bool kGemma3Enabled = false;
#endif

// Reads a positive integer that fits int (bounded by `max`).
Status GetDim(const GgufFile& g, const std::string& key, int64_t max, int* out) {
  auto v = g.GetInt(key);
  if (!v.ok()) return MakeError(v.error());
  if (*v < 1 || *v > max) {
    return MakeError(g.path() + ": metadata '" + key + "': expected 1.." + std::to_string(max) +
                     ", found " + std::to_string(*v));
  }
  *out = static_cast<int>(*v);
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::FromGguf(const GgufFile& g) {
  ModelConfig c;
  auto arch = g.GetString("general.architecture");
  if (!arch.ok()) return std::move(arch).TakeError();
  c.arch = *arch;
  if (c.arch != "llama" && !(kGemma3Enabled && c.arch == "gemma3")) {
    return MakeError(g.path() + ": metadata 'general.architecture': expected \"llama\", found \"" +
                     c.arch + "\" (lmul runs the Llama architecture)");
  }
  c.gemma = c.arch == "gemma3";
  if (g.Has("general.name")) {
    auto name = g.GetString("general.name");
    if (name.ok()) c.name = *name;
  }
  const std::string a = c.arch + ".";
  constexpr int64_t kMaxDim = 1 << 20;
  LMUL_RETURN_IF_ERROR(GetDim(g, a + "embedding_length", kMaxDim, &c.d_model));
  LMUL_RETURN_IF_ERROR(GetDim(g, a + "block_count", 4096, &c.n_layer));
  LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.head_count", 4096, &c.n_head));
  c.n_kv_head = c.n_head;
  if (g.Has(a + "attention.head_count_kv")) {
    LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.head_count_kv", 4096, &c.n_kv_head));
  }
  LMUL_RETURN_IF_ERROR(GetDim(g, a + "feed_forward_length", kMaxDim, &c.d_ff));
  c.n_ctx_train = 2048;
  if (g.Has(a + "context_length")) {
    LMUL_RETURN_IF_ERROR(GetDim(g, a + "context_length", 1 << 24, &c.n_ctx_train));
  }
  if (c.n_head % c.n_kv_head != 0) {
    return MakeError(g.path() + ": head_count " + std::to_string(c.n_head) +
                     " is not a multiple of head_count_kv " + std::to_string(c.n_kv_head));
  }
  if (g.Has(a + "attention.key_length")) {
    LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.key_length", kMaxDim, &c.head_dim));
  } else {
    if (c.d_model % c.n_head != 0) {
      return MakeError(g.path() + ": embedding_length " + std::to_string(c.d_model) +
                       " is not a multiple of head_count " + std::to_string(c.n_head));
    }
    c.head_dim = c.d_model / c.n_head;
  }
  // GEMM dimensions must fit int comfortably (the kernels take int sizes).
  constexpr int64_t kMaxGemmDim = int64_t{1} << 24;
  if ((int64_t{c.n_head} + 2 * int64_t{c.n_kv_head}) * c.head_dim > kMaxGemmDim ||
      int64_t{2} * c.d_ff > kMaxGemmDim) {
    return MakeError(g.path() + ": attention/feed-forward widths exceed " +
                     std::to_string(kMaxGemmDim) + " (head_count, head_count_kv, key_length, " +
                     "feed_forward_length)");
  }
  c.rope_dim = c.head_dim;
  if (g.Has(a + "rope.dimension_count")) {
    LMUL_RETURN_IF_ERROR(GetDim(g, a + "rope.dimension_count", c.head_dim, &c.rope_dim));
  }
  if (c.rope_dim % 2 != 0) {
    return MakeError(g.path() + ": metadata '" + a +
                     "rope.dimension_count': expected even, found " + std::to_string(c.rope_dim));
  }
  if (g.Has(a + "rope.freq_base")) {
    auto v = g.GetFloat(a + "rope.freq_base");
    if (!v.ok()) return std::move(v).TakeError();
    if (!(*v > 0) || !std::isfinite(*v)) {
      return MakeError(g.path() + ": metadata '" + a + "rope.freq_base': expected > 0");
    }
    c.rope_freq_base = static_cast<float>(*v);
  }
  if (g.Has(a + "attention.layer_norm_rms_epsilon")) {
    auto v = g.GetFloat(a + "attention.layer_norm_rms_epsilon");
    if (!v.ok()) return std::move(v).TakeError();
    if (!(*v >= 0) || !std::isfinite(*v)) {
      return MakeError(g.path() + ": metadata '" + a +
                       "attention.layer_norm_rms_epsilon': expected >= 0");
    }
    c.rms_eps = static_cast<float>(*v);
  }
  if (g.Has(a + "rope.scaling.type")) {
    auto v = g.GetString(a + "rope.scaling.type");
    if (v.ok() && *v != "none") {
      return MakeError(g.path() + ": metadata '" + a + "rope.scaling.type': \"" + *v +
                       "\" is not supported (expected none)");
    }
  }
  if (c.gemma) {
    // llama.cpp (llama-model.cpp, LLM_ARCH_GEMMA3): every 6th layer global, the others
    // with a sliding window; sliding layers use RoPE base 10000.
    c.swa_pattern = 6;
    c.rope_freq_base_swa = 10000.0f;
    if (g.Has(a + "attention.sliding_window")) {
      LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.sliding_window", 1 << 24, &c.sliding_window));
    }
    if (g.Has(a + "attention.value_length")) {
      int vl = 0;
      LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.value_length", kMaxDim, &vl));
      if (vl != c.head_dim) {
        return MakeError(g.path() + ": metadata '" + a + "attention.value_length': expected " +
                         std::to_string(c.head_dim) + " (= key_length), found " +
                         std::to_string(vl));
      }
    }
    if (c.rope_dim != c.head_dim) {
      return MakeError(g.path() + ": metadata '" + a +
                       "rope.dimension_count': gemma3 expects head_dim " +
                       std::to_string(c.head_dim) + ", found " + std::to_string(c.rope_dim));
    }
  }
  auto embd = g.GetTensor("token_embd.weight");
  if (!embd.ok()) return std::move(embd).TakeError();
  if ((*embd)->ne.size() != 2 || (*embd)->ne[0] != c.d_model || (*embd)->ne[1] > (1 << 24)) {
    return MakeError(g.path() + ": tensor 'token_embd.weight': expected shape (n_vocab, " +
                     std::to_string(c.d_model) + "), found " + (*embd)->ShapeString());
  }
  c.n_vocab = static_cast<int>((*embd)->ne[1]);
  c.tied_output = g.FindTensor("output.weight") == nullptr;
  return c;
}

std::string ModelConfig::Summary() const {
  return arch + (name.empty() ? "" : " '" + name + "'") + ": n_layer=" + std::to_string(n_layer) +
         " d_model=" + std::to_string(d_model) + " n_head=" + std::to_string(n_head) +
         " n_kv_head=" + std::to_string(n_kv_head) + " head_dim=" + std::to_string(head_dim) +
         " d_ff=" + std::to_string(d_ff) + " n_vocab=" + std::to_string(n_vocab) +
         " rope_dim=" + std::to_string(rope_dim) + " rope_base=" + std::to_string(rope_freq_base) +
         " rms_eps=" + std::to_string(rms_eps) + (tied_output ? " tied-output" : "") +
         (gemma ? " sliding_window=" + std::to_string(sliding_window) + "/" +
                      std::to_string(swa_pattern) +
                      " rope_base_swa=" + std::to_string(rope_freq_base_swa)
                : "");
}

}  // namespace lmul::engine
