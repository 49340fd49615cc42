#include "engine/model/config.h"

#include <cmath>

namespace lmul::engine {
namespace {

// One row per accepted general.architecture: the family's fixed settings (what llama.cpp
// hard-codes per architecture in llama-model.cpp); the numbers come from metadata.
struct Family {
  const char* arch;
  ArchSettings settings;
  bool embed_scale_sqrt_d;  // embed_scale = sqrtf(d_model)
  bool requires_qkv_bias;   // attention biases must be present (else optional, all or none)
  int swa_pattern;          // ModelConfig::swa_pattern when attention.sliding_window is set
  float rope_base_swa;      // RoPE base of sliding layers (0: rope.freq_base)
};

const Family kFamilies[] = {
    // Llama 1/2/3.x, SmolLM2, Mistral (converted as "llama"; a sliding window applies to
    // every layer when attention.sliding_window is set).
    {"llama", {}, false, false, 0, 0.0f},
    // Qwen2 / Qwen2.5: NEOX RoPE, q/k/v biases.
    {"qwen2", {.rope_mode = RopeMode::kNeox}, false, true, 0, 0.0f},
    // Gemma 2: GeGLU, pre+post norms, NEOX RoPE, sqrt(d) embedding scale, logit soft-capping
    // (metadata), sliding window on every other layer (layer l global when (l+1) % 2 == 0).
    {"gemma2",
     {.activation = Activation::kGeluTanh, .post_norms = true, .rope_mode = RopeMode::kNeox},
     true,
     false,
     2,
     0.0f},
    // Gemma 3: as Gemma 2 plus per-head q/k RMSNorm; 5 sliding layers per global one, the
    // sliding layers with RoPE base 10000.
    {"gemma3",
     {.activation = Activation::kGeluTanh,
      .post_norms = true,
      .qk_norm = true,
      .rope_mode = RopeMode::kNeox},
     true,
     false,
     6,
     10000.0f},
};

const Family* FindFamily(const std::string& arch) {
  for (const Family& f : kFamilies) {
    if (arch == f.arch) return &f;
  }
  return nullptr;
}

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

// Reads an optional finite float metadata value; `positive`: must be > 0, else >= 0.
Status GetOptionalFloat(const GgufFile& g, const std::string& key, bool positive, float* out) {
  if (!g.Has(key)) return Status::Ok();
  auto v = g.GetFloat(key);
  if (!v.ok()) return MakeError(v.error());
  if (!std::isfinite(*v) || (positive ? !(*v > 0) : !(*v >= 0)) || std::fabs(*v) > 3.0e38) {
    return MakeError(g.path() + ": metadata '" + key + "': expected a finite value " +
                     (positive ? "> 0" : ">= 0") + ", found " + std::to_string(*v));
  }
  *out = static_cast<float>(*v);
  return Status::Ok();
}

}  // namespace

std::vector<std::string> SupportedArchitectures() {
  std::vector<std::string> out;
  for (const Family& f : kFamilies) {
    if (FindFamily(f.arch) != nullptr) out.push_back(f.arch);
  }
  return out;
}

Result<ModelConfig> ModelConfig::FromGguf(const GgufFile& g) {
  ModelConfig c;
  auto arch = g.GetString("general.architecture");
  if (!arch.ok()) return std::move(arch).TakeError();
  c.arch = *arch;
  const Family* family = FindFamily(c.arch);
  if (family == nullptr) {
    std::string list;
    const std::vector<std::string> archs = SupportedArchitectures();
    for (size_t i = 0; i < archs.size(); ++i) {
      list += (i == 0 ? "" : i + 1 == archs.size() ? " or " : ", ") + ("\"" + archs[i] + "\"");
    }
    return MakeError(g.path() + ": metadata 'general.architecture': expected " + list +
                     ", found \"" + c.arch + "\" (the model families lmul runs)");
  }
  c.arch_settings = family->settings;
  ArchSettings& s = c.arch_settings;
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
  if (g.Has(a + "attention.value_length")) {
    int vl = 0;
    LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.value_length", kMaxDim, &vl));
    if (vl != c.head_dim) {
      return MakeError(g.path() + ": metadata '" + a + "attention.value_length': expected " +
                       std::to_string(c.head_dim) + " (= key_length), found " + std::to_string(vl));
    }
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
  LMUL_RETURN_IF_ERROR(GetOptionalFloat(g, a + "rope.freq_base", true, &c.rope_freq_base));
  LMUL_RETURN_IF_ERROR(
      GetOptionalFloat(g, a + "attention.layer_norm_rms_epsilon", false, &c.rms_eps));

  // RoPE scaling: "none", "linear" (rope.scaling.factor) or llama3's rope_freqs.weight.
  if (g.Has(a + "rope.scaling.type")) {
    auto v = g.GetString(a + "rope.scaling.type");
    if (!v.ok()) return std::move(v).TakeError();
    if (*v == "linear") {
      float factor = 0.0f;
      if (!g.Has(a + "rope.scaling.factor")) {
        return MakeError(g.path() + ": metadata '" + a +
                         "rope.scaling.factor': missing (rope.scaling.type is linear)");
      }
      LMUL_RETURN_IF_ERROR(GetOptionalFloat(g, a + "rope.scaling.factor", true, &factor));
      s.rope_scaling = RopeScaling::kLinear;
      s.rope_freq_scale = 1.0f / factor;
    } else if (*v != "none") {
      return MakeError(g.path() + ": metadata '" + a + "rope.scaling.type': \"" + *v +
                       "\" is not supported (expected none or linear; llama3 scaling comes "
                       "as the tensor rope_freqs.weight)");
    }
  }
  if (g.FindTensor("rope_freqs.weight") != nullptr) {
    if (s.rope_scaling != RopeScaling::kNone) {
      return MakeError(g.path() +
                       ": tensor 'rope_freqs.weight': not supported together with "
                       "metadata '" +
                       a + "rope.scaling.type' linear");
    }
    s.rope_scaling = RopeScaling::kFreqFactors;  // shape and values checked by Model::Load
  }

  // Sliding window: the family's pattern (an optional <arch>.attention.sliding_window_pattern
  // period overrides it) and the RoPE base of sliding layers.
  c.sliding_layer.assign(c.n_layer, false);
  if (g.Has(a + "attention.sliding_window")) {
    LMUL_RETURN_IF_ERROR(GetDim(g, a + "attention.sliding_window", 1 << 24, &c.sliding_window));
  }
  c.swa_pattern = family->swa_pattern;
  if (g.Has(a + "attention.sliding_window_pattern")) {
    LMUL_RETURN_IF_ERROR(
        GetDim(g, a + "attention.sliding_window_pattern", c.n_layer + 1, &c.swa_pattern));
  }
  for (int l = 0; l < c.n_layer; ++l) {
    c.sliding_layer[l] = c.swa_pattern == 0 || (l + 1) % c.swa_pattern != 0;
  }
  c.rope_freq_base_swa = family->rope_base_swa > 0 ? family->rope_base_swa : c.rope_freq_base;
  LMUL_RETURN_IF_ERROR(GetOptionalFloat(g, a + "rope.freq_base_swa", true, &c.rope_freq_base_swa));

  // Scales and soft-capping (fp32, not multiplication sites: see docs/engine.md).
  if (family->embed_scale_sqrt_d) {
    s.embed_scale = std::sqrt(static_cast<float>(c.d_model));  // llama.cpp: sqrtf(n_embd)
  }
  s.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  LMUL_RETURN_IF_ERROR(GetOptionalFloat(g, a + "attn_logit_softcapping", false, &s.attn_softcap));
  LMUL_RETURN_IF_ERROR(GetOptionalFloat(g, a + "final_logit_softcapping", false, &s.final_softcap));

  // Attention biases: present in the file (checked per layer by Model::Load).
  s.qkv_bias = g.FindTensor("blk.0.attn_q.bias") != nullptr;
  if (family->requires_qkv_bias && !s.qkv_bias) {
    return MakeError(g.path() + ": tensor 'blk.0.attn_q.bias': missing (" + c.arch +
                     " has q/k/v attention biases)");
  }
  if (s.qk_norm && c.rope_dim != c.head_dim) {
    return MakeError(g.path() + ": metadata '" + a + "rope.dimension_count': " + c.arch +
                     " expects head_dim " + std::to_string(c.head_dim) + ", found " +
                     std::to_string(c.rope_dim));
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
  const ArchSettings& s = arch_settings;
  std::string out =
      arch + (name.empty() ? "" : " '" + name + "'") + ": n_layer=" + std::to_string(n_layer) +
      " d_model=" + std::to_string(d_model) + " n_head=" + std::to_string(n_head) +
      " n_kv_head=" + std::to_string(n_kv_head) + " head_dim=" + std::to_string(head_dim) +
      " d_ff=" + std::to_string(d_ff) + " n_vocab=" + std::to_string(n_vocab) +
      " rope_dim=" + std::to_string(rope_dim) + " rope_base=" + std::to_string(rope_freq_base) +
      " rms_eps=" + std::to_string(rms_eps) + (tied_output ? " tied-output" : "");
  if (sliding_window > 0) {
    out += " sliding_window=" + std::to_string(sliding_window) + "/" + std::to_string(swa_pattern) +
           " rope_base_swa=" + std::to_string(rope_freq_base_swa);
  }
  if (s.rope_mode == RopeMode::kNeox) out += " rope=neox";
  if (s.rope_scaling == RopeScaling::kLinear) {
    out += " rope_scale=" + std::to_string(s.rope_freq_scale);
  }
  if (s.rope_scaling == RopeScaling::kFreqFactors) out += " rope_freqs";
  if (s.qkv_bias) out += " qkv-bias";
  if (s.qk_norm) out += " qk-norm";
  if (s.post_norms) out += " post-norms";
  if (s.activation == Activation::kGeluTanh) out += " geglu";
  if (s.attn_softcap > 0) out += " attn_softcap=" + std::to_string(s.attn_softcap);
  if (s.final_softcap > 0) out += " final_softcap=" + std::to_string(s.final_softcap);
  return out;
}

}  // namespace lmul::engine
