#include "engine/model/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "kernels/elementwise.h"

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

}  // namespace

Session::Session(const Model& model, const Policy& policy, int n_ctx, int threads)
    : model_(model), policy_(policy), threads_(threads) {
  const ModelConfig& c = model.config();
  n_ctx_ = n_ctx > 0 ? n_ctx : c.n_ctx_train;
  gemm_.accum = policy.accum;
  gemm_.threads = threads;
  qkv_ = model.Packed(WeightGroup::kQkv, policy.at(Site::kAttnProj), threads);
  attn_out_ = model.Packed(WeightGroup::kAttnOut, policy.at(Site::kAttnProj), threads);
  gate_up_ = model.Packed(WeightGroup::kGateUp, policy.at(Site::kMlp), threads);
  down_ = model.Packed(WeightGroup::kDown, policy.at(Site::kMlp), threads);
  lm_head_ = model.Packed(WeightGroup::kLmHead, policy.at(Site::kLmHead), threads);
  k_cache_.resize(c.n_layer);
  v_cache_.resize(c.n_layer);
}

void Session::Rewind(int pos) {
  LMUL_CHECK(pos >= 0 && pos <= pos_, "Rewind(%d) with pos() = %d", pos, pos_);
  pos_ = pos;
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

// out (n, d_model) = x * 1/rms(x) * gamma: two elementwise products, as llama.cpp's
// rms_norm (sum of squares in double, scale = 1/sqrtf(mean + eps)) followed by mul.
void Session::RmsNorm(int layer, int n, const float* x, const std::vector<float>& gamma,
                      float* out) {
  const int d = model_.config().d_model;
  const float eps = model_.config().rms_eps;
  const Arith& ew = policy_.at(Site::kElementwise);
  std::vector<float> scale(static_cast<size_t>(n) * d), gammas(static_cast<size_t>(n) * d);
  for (int i = 0; i < n; ++i) {
    const float* xi = x + static_cast<size_t>(i) * d;
    double sum = 0.0;
    for (int j = 0; j < d; ++j) sum += static_cast<double>(xi[j] * xi[j]);
    const float mean = static_cast<float>(sum / d);
    const float s = 1.0f / std::sqrt(mean + eps);
    std::fill_n(scale.data() + static_cast<size_t>(i) * d, d, s);
    std::copy(gamma.begin(), gamma.end(), gammas.begin() + static_cast<ptrdiff_t>(i) * d);
  }
  const size_t total = static_cast<size_t>(n) * d;
  if (observer_) {
    Observe(Site::kElementwise, SiteOp::kNormScale, layer, -1, RowMajor(x, n, d, d),
            RowMajor(scale.data(), n, d, d));
  }
  kernels::MulElementwise(ew, x, scale.data(), out, total);
  if (observer_) {
    Observe(Site::kElementwise, SiteOp::kNormGamma, layer, -1, RowMajor(out, n, d, d),
            RowMajor(gammas.data(), n, d, d));
  }
  kernels::MulElementwise(ew, out, gammas.data(), out, total);
}

void Session::NormRows(int layer, int rows, int width, const float* x,
                       const std::vector<float>& gamma, float* out) {
  const float eps = model_.config().rms_eps;
  const Arith& ew = policy_.at(Site::kElementwise);
  const size_t total = static_cast<size_t>(rows) * width;
  std::vector<float> scale(total), gammas(total);
  for (int i = 0; i < rows; ++i) {
    const float* xi = x + static_cast<size_t>(i) * width;
    double sum = 0.0;
    for (int j = 0; j < width; ++j) sum += static_cast<double>(xi[j] * xi[j]);
    const float mean = static_cast<float>(sum / width);
    const float s = 1.0f / std::sqrt(mean + eps);
    std::fill_n(scale.data() + static_cast<size_t>(i) * width, width, s);
    std::copy(gamma.begin(), gamma.end(), gammas.begin() + static_cast<ptrdiff_t>(i) * width);
  }
  if (observer_) {
    Observe(Site::kElementwise, SiteOp::kNormScale, layer, -1, RowMajor(x, rows, width, width),
            RowMajor(scale.data(), rows, width, width));
  }
  kernels::MulElementwise(ew, x, scale.data(), out, total);
  if (observer_) {
    Observe(Site::kElementwise, SiteOp::kNormGamma, layer, -1, RowMajor(out, rows, width, width),
            RowMajor(gammas.data(), rows, width, width));
  }
  kernels::MulElementwise(ew, out, gammas.data(), out, total);
}

// Gemma 3: per-head RMSNorm of the q and k parts of qkv rows (n, qkv_width), then RoPE in
// NEOX mode: (x_i, x_{i+h}) -> (x_i cos - x_{i+h} sin, x_{i+h} cos + x_i sin), h = rope_dim/2,
// theta_i = pos * base^(-2i/rope_dim) built as ggml_rope_cache_init in fp32.
void Session::GemmaQkNormRope(int layer, int n, float* qkv) {
  const ModelConfig& c = model_.config();
  const int hd = c.head_dim, rd = c.rope_dim, half = rd / 2;
  const int heads = c.n_head + c.n_kv_head;
  const int w = heads * hd;
  const int qkv_w = model_.GroupN(WeightGroup::kQkv);
  const size_t total = static_cast<size_t>(n) * w;
  // Gather q and k heads as rows of head_dim, normalise, scatter back.
  std::vector<float> rows(total);
  for (int i = 0; i < n; ++i) {
    std::memcpy(rows.data() + static_cast<size_t>(i) * w, qkv + static_cast<size_t>(i) * qkv_w,
                static_cast<size_t>(w) * sizeof(float));
  }
  // rows are (n, heads, hd): q heads then k heads per token; norm q heads and k heads with
  // their own weights (row-wise, so one call per head kind on a strided gather).
  std::vector<float> qrows(static_cast<size_t>(n) * c.n_head * hd),
      krows(static_cast<size_t>(n) * c.n_kv_head * hd);
  for (int i = 0; i < n; ++i) {
    const float* r = rows.data() + static_cast<size_t>(i) * w;
    std::memcpy(qrows.data() + static_cast<size_t>(i) * c.n_head * hd, r,
                static_cast<size_t>(c.n_head) * hd * sizeof(float));
    std::memcpy(krows.data() + static_cast<size_t>(i) * c.n_kv_head * hd, r + c.n_head * hd,
                static_cast<size_t>(c.n_kv_head) * hd * sizeof(float));
  }
  NormRows(layer, n * c.n_head, hd, qrows.data(), model_.attn_q_norm(layer), qrows.data());
  NormRows(layer, n * c.n_kv_head, hd, krows.data(), model_.attn_k_norm(layer), krows.data());
  for (int i = 0; i < n; ++i) {
    float* r = rows.data() + static_cast<size_t>(i) * w;
    std::memcpy(r, qrows.data() + static_cast<size_t>(i) * c.n_head * hd,
                static_cast<size_t>(c.n_head) * hd * sizeof(float));
    std::memcpy(r + c.n_head * hd, krows.data() + static_cast<size_t>(i) * c.n_kv_head * hd,
                static_cast<size_t>(c.n_kv_head) * hd * sizeof(float));
  }
  // NEOX tables for this layer's base.
  const int which = c.IsSlidingLayer(layer) ? 0 : 1;
  std::vector<float>& tc = neox_cos_[which];
  std::vector<float>& ts = neox_sin_[which];
  int n_pos = 0;
  for (int i = 0; i < n; ++i) n_pos = std::max(n_pos, rows_[i].pos + 1);
  const int have = static_cast<int>(tc.size() / half);
  if (have < n_pos) {
    tc.resize(static_cast<size_t>(n_pos) * half);
    ts.resize(static_cast<size_t>(n_pos) * half);
    const float theta_scale = std::pow(c.RopeBase(layer), -2.0f / static_cast<float>(rd));
    for (int p = have; p < n_pos; ++p) {
      float theta = static_cast<float>(p);
      for (int i = 0; i < half; ++i) {
        tc[static_cast<size_t>(p) * half + i] = std::cos(theta);
        ts[static_cast<size_t>(p) * half + i] = std::sin(theta);
        theta *= theta_scale;
      }
    }
  }
  std::vector<float> xs(total), cs(total), sn(total), t1(total), t2(total);
  for (int i = 0; i < n; ++i) {
    const float* pc = tc.data() + static_cast<size_t>(rows_[i].pos) * half;
    const float* ps = ts.data() + static_cast<size_t>(rows_[i].pos) * half;
    for (int h = 0; h < heads; ++h) {
      const size_t o = static_cast<size_t>(i) * w + static_cast<size_t>(h) * hd;
      for (int j = 0; j < hd; ++j) {
        if (j < rd) {
          const int pi = j < half ? j : j - half;
          xs[o + j] = rows[o + (j < half ? j + half : j - half)];
          cs[o + j] = pc[pi];
          sn[o + j] = j < half ? -ps[pi] : ps[pi];
        } else {
          xs[o + j] = rows[o + j];
          cs[o + j] = 1.0f;
          sn[o + j] = 0.0f;
        }
      }
    }
  }
  const Arith& ew = policy_.at(Site::kElementwise);
  if (observer_) {
    Observe(Site::kElementwise, SiteOp::kRope, layer, -1, RowMajor(rows.data(), n, w, w),
            RowMajor(cs.data(), n, w, w));
    Observe(Site::kElementwise, SiteOp::kRope, layer, -1, RowMajor(xs.data(), n, w, w),
            RowMajor(sn.data(), n, w, w));
  }
  kernels::MulElementwise(ew, rows.data(), cs.data(), t1.data(), total);
  kernels::MulElementwise(ew, xs.data(), sn.data(), t2.data(), total);
  for (int i = 0; i < n; ++i) {
    float* row = qkv + static_cast<size_t>(i) * qkv_w;
    const size_t o = static_cast<size_t>(i) * w;
    for (int j = 0; j < w; ++j) {
      row[j] = (j % hd) < rd ? t1[o + j] + t2[o + j] : rows[o + j];
    }
  }
}

void Session::EnsureRopeTable(int n_pos) {
  const ModelConfig& c = model_.config();
  const int rd = c.rope_dim;
  const int have = static_cast<int>(rope_cos_.size() / rd);
  if (have >= n_pos) return;
  rope_cos_.resize(static_cast<size_t>(n_pos) * rd);
  rope_sin_.resize(static_cast<size_t>(n_pos) * rd);
  // As ggml_rope_cache_init (mode 0, no scaling): theta_0 = pos, theta_{i+1} = theta_i *
  // powf(base, -2/rope_dim), all in fp32.
  const float theta_scale = std::pow(c.rope_freq_base, -2.0f / static_cast<float>(rd));
  for (int p = have; p < n_pos; ++p) {
    float theta = static_cast<float>(p);
    float* cs = rope_cos_.data() + static_cast<size_t>(p) * rd;
    float* sn = rope_sin_.data() + static_cast<size_t>(p) * rd;
    for (int i = 0; i < rd; i += 2) {
      const float co = std::cos(theta), si = std::sin(theta);
      cs[i] = co;
      cs[i + 1] = co;
      sn[i] = -si;
      sn[i + 1] = si;
      theta *= theta_scale;
    }
  }
}

// Rotates the q and k parts of qkv rows (n, qkv_width) in place:
//   (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)  == x * C + swap(x) * S
// with the products through the elementwise arithmetic and the sums in fp32.
void Session::Rope(int layer, int n, float* qkv) {
  const ModelConfig& c = model_.config();
  const int hd = c.head_dim, rd = c.rope_dim;
  const int heads = c.n_head + c.n_kv_head;
  const int w = heads * hd;  // q and k parts: the first w columns of each row
  const int qkv_w = model_.GroupN(WeightGroup::kQkv);
  int n_pos = 0;
  for (int i = 0; i < n; ++i) n_pos = std::max(n_pos, rows_[i].pos + 1);
  EnsureRopeTable(n_pos);
  const size_t total = static_cast<size_t>(n) * w;
  std::vector<float> x(total), xs(total), cs(total), sn(total), t1(total), t2(total);
  for (int i = 0; i < n; ++i) {
    const float* row = qkv + static_cast<size_t>(i) * qkv_w;
    const float* pc = rope_cos_.data() + static_cast<size_t>(rows_[i].pos) * rd;
    const float* ps = rope_sin_.data() + static_cast<size_t>(rows_[i].pos) * rd;
    for (int h = 0; h < heads; ++h) {
      const size_t o = static_cast<size_t>(i) * w + static_cast<size_t>(h) * hd;
      for (int j = 0; j < hd; ++j) {
        x[o + j] = row[h * hd + j];
        xs[o + j] = row[h * hd + (j ^ 1)];
        cs[o + j] = j < rd ? pc[j] : 1.0f;
        sn[o + j] = j < rd ? ps[j] : 0.0f;
      }
    }
  }
  const Arith& ew = policy_.at(Site::kElementwise);
  if (observer_) {
    Observe(Site::kElementwise, SiteOp::kRope, layer, -1, RowMajor(x.data(), n, w, w),
            RowMajor(cs.data(), n, w, w));
    Observe(Site::kElementwise, SiteOp::kRope, layer, -1, RowMajor(xs.data(), n, w, w),
            RowMajor(sn.data(), n, w, w));
  }
  kernels::MulElementwise(ew, x.data(), cs.data(), t1.data(), total);
  kernels::MulElementwise(ew, xs.data(), sn.data(), t2.data(), total);
  for (int i = 0; i < n; ++i) {
    float* row = qkv + static_cast<size_t>(i) * qkv_w;
    for (int h = 0; h < heads; ++h) {
      const size_t o = static_cast<size_t>(i) * w + static_cast<size_t>(h) * hd;
      for (int j = 0; j < rd; ++j) row[h * hd + j] = t1[o + j] + t2[o + j];
      // Dimensions beyond rope_dim pass through unchanged.
    }
  }
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
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool sliding = c.IsSlidingLayer(layer);
  std::vector<float> scores(static_cast<size_t>(n) * T);
  for (int h = 0; h < c.n_head; ++h) {
    const int g = h / group;
    const float* q = qkv + static_cast<size_t>(h) * hd;
    const float* k = kc + static_cast<size_t>(g) * hd;
    const float* v = vc + static_cast<size_t>(g) * hd;
    if (observer_) {
      Observe(Site::kAttnQK, SiteOp::kQK, layer, h, RowMajor(q, n, hd, qkv_w),
              MatrixView{k, hd, T, 1, kvd});
    }
    // scores (n, T) = q_h (n, head_dim) . K_g^T (head_dim, T)
    kernels::Gemm(policy_.at(Site::kAttnQK), n, T, hd, q, qkv_w, k, kvd, /*b_trans=*/true,
                  scores.data(), T, For(gemm_, n, T, hd));
    // Causal softmax in fp32 (as ggml_soft_max_ext: scale, max, expf, sum in double)
    // over the row's visible keys, in cache order; masked keys get exact zeros.
    for (int i = 0; i < n; ++i) {
      float* s = scores.data() + static_cast<size_t>(i) * T;
      const RowMask& m = rows_[i];
      // Visible ranges [b0, e0) (context) and [b1, e1) (own tokens). Sliding-window
      // layers (Gemma 3): keys at position kp with pos - kp >= window are masked.
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
        v *= scale;
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
    kernels::Gemm(policy_.at(Site::kAttnAV), n, hd, T, scores.data(), T, v, kvd,
                  /*b_trans=*/false, out + static_cast<size_t>(h) * hd, qd, For(gemm_, n, hd, T));
  }
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
  for (int i = 0; i < n; ++i) model_.Embed(tokens[i], x.data() + static_cast<size_t>(i) * d);
  if (c.gemma) {  // llama.cpp: ggml_scale(inpL, sqrtf(n_embd)), fp32
    const float es = std::sqrt(static_cast<float>(d));
    for (size_t j = 0; j < nd; ++j) x[j] *= es;
  }

  const Arith& ew = policy_.at(Site::kElementwise);
  for (int l = 0; l < c.n_layer; ++l) {
    // --- attention block ---
    RmsNorm(l, n, x.data(), model_.attn_norm(l), h.data());
    if (observer_) {
      Observe(Site::kAttnProj, SiteOp::kQkv, l, -1, RowMajor(h.data(), n, d, d),
              WeightView(WeightGroup::kQkv, l));
    }
    kernels::GemmPacked(n, h.data(), d, (*qkv_)[l], qkv.data(), qkv_w, For(gemm_, n, qkv_w, d));
    if (c.gemma) {
      GemmaQkNormRope(l, n, qkv.data());
    } else {
      Rope(l, n, qkv.data());
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
    kernels::GemmPacked(n, attn.data(), qd, (*attn_out_)[l], o.data(), d, For(gemm_, n, d, qd));
    if (c.gemma) NormRows(l, n, d, o.data(), model_.post_attn_norm(l), o.data());
    for (size_t j = 0; j < nd; ++j) x[j] += o[j];

    // --- MLP block ---
    RmsNorm(l, n, x.data(), model_.ffn_norm(l), h.data());
    if (observer_) {
      Observe(Site::kMlp, SiteOp::kGateUp, l, -1, RowMajor(h.data(), n, d, d),
              WeightView(WeightGroup::kGateUp, l));
    }
    kernels::GemmPacked(n, h.data(), d, (*gate_up_)[l], gu.data(), 2 * dff,
                        For(gemm_, n, 2 * dff, d));
    for (int i = 0; i < n; ++i) {
      const float* row = gu.data() + static_cast<size_t>(i) * 2 * dff;
      float* g = gate.data() + static_cast<size_t>(i) * dff;
      if (c.gemma) {  // gelu, tanh approximation (ggml_gelu)
        constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
        constexpr float kCoefA = 0.044715f;
        for (int j = 0; j < dff; ++j) {
          const float v = row[j];
          g[j] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoefA * v * v)));
        }
      } else {
        for (int j = 0; j < dff; ++j) g[j] = row[j] / (1.0f + std::exp(-row[j]));  // silu
      }
      std::memcpy(up.data() + static_cast<size_t>(i) * dff, row + dff, dff * sizeof(float));
    }
    if (observer_) {
      Observe(Site::kElementwise, SiteOp::kSwiGlu, l, -1, RowMajor(gate.data(), n, dff, dff),
              RowMajor(up.data(), n, dff, dff));
    }
    kernels::MulElementwise(ew, gate.data(), up.data(), gate.data(), static_cast<size_t>(n) * dff);
    if (observer_) {
      Observe(Site::kMlp, SiteOp::kDown, l, -1, RowMajor(gate.data(), n, dff, dff),
              WeightView(WeightGroup::kDown, l));
    }
    kernels::GemmPacked(n, gate.data(), dff, (*down_)[l], o.data(), d, For(gemm_, n, d, dff));
    if (c.gemma) NormRows(l, n, d, o.data(), model_.post_ffw_norm(l), o.data());
    for (size_t j = 0; j < nd; ++j) x[j] += o[j];
    if (observer_) observer_->OnLayerOutput(l, batch_pos0_, RowMajor(x.data(), n, d, d));
  }
  pos_ += n;

  if (logits) {
    const int m = n_logit_rows;
    const float* xs = x.data() + static_cast<size_t>(first_logit_row) * d;
    RmsNorm(-1, m, xs, model_.output_norm(), h.data());
    if (observer_) {
      Observe(Site::kLmHead, SiteOp::kLmHead, -1, -1, RowMajor(h.data(), m, d, d),
              WeightView(WeightGroup::kLmHead, 0));
    }
    kernels::GemmPacked(m, h.data(), d, (*lm_head_)[0], logits->data(), c.n_vocab,
                        For(gemm_, m, c.n_vocab, d));
  }
  if (observer_) observer_weight_ = {};
  return Status::Ok();
}

}  // namespace lmul::engine
