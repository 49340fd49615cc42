#include "engine/model/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "engine/model/scaling.h"
#include "kernels/elementwise.h"
#include "kernels/worker_pool.h"

namespace lmul::engine {

const char* SiteOpName(SiteOp op) {
  switch (op) {
    case SiteOp::kQkv:
      return "qkv";
    case SiteOp::kOutput:
      return "attn_output";
    case SiteOp::kQK:
      return "qk";
    case SiteOp::kAV:
      return "av";
    case SiteOp::kGateUp:
      return "gate_up";
    case SiteOp::kDown:
      return "down";
    case SiteOp::kLmHead:
      return "lm_head";
    case SiteOp::kNormScale:
      return "norm_scale";
    case SiteOp::kNormGamma:
      return "norm_gamma";
    case SiteOp::kRope:
      return "rope";
    case SiteOp::kSwiGlu:
      return "swiglu";
  }
  return "?";
}

namespace {

MatrixView RowMajor(const float* data, int rows, int cols, ptrdiff_t ld) {
  return MatrixView{data, rows, cols, ld, 1};
}

// GEMMs below this many products run on one thread: handing work to the kernels'
// worker pool (~1-2 us) and splitting it costs more than it saves on small products
// (decode's per-head attention); 2^17 measured no faster for decode (memory bound).
// Results do not depend on the thread count, so this only affects speed.
constexpr int64_t kMinProductsPerThreadedGemm = int64_t{1} << 20;

kernels::GemmOptions For(const kernels::GemmOptions& o, int64_t M, int64_t N, int64_t K) {
  kernels::GemmOptions r = o;
  if (M * N * K < kMinProductsPerThreadedGemm) r.threads = 1;
  return r;
}

// Compact-weight GEMMs with fewer weights than this run on one thread.
constexpr int64_t kMinWeightsPerThreadedCompactGemm = int64_t{1} << 16;

}  // namespace

Session::Session(const Model& model, const Policy& policy, int n_ctx, int threads)
    : model_(model), policy_(policy), threads_(threads) {
  const ModelConfig& c = model.config();
  n_ctx_ = n_ctx > 0 ? n_ctx : c.n_ctx_train;
  gemm_.accum = policy.accum;
  gemm_.threads = threads;
  // Packs only for the groups the model's storage keeps packed under this policy (null:
  // the group's GEMMs decode the compact file form, Model::CompactGemm); scaled sites always
  // pack (their weights are scaled per matrix at pack time).
  auto packs_for = [&](WeightGroup g, Site site) -> std::shared_ptr<const Model::Packs> {
    const bool scaled = policy.is_scaled(site);
    if (!model.PacksGroup(policy.at(site), policy.accum, scaled)) return nullptr;
    return model.Packed(g, policy.at(site), threads, scaled);
  };
  qkv_ = packs_for(WeightGroup::kQkv, Site::kAttnProj);
  attn_out_ = packs_for(WeightGroup::kAttnOut, Site::kAttnProj);
  gate_up_ = packs_for(WeightGroup::kGateUp, Site::kMlp);
  down_ = packs_for(WeightGroup::kDown, Site::kMlp);
  lm_head_ = packs_for(WeightGroup::kLmHead, Site::kLmHead);
  k_cache_.resize(c.n_layer);
  v_cache_.resize(c.n_layer);
  const ArchSettings& a = c.arch_settings;
  for (int l = 0; l < c.n_layer; ++l) {
    const float base = c.RopeBase(l);
    int t = 0;
    while (t < static_cast<int>(rope_tables_.size()) && rope_tables_[t].base() != base) ++t;
    if (t == static_cast<int>(rope_tables_.size())) {
      rope_tables_.emplace_back(base, c.rope_dim, a.rope_freq_scale, model.rope_freqs());
    }
    rope_table_of_.push_back(t);
  }
}

int64_t Session::weight_bytes_per_token() const {
  const ModelConfig& c = model_.config();
  int64_t bytes = 0;
  const WeightGroup layer_groups[] = {WeightGroup::kQkv, WeightGroup::kAttnOut,
                                      WeightGroup::kGateUp, WeightGroup::kDown};
  const std::shared_ptr<const Model::Packs>* packs_of[] = {&qkv_, &attn_out_, &gate_up_, &down_};
  for (int i = 0; i < 4; ++i) {
    if (*packs_of[i]) {
      for (const Model::GroupPack& p : **packs_of[i]) bytes += static_cast<int64_t>(p.b.bytes());
    } else {
      for (int l = 0; l < c.n_layer; ++l) bytes += model_.GroupFileBytes(layer_groups[i], l);
    }
  }
  if (lm_head_) {
    for (const Model::GroupPack& p : *lm_head_) bytes += static_cast<int64_t>(p.b.bytes());
  } else {
    bytes += model_.GroupFileBytes(WeightGroup::kLmHead, 0);
  }
  return bytes;
}

void Session::WeightGemm(WeightGroup g, Site site, int layer, int M, const float* a, int lda,
                         float* c, int ldc) {
  const int N = model_.GroupN(g), K = model_.GroupK(g);
  const std::shared_ptr<const Model::Packs>* group_packs[] = {&qkv_, &attn_out_, &gate_up_, &down_,
                                                              &lm_head_};
  if (!*group_packs[static_cast<int>(g)]) {
    // Dequantizing costs more than the products: thread every GEMM of a few column blocks.
    kernels::GemmOptions o = gemm_;
    if (int64_t{N} * K < kMinWeightsPerThreadedCompactGemm) o.threads = 1;
    model_.CompactGemm(g, layer, policy_.at(site), M, a, lda, c, ldc, o);
    return;
  }
  const Model::Packs& packs = **group_packs[static_cast<int>(g)];
  Linear(site, M, a, lda, packs[g == WeightGroup::kLmHead ? 0 : layer], c, ldc);
}

void Session::Rewind(int pos) {
  LMUL_CHECK(pos >= 0 && pos <= pos_, "Rewind(%d) with pos() = %d", pos, pos_);
  pos_ = pos;
  // Kept packs holding rows past pos: their statistics (and scales) include those rows.
  for (std::vector<KvPacks>& layer : decode_kv_packs_) {
    for (KvPacks& p : layer) {
      if (p.rows > pos) p.rows = 0;
    }
  }
}

void Session::Observe(Site site, SiteOp op, int layer, int head, const MatrixView& a,
                      const MatrixView& b) {
  observer_->OnSite(SiteEvent{site, op, layer, head, batch_pos0_, a, b});
}

MatrixView Session::WeightView(WeightGroup g, int layer) {
  observer_weight_ = model_.DequantizeGroup(g, layer);  // (N, K)
  const int K = model_.GroupK(g), N = model_.GroupN(g);
  return MatrixView{observer_weight_.data(), K, N, 1, K};  // B(k, n) = w[n * K + k]
}

ops::ElementwiseContext Session::Ew(int layer) const {
  return ops::ElementwiseContext{&policy_.at(Site::kElementwise), observer_, layer, batch_pos0_,
                                 policy_.is_scaled(Site::kElementwise)};
}

void Session::Linear(Site site, int n, const float* a, int lda, const Model::GroupPack& w, float* c,
                     int ldc) {
  const int K = w.b.K(), N = w.b.N();
  if (!policy_.is_scaled(site)) {
    kernels::GemmPacked(n, a, lda, w.b, c, ldc, For(gemm_, n, N, K));
    return;
  }
  // The activation matrix of the batch is one tensor; each weight matrix another
  // (w.col_exp: its exponent per output column).
  const ScaledTensor sa = ScaleTensor(policy_.at(site).format, a, n, K, lda);
  kernels::GemmPacked(n, sa.data.data(), K, w.b, c, ldc, For(gemm_, n, N, K));
  for (int i = 0; i < n; ++i) {
    float* row = c + static_cast<size_t>(i) * ldc;
    for (int j = 0; j < N; ++j) row[j] = Pow2Mul(row[j], -(sa.exp + w.col_exp[j]));
  }
}

// Gathers the q heads (then the k heads) of every row as rows of head_dim, normalises them
// with their weights (one ops::RmsNorm call per head kind) and scatters them back.
void Session::QkNorm(int layer, int n, float* qkv) {
  const ModelConfig& c = model_.config();
  const int hd = c.head_dim;
  const int qkv_w = model_.GroupN(WeightGroup::kQkv);
  const int counts[2] = {c.n_head, c.n_kv_head};
  const std::vector<float>* gammas[2] = {&model_.attn_q_norm(layer), &model_.attn_k_norm(layer)};
  int col = 0;  // first column of the head kind in a qkv row
  for (int kind = 0; kind < 2; ++kind) {
    const size_t w = static_cast<size_t>(counts[kind]) * hd;
    std::vector<float> rows(static_cast<size_t>(n) * w);
    for (int i = 0; i < n; ++i) {
      std::memcpy(rows.data() + i * w, qkv + static_cast<size_t>(i) * qkv_w + col,
                  w * sizeof(float));
    }
    ops::RmsNorm(Ew(layer), n * counts[kind], hd, c.rms_eps, rows.data(), *gammas[kind],
                 rows.data());
    for (int i = 0; i < n; ++i) {
      std::memcpy(qkv + static_cast<size_t>(i) * qkv_w + col, rows.data() + i * w,
                  w * sizeof(float));
    }
    col += static_cast<int>(w);
  }
}

// x (rows, cols; row stride ldx): one kv head's cached keys or values, packed into *into as
// the B operand of `site` (b_trans: B = x^T) for its arithmetic; at a scaled site scaled as one
// tensor first (into->exp: its exponent; 0 when not scaled). packed_rows > 0: *into already
// holds rows [0, packed_rows) of x, packed by this function; only the others are converted
// and appended (the same pack as anew), unless the new rows change a scaled tensor's
// exponent.
void Session::PackKv(Site site, int rows, int cols, const float* x, int ldx, bool b_trans,
                     const kernels::GemmOptions& opts, int packed_rows, KvPack* into) const {
  const Arith& arith = policy_.at(site);
  const int K = b_trans ? cols : rows, N = b_trans ? rows : cols;
  const int fresh = rows - packed_rows;  // rows to pack
  const float* x_fresh = x + static_cast<size_t>(packed_rows) * ldx;
  auto append = [&](const float* b, int ldb) {
    if (b_trans) {
      kernels::AppendBColumns(&into->b, fresh, b, ldb);
    } else {
      kernels::AppendBRows(&into->b, fresh, b, ldb);
    }
  };
  if (!policy_.is_scaled(site)) {
    into->exp = 0;
    if (packed_rows > 0) {
      append(x_fresh, ldx);
    } else {
      kernels::RepackB(&into->b, arith, K, N, x, ldx, b_trans, opts);
    }
    return;
  }
  const float amax =
      std::max(packed_rows > 0 ? into->amax : 0.0f, FiniteAmax(x_fresh, fresh, cols, ldx));
  const int exp = ScaleExponent(arith.format, amax);
  if (packed_rows > 0 && exp == into->exp) {
    const ScaledTensor sx = ScaleRows(arith.format, x_fresh, fresh, cols, ldx, exp);
    append(sx.data.data(), cols);
  } else {
    // (amax of all rows: of the packed ones, kept, and of the new ones; = FiniteAmax(x).)
    const ScaledTensor sx = ScaleRows(arith.format, x, rows, cols, ldx, exp);
    kernels::RepackB(&into->b, arith, K, N, sx.data.data(), cols, b_trans, opts);
  }
  into->amax = amax;
  into->exp = exp;
}

// out (n, n_head * head_dim): attention of the batch's queries over the cache.
void Session::Attention(int layer, int n, const float* qkv, float* out) {
  const ModelConfig& c = model_.config();
  const int hd = c.head_dim, qd = c.n_head * hd, kvd = c.n_kv_head * hd;
  const int qkv_w = model_.GroupN(WeightGroup::kQkv);
  const int T = batch_pos0_ + n;  // keys in the cache
  const int group = c.n_head / c.n_kv_head;
  const float* kc = k_cache_[layer].data();  // (T, n_kv_head, head_dim)
  const float* vc = v_cache_[layer].data();
  const float scale = c.arch_settings.attn_scale;  // 1/sqrtf(head_dim)
  const float softcap = c.arch_settings.attn_softcap;
  const bool sliding = c.IsSlidingLayer(layer);
  // One kv group g: its K_g and V_g packed once into `packs` (PackKv), then multiplied by
  // each of its query heads (GemmPacked on a pack = Gemm per head). keep: packs are kept
  // between calls (holding rows [0, packs.rows), extended to T), else scratch (packed anew).
  // scores: (n, T) scratch; qk / av: the GEMMs' options.
  auto kv_group = [&](int g, KvPacks& packs, bool keep, std::vector<float>& scores,
                      const kernels::GemmOptions& qk, const kernels::GemmOptions& av) {
    // Tensors at a scaled site: K = every cached key of group g (T, head_dim), the batch's
    // own (masked or not) included; V = every cached value of group g (T, head_dim).
    const float* k = kc + static_cast<size_t>(g) * hd;
    const float* v = vc + static_cast<size_t>(g) * hd;
    const int packed = keep ? packs.rows : 0;
    PackKv(Site::kAttnQK, T, hd, k, kvd, /*b_trans=*/true, qk, packed, &packs.k);
    PackKv(Site::kAttnAV, T, hd, v, kvd, /*b_trans=*/false, av, packed, &packs.v);
    packs.rows = keep ? T : 0;
    const kernels::PackedB& pk = packs.k.b;
    const kernels::PackedB& pv = packs.v.b;
    const int k_exp = packs.k.exp, v_exp = packs.v.exp;
    for (int h = g * group; h < (g + 1) * group; ++h) {
      const float* q = qkv + static_cast<size_t>(h) * hd;
      if (observer_) {
        Observe(Site::kAttnQK, SiteOp::kQK, layer, h, RowMajor(q, n, hd, qkv_w),
                MatrixView{k, hd, T, 1, kvd});
      }
      // scores (n, T) = q_h (n, head_dim) . K_g^T (head_dim, T)
      if (policy_.is_scaled(Site::kAttnQK)) {
        // Tensor: Q = the batch's rows of head h (n, head_dim).
        const ScaledTensor sq = ScaleTensor(policy_.at(Site::kAttnQK).format, q, n, hd, qkv_w);
        kernels::GemmPacked(n, sq.data.data(), hd, pk, scores.data(), T, qk);
        UnscaleBlock(scores.data(), n, T, T, sq.exp + k_exp);
      } else {
        kernels::GemmPacked(n, q, qkv_w, pk, scores.data(), T, qk);
      }
      // Causal softmax in fp32 (as ggml_soft_max_ext: scale, max, expf, sum in double)
      // over the row's visible keys, in cache order; masked keys get exact zeros.
      for (int i = 0; i < n; ++i) {
        float* s = scores.data() + static_cast<size_t>(i) * T;
        const RowMask& m = rows_[i];
        // Visible ranges [b0, e0) (context) and [b1, e1) (own tokens). Sliding-window
        // layers: keys at position kp with pos - kp >= window are masked.
        int b0 = 0, e0 = m.ctx_end, b1 = m.own_begin, e1 = m.own_end;
        if (sliding) {
          const int min_pos = m.pos + 1 - c.sliding_window;  // first visible key position
          b0 = std::max(0, min_pos);
          b1 = std::max(m.own_begin, m.own_begin + min_pos - m.ctx_end);
        }
        e0 = std::max(b0, e0);
        e1 = std::max(b1, e1);
        // Visits the visible keys in cache order: [b0, e0) then [b1, e1).
        auto for_visible = [&](auto&& fn) {
          for (int t = b0; t < e0; ++t) fn(s[t]);
          for (int t = b1; t < e1; ++t) fn(s[t]);
        };
        float mx = -INFINITY;
        for_visible([&](float& v) {
          v = ops::SoftCap(v * scale, softcap);
          mx = std::max(mx, v);
        });
        double sum = 0.0;
        for_visible([&](float& v) {
          v = std::exp(v - mx);
          sum += v;
        });
        const float inv = static_cast<float>(1.0 / sum);
        for_visible([&](float& v) { v *= inv; });
        std::fill(s, s + b0, 0.0f);
        std::fill(s + e0, s + b1, 0.0f);
        std::fill(s + e1, s + T, 0.0f);
      }
      if (observer_) {
        Observe(Site::kAttnAV, SiteOp::kAV, layer, h, RowMajor(scores.data(), n, T, T),
                RowMajor(v, T, hd, kvd));
      }
      // out_h (n, head_dim) = p (n, T) . V_g (T, head_dim)
      float* out_h = out + static_cast<size_t>(h) * hd;
      if (policy_.is_scaled(Site::kAttnAV)) {
        // Tensor: P = the batch's probability rows of head h (n, T; masked entries are zeros).
        const ScaledTensor sp =
            ScaleTensor(policy_.at(Site::kAttnAV).format, scores.data(), n, T, T);
        kernels::GemmPacked(n, sp.data.data(), T, pv, out_h, qd, av);
        UnscaleBlock(out_h, n, hd, qd, sp.exp + v_exp);
      } else {
        kernels::GemmPacked(n, scores.data(), T, pv, out_h, qd, av);
      }
    }
  };
  // Decode-sized batches (the attention GEMMs below the threading threshold): the kv groups
  // spread over the threads, each with its own packs and scores (results do not depend on
  // it: every head's products are the same). Else, or under an observer (events in head
  // order), one group after the other with threaded GEMMs.
  const kernels::GemmOptions qk = For(gemm_, n, T, hd), av = For(gemm_, n, hd, T);
  const int parts = std::min(c.n_kv_head, kernels::ResolveThreads(gemm_.threads));
  const bool parallel = observer_ == nullptr && parts > 1 && qk.threads == 1 && av.threads == 1;
  // Decode keeps this layer's packs (the bf16-dot layout cannot be appended to).
  const bool keep = n <= kMaxDecodeRows && gemm_.accum != kernels::Accum::kBf16Dot;
  std::vector<KvPacks>* kept = nullptr;
  if (keep) {
    if (decode_kv_packs_.empty()) decode_kv_packs_.resize(c.n_layer);
    kept = &decode_kv_packs_[layer];
    if (static_cast<int>(kept->size()) < c.n_kv_head) kept->resize(c.n_kv_head);
  } else if (static_cast<int>(kv_packs_.size()) < (parallel ? c.n_kv_head : 1)) {
    kv_packs_.resize(parallel ? c.n_kv_head : 1);
  }
  auto packs_of = [&](int g) -> KvPacks& {
    return keep ? (*kept)[g] : kv_packs_[parallel ? g : 0];
  };
  if (parallel) {
    kernels::RunParts(parts, [&](int part) {
      std::vector<float> scores(static_cast<size_t>(n) * T);
      for (int g = c.n_kv_head * part / parts; g < c.n_kv_head * (part + 1) / parts; ++g) {
        kv_group(g, packs_of(g), keep, scores, qk, av);
      }
    });
    return;
  }
  std::vector<float> scores(static_cast<size_t>(n) * T);
  for (int g = 0; g < c.n_kv_head; ++g) kv_group(g, packs_of(g), keep, scores, qk, av);
}

Status Session::Forward(std::span<const int32_t> tokens, std::vector<float>* logits) {
  return Run(tokens, 0, logits);
}

Status Session::ForwardLast(std::span<const int32_t> tokens, std::vector<float>* logits) {
  if (tokens.empty()) return MakeError("ForwardLast: no tokens");
  return Run(tokens, static_cast<int>(tokens.size()) - 1, logits);
}

Status Session::ForwardBranches(std::span<const std::span<const int32_t>> branches,
                                std::vector<float>* logits) {
  std::vector<int32_t> all;
  std::vector<RowMask> rows;
  const int ctx = pos_;
  for (const std::span<const int32_t>& b : branches) {
    const int begin = ctx + static_cast<int>(all.size());
    for (size_t t = 0; t < b.size(); ++t) {
      const int ti = static_cast<int>(t);
      rows.push_back(RowMask{ctx + ti, ctx, begin, begin + ti + 1});
    }
    all.insert(all.end(), b.begin(), b.end());
  }
  return Run(all, 0, logits, std::move(rows));
}

Status Session::Run(std::span<const int32_t> tokens, int first_logit_row,
                    std::vector<float>* logits, std::vector<RowMask> rows) {
  const ModelConfig& c = model_.config();
  const int n = static_cast<int>(tokens.size());
  for (int i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.n_vocab) {
      return MakeError("Forward: token " + std::to_string(tokens[i]) + " at index " +
                       std::to_string(i) + " outside the vocabulary [0, " +
                       std::to_string(c.n_vocab) + ")");
    }
  }
  if (static_cast<int64_t>(pos_) + n > n_ctx_) {
    return MakeError("Forward: " + std::to_string(pos_) + " cached + " + std::to_string(n) +
                     " new tokens exceed the context of " + std::to_string(n_ctx_));
  }
  const int n_logit_rows = n - first_logit_row;
  if (logits) logits->assign(static_cast<size_t>(n_logit_rows) * c.n_vocab, 0.0f);
  if (n == 0) return Status::Ok();
  batch_pos0_ = pos_;
  if (rows.empty()) {
    rows.resize(n);
    for (int i = 0; i < n; ++i) rows[i] = RowMask{pos_ + i, 0, 0, pos_ + i + 1};
  }
  rows_ = std::move(rows);
  const int d = c.d_model, hd = c.head_dim, qd = c.n_head * hd, kvd = c.n_kv_head * hd;
  const int qkv_w = model_.GroupN(WeightGroup::kQkv), dff = c.d_ff;
  const size_t nd = static_cast<size_t>(n) * d;

  std::vector<float> x(nd), h(nd), o(nd);
  std::vector<float> qkv(static_cast<size_t>(n) * qkv_w), attn(static_cast<size_t>(n) * qd);
  std::vector<float> gu(static_cast<size_t>(n) * 2 * dff), gate(static_cast<size_t>(n) * dff),
      up(static_cast<size_t>(n) * dff);
  const ArchSettings& arch = c.arch_settings;
  for (int i = 0; i < n; ++i) model_.Embed(tokens[i], x.data() + static_cast<size_t>(i) * d);
  for (size_t j = 0; j < nd; ++j) x[j] *= arch.embed_scale;  // fp32 (1: unchanged)
  std::vector<int> positions(n);
  int n_pos = 0;
  for (int i = 0; i < n; ++i) {
    positions[i] = rows_[i].pos;
    n_pos = std::max(n_pos, rows_[i].pos + 1);
  }
  for (ops::RopeTable& t : rope_tables_) t.Ensure(n_pos);

  for (int l = 0; l < c.n_layer; ++l) {
    // --- attention block ---
    ops::RmsNorm(Ew(l), n, d, c.rms_eps, x.data(), model_.attn_norm(l), h.data());
    if (observer_) {
      Observe(Site::kAttnProj, SiteOp::kQkv, l, -1, RowMajor(h.data(), n, d, d),
              WeightView(WeightGroup::kQkv, l));
    }
    WeightGemm(WeightGroup::kQkv, Site::kAttnProj, l, n, h.data(), d, qkv.data(), qkv_w);
    ops::AddBias(n, qkv_w, model_.qkv_bias(l), qkv.data(), qkv_w);  // empty: none
    if (arch.qk_norm) QkNorm(l, n, qkv.data());
    if (policy_.is_scaled(Site::kElementwise)) {
      // Scaled: the q heads and the k heads are separate tensors (as PyTorch rotates them).
      ops::Rope(Ew(l), arch.rope_mode, rope_tables_[rope_table_of_[l]], hd, c.rope_dim, c.n_head, n,
                positions, qkv.data(), qkv_w);
      ops::Rope(Ew(l), arch.rope_mode, rope_tables_[rope_table_of_[l]], hd, c.rope_dim, c.n_kv_head,
                n, positions, qkv.data() + qd, qkv_w);
    } else {
      ops::Rope(Ew(l), arch.rope_mode, rope_tables_[rope_table_of_[l]], hd, c.rope_dim,
                c.n_head + c.n_kv_head, n, positions, qkv.data(), qkv_w);
    }
    // Append k, v of the batch to the cache: (T, n_kv_head, head_dim).
    std::vector<float>& kc = k_cache_[l];
    std::vector<float>& vc = v_cache_[l];
    kc.resize(static_cast<size_t>(pos_ + n) * kvd);
    vc.resize(static_cast<size_t>(pos_ + n) * kvd);
    for (int i = 0; i < n; ++i) {
      const float* row = qkv.data() + static_cast<size_t>(i) * qkv_w;
      std::memcpy(kc.data() + static_cast<size_t>(pos_ + i) * kvd, row + qd, kvd * sizeof(float));
      std::memcpy(vc.data() + static_cast<size_t>(pos_ + i) * kvd, row + qd + kvd,
                  kvd * sizeof(float));
    }
    Attention(l, n, qkv.data(), attn.data());
    if (observer_) {
      Observe(Site::kAttnProj, SiteOp::kOutput, l, -1, RowMajor(attn.data(), n, qd, qd),
              WeightView(WeightGroup::kAttnOut, l));
    }
    WeightGemm(WeightGroup::kAttnOut, Site::kAttnProj, l, n, attn.data(), qd, o.data(), d);
    if (arch.post_norms) {
      ops::RmsNorm(Ew(l), n, d, c.rms_eps, o.data(), model_.post_attn_norm(l), o.data());
    }
    for (size_t j = 0; j < nd; ++j) x[j] += o[j];

    // --- MLP block ---
    ops::RmsNorm(Ew(l), n, d, c.rms_eps, x.data(), model_.ffn_norm(l), h.data());
    if (observer_) {
      Observe(Site::kMlp, SiteOp::kGateUp, l, -1, RowMajor(h.data(), n, d, d),
              WeightView(WeightGroup::kGateUp, l));
    }
    WeightGemm(WeightGroup::kGateUp, Site::kMlp, l, n, h.data(), d, gu.data(), 2 * dff);
    ops::GatedActivation(arch.activation, n, dff, gu.data(), gate.data(), up.data());
    if (observer_) {
      Observe(Site::kElementwise, SiteOp::kSwiGlu, l, -1, RowMajor(gate.data(), n, dff, dff),
              RowMajor(up.data(), n, dff, dff));
    }
    ops::SiteMul(Ew(l), gate.data(), up.data(), gate.data(), static_cast<size_t>(n) * dff);
    if (observer_) {
      Observe(Site::kMlp, SiteOp::kDown, l, -1, RowMajor(gate.data(), n, dff, dff),
              WeightView(WeightGroup::kDown, l));
    }
    WeightGemm(WeightGroup::kDown, Site::kMlp, l, n, gate.data(), dff, o.data(), d);
    if (arch.post_norms) {
      ops::RmsNorm(Ew(l), n, d, c.rms_eps, o.data(), model_.post_ffw_norm(l), o.data());
    }
    for (size_t j = 0; j < nd; ++j) x[j] += o[j];
    if (observer_) observer_->OnLayerOutput(l, batch_pos0_, RowMajor(x.data(), n, d, d));
  }
  pos_ += n;

  if (logits) {
    const int m = n_logit_rows;
    const float* xs = x.data() + static_cast<size_t>(first_logit_row) * d;
    ops::RmsNorm(Ew(-1), m, d, c.rms_eps, xs, model_.output_norm(), h.data());
    if (observer_) {
      Observe(Site::kLmHead, SiteOp::kLmHead, -1, -1, RowMajor(h.data(), m, d, d),
              WeightView(WeightGroup::kLmHead, 0));
    }
    WeightGemm(WeightGroup::kLmHead, Site::kLmHead, -1, m, h.data(), d, logits->data(), c.n_vocab);
    if (arch.final_softcap > 0) {
      for (float& z : *logits) z = ops::SoftCap(z, arch.final_softcap);
    }
  }
  if (observer_) observer_weight_ = {};
  return Status::Ok();
}

}  // namespace lmul::engine
