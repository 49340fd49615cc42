#include "engine/model/ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "engine/model/scaling.h"
#include "kernels/elementwise.h"

namespace lmul::engine::ops {
namespace {

MatrixView RowMajor(const float* data, int rows, int cols) {
  return MatrixView{data, rows, cols, cols, 1};
}

void Report(const ElementwiseContext& ctx, SiteOp op, const MatrixView& a, const MatrixView& b) {
  if (ctx.observer) {
    ctx.observer->OnSite(SiteEvent{Site::kElementwise, op, ctx.layer, -1, ctx.pos0, a, b});
  }
}

}  // namespace

void SiteMul(const ElementwiseContext& ctx, const float* a, const float* b, float* out, size_t n) {
  if (!ctx.scaled) {
    kernels::MulElementwise(*ctx.arith, a, b, out, n);
    return;
  }
  LMUL_CHECK(n <= static_cast<size_t>(INT32_MAX), "SiteMul: %zu values", n);
  const int m = static_cast<int>(n);
  const ScaledTensor sa = ScaleTensor(ctx.arith->format, a, 1, m, m);
  const ScaledTensor sb = ScaleTensor(ctx.arith->format, b, 1, m, m);
  kernels::MulElementwise(*ctx.arith, sa.data.data(), sb.data.data(), out, n);
  UnscaleBlock(out, 1, m, m, sa.exp + sb.exp);
}

void RmsNorm(const ElementwiseContext& ctx, int rows, int width, float eps, const float* x,
             std::span<const float> gamma, float* out) {
  LMUL_CHECK(static_cast<int>(gamma.size()) == width, "RmsNorm: gamma %zu, width %d", gamma.size(),
             width);
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
  Report(ctx, SiteOp::kNormScale, RowMajor(x, rows, width), RowMajor(scale.data(), rows, width));
  SiteMul(ctx, x, scale.data(), out, total);
  Report(ctx, SiteOp::kNormGamma, RowMajor(out, rows, width), RowMajor(gammas.data(), rows, width));
  SiteMul(ctx, out, gammas.data(), out, total);
}

RopeTable::RopeTable(float base, int rope_dim, float freq_scale, std::vector<float> freq_factors)
    : base_(base),
      freq_scale_(freq_scale),
      rope_dim_(rope_dim),
      half_(rope_dim / 2),
      freq_factors_(std::move(freq_factors)) {
  LMUL_CHECK(freq_factors_.empty() || static_cast<int>(freq_factors_.size()) == half_,
             "RopeTable: %zu freq factors for rope_dim %d", freq_factors_.size(), rope_dim);
}

void RopeTable::Ensure(int n_pos) {
  const int have = half_ == 0 ? n_pos : static_cast<int>(cos_.size() / half_);
  if (have >= n_pos) return;
  cos_.resize(static_cast<size_t>(n_pos) * half_);
  sin_.resize(static_cast<size_t>(n_pos) * half_);
  const float theta_scale = std::pow(base_, -2.0f / static_cast<float>(rope_dim_));
  for (int p = have; p < n_pos; ++p) {
    float theta = static_cast<float>(p);
    float* c = cos_.data() + static_cast<size_t>(p) * half_;
    float* s = sin_.data() + static_cast<size_t>(p) * half_;
    for (int i = 0; i < half_; ++i) {
      // ggml rope_yarn with ext_factor 0, mscale 1: freq_scale * (theta / ff).
      const float ff = freq_factors_.empty() ? 1.0f : freq_factors_[i];
      const float angle = freq_scale_ * (theta / ff);
      c[i] = std::cos(angle);
      s[i] = std::sin(angle);
      theta *= theta_scale;
    }
  }
}

void Rope(const ElementwiseContext& ctx, RopeMode mode, const RopeTable& table, int head_dim,
          int rope_dim, int heads, int n, std::span<const int> pos, float* x, ptrdiff_t ld) {
  const int hd = head_dim, rd = rope_dim, half = rd / 2;
  const int w = heads * hd;  // rotated columns of each row
  const size_t total = static_cast<size_t>(n) * w;
  // x * C + partner(x) * S: xa = x, xb = partner(x), cs = cos, sn = -sin / +sin.
  std::vector<float> xa(total), xb(total), cs(total), sn(total), t1(total), t2(total);
  for (int i = 0; i < n; ++i) {
    const float* row = x + static_cast<ptrdiff_t>(i) * ld;
    const float* pc = table.cos(pos[i]);
    const float* ps = table.sin(pos[i]);
    for (int h = 0; h < heads; ++h) {
      const float* hx = row + static_cast<size_t>(h) * hd;
      const size_t o = static_cast<size_t>(i) * w + static_cast<size_t>(h) * hd;
      for (int j = 0; j < hd; ++j) {
        xa[o + j] = hx[j];
        if (j >= rd) {  // passes through
          xb[o + j] = hx[j];
          cs[o + j] = 1.0f;
          sn[o + j] = 0.0f;
          continue;
        }
        // The pair's angle index, partner and whether this is the pair's first element.
        int k, partner;
        bool first;
        if (mode == RopeMode::kNormal) {
          k = j / 2, partner = j ^ 1, first = (j & 1) == 0;
        } else {
          first = j < half;
          k = first ? j : j - half, partner = first ? j + half : j - half;
        }
        xb[o + j] = hx[partner];
        cs[o + j] = pc[k];
        sn[o + j] = first ? -ps[k] : ps[k];
      }
    }
  }
  Report(ctx, SiteOp::kRope, RowMajor(xa.data(), n, w), RowMajor(cs.data(), n, w));
  Report(ctx, SiteOp::kRope, RowMajor(xb.data(), n, w), RowMajor(sn.data(), n, w));
  SiteMul(ctx, xa.data(), cs.data(), t1.data(), total);
  SiteMul(ctx, xb.data(), sn.data(), t2.data(), total);
  for (int i = 0; i < n; ++i) {
    float* row = x + static_cast<ptrdiff_t>(i) * ld;
    for (int h = 0; h < heads; ++h) {
      const size_t o = static_cast<size_t>(i) * w + static_cast<size_t>(h) * hd;
      for (int j = 0; j < rd; ++j) row[h * hd + j] = t1[o + j] + t2[o + j];
    }
  }
}

void GatedActivation(Activation act, int n, int d_ff, const float* gu, float* gate, float* up) {
  for (int i = 0; i < n; ++i) {
    const float* row = gu + static_cast<size_t>(i) * 2 * d_ff;
    float* g = gate + static_cast<size_t>(i) * d_ff;
    switch (act) {
      case Activation::kGeluTanh: {  // gelu, tanh approximation (ggml_gelu)
        constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
        constexpr float kCoefA = 0.044715f;
        for (int j = 0; j < d_ff; ++j) {
          const float v = row[j];
          g[j] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoefA * v * v)));
        }
        break;
      }
      case Activation::kSilu:
        for (int j = 0; j < d_ff; ++j) g[j] = Silu(row[j]);
        break;
    }
    std::memcpy(up + static_cast<size_t>(i) * d_ff, row + d_ff, d_ff * sizeof(float));
  }
}

void AddBias(int n, int width, std::span<const float> bias, float* x, ptrdiff_t ld) {
  if (bias.empty()) return;
  LMUL_CHECK(static_cast<int>(bias.size()) == width, "AddBias: %zu values, width %d", bias.size(),
             width);
  for (int i = 0; i < n; ++i) {
    float* row = x + static_cast<ptrdiff_t>(i) * ld;
    for (int j = 0; j < width; ++j) row[j] += bias[j];
  }
}

}  // namespace lmul::engine::ops
