// ModelConfig: the hyper-parameters of a Llama-family model, read from GGUF metadata
// ("<arch>.block_count", "<arch>.embedding_length", ...).
#ifndef LMUL_ENGINE_MODEL_CONFIG_H_
#define LMUL_ENGINE_MODEL_CONFIG_H_

#include <string>

#include "base/result.h"
#include "engine/io/gguf.h"

namespace lmul::engine {

struct ModelConfig {
  std::string arch;                 // general.architecture ("llama")
  std::string name;                 // general.name (may be empty)
  int n_vocab = 0;                  // rows of token_embd.weight
  int d_model = 0;                  // <arch>.embedding_length
  int n_layer = 0;                  // <arch>.block_count
  int n_head = 0;                   // <arch>.attention.head_count
  int n_kv_head = 0;                // <arch>.attention.head_count_kv (default n_head)
  int head_dim = 0;                 // d_model / n_head (or <arch>.attention.key_length)
  int d_ff = 0;                     // <arch>.feed_forward_length
  int n_ctx_train = 0;              // <arch>.context_length
  int rope_dim = 0;                 // <arch>.rope.dimension_count (default head_dim)
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  float rms_eps = 1e-5f;            // <arch>.attention.layer_norm_rms_epsilon
  bool tied_output = false;         // no output.weight: the LM head is token_embd.weight

  // Gemma 3 (general.architecture "gemma3", llama.cpp's gemma3 graph); false/0 for llama.
  // gemma: x = embedding * sqrt(d_model); per-head RMSNorm of q and k (attn_q_norm,
  // attn_k_norm) before RoPE; RoPE in NEOX mode (pairs (i, i + rope_dim/2)); RMSNorm of the
  // attention output and of the MLP output (post_attention_norm, post_ffw_norm) before the
  // residual adds; GeGLU MLP (gelu tanh approximation). Norm weights are used as stored
  // (llama.cpp's converter already adds Gemma's +1).
  bool gemma = false;
  int sliding_window = 0;               // <arch>.attention.sliding_window (0: none)
  int swa_pattern = 0;                  // layer l is global when (l + 1) % swa_pattern == 0
  float rope_freq_base_swa = 10000.0f;  // RoPE base of sliding-window layers (llama.cpp)
  // True when layer l attends only to keys j with pos - j < sliding_window.
  bool IsSlidingLayer(int l) const {
    return sliding_window > 0 && swa_pattern > 0 && (l + 1) % swa_pattern != 0;
  }
  // RoPE base of layer l (rope_freq_base_swa on sliding layers, rope_freq_base otherwise).
  float RopeBase(int l) const { return IsSlidingLayer(l) ? rope_freq_base_swa : rope_freq_base; }

  static Result<ModelConfig> FromGguf(const GgufFile& gguf);
  std::string Summary() const;  // one line
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_CONFIG_H_
