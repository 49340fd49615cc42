// Session: one sequence being run through a Model under a Policy: the KV cache,
// the packed weights for the policy's arithmetics, scratch buffers.
//
// Forward of n tokens (a batch: prefill; n = 1: decode) runs exactly the same
// arithmetic per element whatever the batch split, so logits from one
// Forward(all) equal those from token-by-token Forwards bit for bit, and results
// are identical for any thread count (the kernels' canonical order).
//
// Per layer, x (n_tokens, d_model) the residual stream; the optional steps are the
// architecture's settings (ModelConfig::arch_settings, config.h), never its name:
//   x    = token_embd[t] * embed_scale                    fp32 (Gemma: sqrt(d_model))
//   h    = RMSNorm(x) * attn_norm                         elementwise
//   qkv  = h . [Wq; Wk; Wv]^T (+ [bq; bk; bv])            attn.proj (bias: fp32 add)
//   q, k = RMSNorm_head(q) * q_norm, ... (qk_norm)        elementwise
//   q, k = RoPE(q), RoPE(k)  normal pairs (2i, 2i+1) or NEOX pairs (i, i + rope_dim/2);
//          theta_i = freq_scale * pos * base_l^(-2i/rope_dim) / freq_factor_i
//   per head h (kv head g = h / (n_head / n_kv_head)):
//     s = q_h . K_g^T                                      attn.qk  (n_tokens, n_past)
//     p = softmax(softcap(s * attn_scale) + mask)          fp32 (causal; sliding layers
//                                                          also mask pos - j >= window)
//     o_h = p . V_g                                        attn.av  (n_tokens, head_dim)
//   a    = o . Wo^T                                        attn.proj
//   x   += a  or  RMSNorm(a) * post_attention_norm         (post_norms: elementwise)
//   h    = RMSNorm(x) * ffn_norm                           elementwise
//   m    = (act(h . Wgate^T) * (h . Wup^T)) . Wdown^T      mlp, elementwise (the *), mlp;
//                                                          act silu or gelu_tanh (fp32)
//   x   += m  or  RMSNorm(m) * post_ffw_norm               (post_norms: elementwise)
// logits = softcap((RMSNorm(x) * output_norm) . Wout^T)   lm_head (norm: elementwise)
#ifndef LMUL_ENGINE_MODEL_SESSION_H_
#define LMUL_ENGINE_MODEL_SESSION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "engine/model/model.h"
#include "engine/model/observer.h"
#include "engine/model/ops.h"
#include "engine/model/policy.h"

namespace lmul::engine {

// Not thread-safe: one thread drives a session (its GEMMs use `threads` internally).
// Several sessions may share one Model concurrently.
class Session {
 public:
  // n_ctx: KV cache capacity in tokens (<= 0: the model's training context);
  // threads: GEMM threads (0 = all cores). With WeightStorage::kPacked, packs the weights
  // for the policy's arithmetics unless another live session already did; with kCompact
  // (the default) the GEMMs read the model's compact weights and nothing is packed.
  Session(const Model& model, const Policy& policy, int n_ctx, int threads);

  const Model& model() const { return model_; }
  const Policy& policy() const { return policy_; }
  int n_ctx() const { return n_ctx_; }
  int threads() const { return threads_; }
  int pos() const { return pos_; }  // tokens currently in the KV cache
  // Bytes of GEMM weights one decoded token reads: the compact tensors (kCompact) or the
  // packs (kPacked) of every layer and of the LM head.
  int64_t weight_bytes_per_token() const;
  void Rewind(int pos);  // keep the first `pos` tokens (0 <= pos <= pos())

  // Runs tokens at positions pos()..pos()+n-1 and appends them to the KV cache. If
  // logits is non-null it is resized to n x n_vocab; row t holds the next-token
  // logits after tokens[t]. Errors: a token outside [0, n_vocab), or n_ctx exceeded
  // (the session is then unchanged).
  Status Forward(std::span<const int32_t> tokens, std::vector<float>* logits);
  // The same, but logits (resized to n_vocab) only for the last token: skips the LM
  // head for the others (generation's prefill). Bit-identical to that row of Forward.
  Status ForwardLast(std::span<const int32_t> tokens, std::vector<float>* logits);

  // Several continuations of the cached context in one batch (multiple-choice scoring:
  // the choices of a question share one prefill of their context). Runs the tokens of
  // every branch, concatenated, as one Forward in which a token of branch b at offset t
  // sits at position pos() + t and sees the cached context and branch b's tokens 0..t
  // only. logits (if non-null) is resized to sum(len) x n_vocab, rows in branch order;
  // each row equals, bit for bit, what Rewind(context) + Forward(branch b) gives (masked
  // keys contribute exact zeros; the kernels' sums do not depend on M or N). The cache
  // then holds all branches: Rewind(context length) before running anything else.
  Status ForwardBranches(std::span<const std::span<const int32_t>> branches,
                         std::vector<float>* logits);

  // Observer of every multiplication site's operands (null: none). Not owned.
  void set_observer(ActivationObserver* observer) { observer_ = observer; }

 private:
  // Logits for rows [first_logit_row, n) into *logits (if non-null).
  // Keys visible to one query row: cache indices [0, ctx_end) and [own_begin, own_end);
  // pos is the row's position (RoPE, sliding window). A plain Forward has ctx_end = 0,
  // own_begin = 0, own_end = pos + 1.
  struct RowMask {
    int pos, ctx_end, own_begin, own_end;
  };
  Status Run(std::span<const int32_t> tokens, int first_logit_row, std::vector<float>* logits,
             std::vector<RowMask> rows = {});
  void Attention(int layer, int n, const float* qkv, float* out);
  // One kv head's cached keys or values packed as a B operand (Attention), with what a
  // scaled site needs to extend it: the amax of the packed rows and their scale exponent.
  struct KvPack {
    kernels::PackedB b;
    float amax = 0.0f;
    int exp = 0;
  };
  void PackKv(Site site, int rows, int cols, const float* x, int ldx, bool b_trans,
              const kernels::GemmOptions& opts, int packed_rows, KvPack* into) const;
  void Observe(Site site, SiteOp op, int layer, int head, const MatrixView& a, const MatrixView& b);
  MatrixView WeightView(WeightGroup g, int layer);
  ops::ElementwiseContext Ew(int layer) const;
  // c (M x GroupN) = a (M x GroupK) . Wᵀ of the group (its site's arithmetic), from the
  // packs or the compact weights.
  void WeightGemm(WeightGroup g, Site site, int layer, int M, const float* a, int lda, float* c,
                  int ldc);
  // c (n, N) = a (n, K) . the packed weights w, at `site` (scaled per tensor when the
  // policy scales the site).
  void Linear(Site site, int n, const float* a, int lda, const Model::GroupPack& w, float* c,
              int ldc);
  // Per-head RMSNorm of the q and k parts of qkv rows (n, qkv_width), in place.
  void QkNorm(int layer, int n, float* qkv);

  const Model& model_;
  Policy policy_;
  int n_ctx_;
  int threads_;
  int pos_ = 0;
  kernels::GemmOptions gemm_;
  ActivationObserver* observer_ = nullptr;
  int batch_pos0_ = 0;         // cache index of the first token of the running Forward
  std::vector<RowMask> rows_;  // per row of the running Forward

  std::shared_ptr<const Model::Packs> qkv_, attn_out_, gate_up_, down_, lm_head_;

  // KV cache per layer: (pos, n_kv_head, head_dim), grown as tokens arrive.
  std::vector<std::vector<float>> k_cache_, v_cache_;
  // One kv head's keys and values packed for its site's arithmetic, scaled first at a scaled
  // site (Attention: once per kv head and layer, then multiplied by each query head of the
  // group). rows: the cache rows [0, rows) they hold.
  struct KvPacks {
    KvPack k, v;
    int rows = 0;
  };
  // Batches of more than kMaxDecodeRows tokens pack every cached row anew into scratch
  // packs, reused: one per kv head when the kv heads run on several threads, else only the
  // first. Decode-sized batches keep their packs per layer and kv head and append the new
  // rows (kernels::AppendB*): one more copy of the cache's keys and values in the
  // arithmetic's operand form, only in sessions that decode; Rewind below a pack's rows
  // drops it (packed anew at the next use).
  static constexpr int kMaxDecodeRows = 8;
  std::vector<KvPacks> kv_packs_;
  std::vector<std::vector<KvPacks>> decode_kv_packs_;  // [layer][kv head]
  std::vector<float> observer_weight_;                 // dequantized weight for observer views
  // RoPE tables, one per distinct base; layer l uses rope_tables_[rope_table_of_[l]].
  std::vector<ops::RopeTable> rope_tables_;
  std::vector<int> rope_table_of_;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_SESSION_H_
