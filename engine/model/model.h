// Model: a decoder-only transformer loaded from GGUF (the families of ModelConfig: Llama,
// Mistral, Qwen2, Gemma 2, Gemma 3). Weights stay in the memory-mapped file in their
// file's compact form (WeightStorage::kCompact): every weight GEMM dequantizes its B a
// column block at a time inside the kernel (kernels::GemmRows), so the weights are never
// held in fp32. WeightStorage::kPacked instead dequantizes and packs each GEMM weight once
// per arithmetic, on first use, by kernels::PackB (about 4 bytes per weight), and the packs
// are shared by all sessions using that arithmetic. WeightStorage::kAuto (the default)
// decides per weight group and arithmetic: compact where the kernels have a fused decode
// GEMV for the group's arithmetic (the kernel plan's GemvKernels(), kernels/plan.h), packed (lazily, shared) where
// they don't, so a policy without one (lmul-all) decodes at the packed speed and the others
// keep the compact memory. All three give the same bits.
//
// Weight shapes (outermost first; GGUF stores ne innermost first):
//   token_embd.weight        (n_vocab, d_model)
//   blk.L.attn_norm.weight   (d_model)
//   blk.L.attn_q.weight      (n_head * head_dim, d_model)
//   blk.L.attn_k.weight      (n_kv_head * head_dim, d_model)
//   blk.L.attn_v.weight      (n_kv_head * head_dim, d_model)
//   blk.L.attn_output.weight (d_model, n_head * head_dim)
//   blk.L.ffn_norm.weight    (d_model)
//   blk.L.ffn_gate.weight    (d_ff, d_model)
//   blk.L.ffn_up.weight      (d_ff, d_model)
//   blk.L.ffn_down.weight    (d_model, d_ff)
//   output_norm.weight       (d_model)
//   output.weight            (n_vocab, d_model)   absent when tied to token_embd
// As the architecture settings (config.h) require:
//   blk.L.attn_{q,k,v}.bias  (n_head * head_dim), (n_kv_head * head_dim) x 2   qkv_bias
//   blk.L.attn_q_norm.weight, blk.L.attn_k_norm.weight (head_dim)              qk_norm
//   blk.L.post_attention_norm.weight, blk.L.post_ffw_norm.weight (d_model)     post_norms
//   rope_freqs.weight        (rope_dim / 2)                                    kFreqFactors
#ifndef LMUL_ENGINE_MODEL_MODEL_H_
#define LMUL_ENGINE_MODEL_MODEL_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf.h"
#include "engine/model/config.h"
#include "kernels/gemm.h"
#include "kernels/gemv.h"
#include "numeric/arith.h"

namespace lmul::engine {

class Tokenizer;

// GEMM weight groups; each is packed as one B matrix (K x N) per layer.
enum class WeightGroup : int {
  kQkv = 0,  // [Wq; Wk; Wv]: K = d_model, N = (n_head + 2 n_kv_head) head_dim
  kAttnOut,  // Wo: K = n_head head_dim, N = d_model
  kGateUp,   // [Wgate; Wup]: K = d_model, N = 2 d_ff
  kDown,     // Wdown: K = d_ff, N = d_model
  kLmHead,   // output (or token_embd): K = d_model, N = n_vocab; one entry
};

// Where the GEMM weights live between calls (see the top of this file).
enum class WeightStorage { kCompact, kPacked, kAuto };
const char* WeightStorageName(WeightStorage s);  // "compact", "packed", "auto"
Result<WeightStorage> ParseWeightStorage(const std::string& name);

// The kernels' name of a GGUF type's row layout (kernels::RowFormat::kOther: the engine
// dequantizes rows of that type itself, engine/io/dequant.h).
kernels::RowFormat RowFormatOf(GgmlType type);

struct LoadOptions {
  WeightStorage weights = WeightStorage::kAuto;
};

class Model {
 public:
  // Loads and validates the GGUF (every tensor present, shaped and of a supported
  // type). The tokenizer is built when the file has tokenizer metadata
  // (tokenizer.ggml.model); a file without any (synthetic test models) loads without one.
  static Result<std::unique_ptr<Model>> Load(const std::string& gguf_path,
                                             const LoadOptions& options = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  const GgufFile& gguf() const { return *gguf_; }
  WeightStorage weight_storage() const { return storage_; }
  // Whether a session keeps group g's weights packed for `arith` (see kAuto above): always
  // under kPacked, never under kCompact, under kAuto when the kernels have no fused
  // compact decode GEMV for (arith, accum). A scaled site (engine/model/scaling.h) always
  // packs: its weights are scaled per matrix at pack time.
  bool PacksGroup(const Arith& arith, kernels::Accum accum, bool scaled) const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const Tokenizer& tokenizer() const;  // LMUL_CHECKs has_tokenizer()

  // Embedding row of `token` (0 <= token < n_vocab) into out[d_model].
  void Embed(int32_t token, float* out) const;
  // (d_model) norm weights.
  const std::vector<float>& attn_norm(int layer) const { return attn_norm_[layer]; }
  const std::vector<float>& ffn_norm(int layer) const { return ffn_norm_[layer]; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  // Present as the architecture settings say (empty vectors otherwise): per-head q and k
  // norm weights (head_dim; qk_norm), the post-attention / post-MLP norm weights (d_model;
  // post_norms), the attention biases [bq; bk; bv] (GroupN(kQkv); qkv_bias) and the RoPE
  // frequency factors (rope_dim / 2; RopeScaling::kFreqFactors).
  const std::vector<float>& attn_q_norm(int layer) const { return layer_vectors_[layer].q_norm; }
  const std::vector<float>& attn_k_norm(int layer) const { return layer_vectors_[layer].k_norm; }
  const std::vector<float>& post_attn_norm(int layer) const {
    return layer_vectors_[layer].post_attn_norm;
  }
  const std::vector<float>& post_ffw_norm(int layer) const {
    return layer_vectors_[layer].post_ffw_norm;
  }
  const std::vector<float>& qkv_bias(int layer) const { return layer_vectors_[layer].qkv_bias; }
  const std::vector<float>& rope_freqs() const { return rope_freqs_; }

  // The group's weights as fp32, row-major (N, K) (row n = output feature n). `layer`
  // is ignored for kLmHead.
  std::vector<float> DequantizeGroup(WeightGroup g, int layer) const;
  int GroupK(WeightGroup g) const;
  int GroupN(WeightGroup g) const;
  // Bytes of the group's weights in the file (its compact form). `layer` as above.
  int64_t GroupFileBytes(WeightGroup g, int layer) const;

  // C (M x GroupN) = A (M x GroupK) . Wᵀ of the group with `arith` (c[i*ldc + n]), from the
  // compact weights: each column block is dequantized just before it is used
  // (kernels::GemmRows). Bit-identical to GemmPacked on Packed(g, arith)[layer].
  void CompactGemm(WeightGroup g, int layer, const Arith& arith, int M, const float* a, int lda,
                   float* c, int ldc, const kernels::GemmOptions& opts) const;

  // Bytes of the interleaved forms built so far (kernels::InterleaveRows: the exact/fp32
  // decode GEMV's copy of a group's Q4_0/Q4_1/Q8_0 rows, built on first use; the file's
  // pages of those tensors are then released). Not to be called during a forward.
  int64_t InterleavedBytes() const;

  // Rows (output features) of each weight matrix of the group, in order (sum GroupN).
  std::vector<int> GroupPartRows(WeightGroup g) const;

  // One layer's (or the head's) packed group. Scaled sites (engine/model/scaling.h): each
  // weight matrix of the group (Wq, Wk, Wv; Wgate, Wup; Wo; Wdown; the head) is one tensor,
  // packed scaled and saturated; col_exp[n] is the scale exponent of the matrix holding
  // output column n (empty when not scaled).
  struct GroupPack {
    kernels::PackedB b;
    std::vector<int> col_exp;
  };
  // Packs of a group for one arithmetic (one entry per layer; one for kLmHead).
  // Packed on first use with up to `threads` threads (0 = all cores) and cached in the
  // model (about 4 bytes per weight per distinct arithmetic) until ClearPackCache().
  using Packs = std::vector<GroupPack>;
  std::shared_ptr<const Packs> Packed(WeightGroup g, const Arith& arith, int threads,
                                      bool scaled = false) const;
  // Drops the cached packs (sessions keep theirs alive until destroyed).
  void ClearPackCache() const;

 private:
  Model() = default;
  std::vector<const GgufTensor*> GroupParts(WeightGroup g, int layer) const;
  std::unique_ptr<GgufFile> gguf_;
  WeightStorage storage_ = WeightStorage::kAuto;
  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  const GgufTensor* token_embd_ = nullptr;
  const GgufTensor* output_ = nullptr;  // == token_embd_ when tied
  struct LayerTensors {
    const GgufTensor *q, *k, *v, *o, *gate, *up, *down;
  };
  std::vector<LayerTensors> layers_;
  std::vector<std::vector<float>> attn_norm_, ffn_norm_;
  std::vector<float> output_norm_;
  struct LayerVectors {
    std::vector<float> q_norm, k_norm, post_attn_norm, post_ffw_norm, qkv_bias;
  };
  std::vector<LayerVectors> layer_vectors_;
  std::vector<float> rope_freqs_;

  mutable std::mutex pack_mu_;
  mutable std::map<std::pair<int, std::string>, std::shared_ptr<const Packs>> pack_cache_;
  // The interleaved forms of the compact groups (kernels::InterleaveRows), built by
  // CompactGemm on first use: kGroupsPerLayer per layer (WeightGroup order), then the head.
  static constexpr int kGroupsPerLayer = 4;
  struct InterleavedSlot {
    std::once_flag once;
    kernels::InterleavedRows rows;
  };
  mutable std::vector<std::unique_ptr<InterleavedSlot>> interleaved_;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_MODEL_H_
