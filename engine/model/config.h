// ModelConfig: the hyper-parameters and the architecture settings of a model, read from
// GGUF metadata ("<arch>.block_count", "<arch>.embedding_length", ...) and from which
// optional tensors the file has (output.weight, rope_freqs.weight, attention biases).
//
// Architectures are data: general.architecture selects a family's defaults (the table in
// config.cc), metadata keys fill in the numbers, and the forward pass (session.cc) reads
// only ArchSettings / per-layer settings, never the architecture's name.
#ifndef LMUL_ENGINE_MODEL_CONFIG_H_
#define LMUL_ENGINE_MODEL_CONFIG_H_

#include <string>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf.h"

namespace lmul::engine {

// Gated-MLP activation applied to the gate: act(g) * u.
enum class Activation : int {
  kSilu,      // g / (1 + exp(-g))                      (Llama, Qwen2, Mistral)
  kGeluTanh,  // gelu, tanh approximation (ggml_gelu)   (Gemma 2, Gemma 3)
};

// RoPE pairing (llama.cpp's rope modes).
enum class RopeMode : int {
  kNormal,  // pairs (2i, 2i+1); llama.cpp's converter permutes Wq/Wk rows for this mode
  kNeox,    // pairs (i, i + rope_dim/2) (Hugging Face's rotate_half layout)
};

// RoPE frequency scaling: angle_i = freq_scale * (theta_i / freq_factor_i), as
// ggml_rope_cache_init with ext_factor 0 and attn_factor 1.
enum class RopeScaling : int {
  kNone,         // freq_scale 1, no factors
  kLinear,       // rope.scaling.type "linear": freq_scale = 1 / rope.scaling.factor
  kFreqFactors,  // tensor rope_freqs.weight (rope_dim/2): Llama 3.x "llama3" scaling
};

// What differs between model families; the defaults are Llama's.
struct ArchSettings {
  Activation activation = Activation::kSilu;
  // Norms per block: a pre-norm always (attn_norm, ffn_norm); with post_norms also an
  // RMSNorm of the attention and MLP outputs before the residual adds
  // (post_attention_norm, post_ffw_norm).
  bool post_norms = false;
  bool qk_norm = false;  // per-head RMSNorm of q and k before RoPE (attn_q_norm, attn_k_norm)
  RopeMode rope_mode = RopeMode::kNormal;
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_freq_scale = 1.0f;  // kLinear: 1 / rope.scaling.factor
  float embed_scale = 1.0f;      // x = token_embd[t] * embed_scale (Gemma: sqrtf(d_model))
  bool qkv_bias = false;         // attn_q.bias, attn_k.bias, attn_v.bias added after the GEMM
  float attn_scale = 0.0f;       // score scale (set to 1/sqrtf(head_dim) by FromGguf)
  float attn_softcap = 0.0f;     // > 0: scores s -> tanhf(s / cap) * cap after the scale
  float final_softcap = 0.0f;    // > 0: logits z -> tanhf(z / cap) * cap
};

struct ModelConfig {
  std::string arch;                 // general.architecture ("llama", "qwen2", ...)
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

  ArchSettings arch_settings;

  // Sliding-window attention: layer l with sliding_layer[l] attends only to keys j with
  // pos - j < sliding_window. Which layers slide is the family's pattern (every layer for
  // llama/Mistral, all but every swa_period-th for Gemma 2 (2) and Gemma 3 (6)).
  int sliding_window = 0;               // <arch>.attention.sliding_window (0: none)
  int swa_pattern = 0;                  // 0: every layer slides; p > 0: layer l is global
                                        // when (l + 1) % p == 0
  float rope_freq_base_swa = 10000.0f;  // RoPE base of sliding layers (<arch>.rope.freq_base_swa)
  std::vector<bool> sliding_layer;      // n_layer entries

  bool IsSlidingLayer(int l) const { return sliding_window > 0 && sliding_layer[l]; }
  // RoPE base of layer l (rope_freq_base_swa on sliding layers, rope_freq_base otherwise).
  float RopeBase(int l) const { return IsSlidingLayer(l) ? rope_freq_base_swa : rope_freq_base; }

  static Result<ModelConfig> FromGguf(const GgufFile& gguf);
  std::string Summary() const;  // one line
};

// The architectures FromGguf accepts (general.architecture values), in table order.
std::vector<std::string> SupportedArchitectures();

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_CONFIG_H_
