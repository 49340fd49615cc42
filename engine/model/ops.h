// The transformer's elementwise operations, one implementation each, shared by every model
// family (ModelConfig::arch_settings says which ones a family uses). Every product that is
// a multiplication site goes through kernels::MulElementwise with the elementwise site's
// arithmetic and is reported to the observer first; everything else is fp32 (docs/engine.md).
//
// Shapes: x (rows, width) row-major unless a leading dimension is given.
#ifndef LMUL_ENGINE_MODEL_OPS_H_
#define LMUL_ENGINE_MODEL_OPS_H_

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "engine/model/config.h"
#include "engine/model/observer.h"
#include "numeric/arith.h"

namespace lmul::engine::ops {

// The elementwise site's arithmetic and who watches it (observer may be null).
struct ElementwiseContext {
  const Arith* arith;
  ActivationObserver* observer;
  int layer;  // reported with each event (-1: the head)
  int pos0;   // cache index of the batch's first token (SiteEvent::pos)
  // Scaled site (engine/model/scaling.h): each operand of each product call below is one
  // tensor (RmsNorm: x, the broadcast 1/rms, the normalised x, the broadcast gamma; Rope: x,
  // the cos table, partner(x), the signed sin table; the gated activation: act(gate), up).
  bool scaled = false;
};

// out[i] = a[i] * b[i] (n values) in the context's arithmetic, scaled per tensor when
// ctx.scaled. Not reported to the observer (callers report first). out may alias a or b.
void SiteMul(const ElementwiseContext& ctx, const float* a, const float* b, float* out, size_t n);

// out (rows, width) = x * 1/rms(x) * gamma (gamma: width values): two elementwise products
// (SiteOp::kNormScale, kNormGamma), as llama.cpp's rms_norm (sum of squares in double,
// scale = 1/sqrtf(mean + eps)) followed by mul. out may alias x.
void RmsNorm(const ElementwiseContext& ctx, int rows, int width, float eps, const float* x,
             std::span<const float> gamma, float* out);

// cos and sin of the RoPE angles for positions 0..n_pos-1 and pairs i < rope_dim/2, built
// as ggml_rope_cache_init in fp32: theta_0 = pos, theta_{i+1} = theta_i * powf(base,
// -2/rope_dim), angle_i = freq_scale * (theta_i / freq_factor_i). Grown on demand.
class RopeTable {
 public:
  RopeTable(float base, int rope_dim, float freq_scale, std::vector<float> freq_factors);
  void Ensure(int n_pos);
  const float* cos(int pos) const { return cos_.data() + static_cast<size_t>(pos) * half_; }
  const float* sin(int pos) const { return sin_.data() + static_cast<size_t>(pos) * half_; }
  float base() const { return base_; }

 private:
  float base_, freq_scale_;
  int rope_dim_, half_;
  std::vector<float> freq_factors_;  // empty: all 1
  std::vector<float> cos_, sin_;     // (n_pos, rope_dim / 2)
};

// Rotates the first `heads` heads (head_dim each) of each row of x (n rows, leading
// dimension ld) in place; row i at position pos[i] (table.Ensure(max pos + 1) first).
// Pair (a, b) of a head's first rope_dim dimensions (mode kNormal: (2i, 2i+1); kNeox:
// (i, i + rope_dim/2)) becomes (a cos - b sin, b cos + a sin), computed as
// x * C + partner(x) * S with the products through the elementwise arithmetic
// (two SiteOp::kRope events) and the sums in fp32. Dimensions past rope_dim pass through.
void Rope(const ElementwiseContext& ctx, RopeMode mode, const RopeTable& table, int head_dim,
          int rope_dim, int heads, int n, std::span<const int> pos, float* x, ptrdiff_t ld);

// SiLU as the engine computes it: g / (1 + expf(-g)), every step in fp32 (expf of the C
// library). GatedActivation's kSilu, and lmul.torch's fine-tuning forward.
inline float Silu(float g) { return g / (1.0f + std::exp(-g)); }

// Gated MLP activation of gu rows (n, 2 d_ff) = [gate | up]: gate[i] = act(gu gate part)
// (fp32, not a site), up[i] = gu up part; gate and up are (n, d_ff).
void GatedActivation(Activation act, int n, int d_ff, const float* gu, float* gate, float* up);

// Soft-capping tanhf(v / cap) * cap in fp32; cap <= 0 returns v unchanged.
inline float SoftCap(float v, float cap) { return cap > 0 ? std::tanh(v / cap) * cap : v; }

// x (n, width) += bias (width) per row, fp32; an empty bias adds nothing.
void AddBias(int n, int width, std::span<const float> bias, float* x, ptrdiff_t ld);

}  // namespace lmul::engine::ops

#endif  // LMUL_ENGINE_MODEL_OPS_H_
