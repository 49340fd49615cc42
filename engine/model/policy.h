// Policy: which arithmetic (numeric/arith.h) each multiplication site of the
// transformer uses, and the GEMM accumulator type.
//
// Sites (docs/engine.md):
//   attn.qk      Q . K^T             scores (n_tokens, n_past) per head
//   attn.av      softmax(scores) . V per head
//   attn.proj    q/k/v/o projections (activations x weights)
//   mlp          gate/up/down projections
//   lm_head      final hidden state x output embedding
//   elementwise  RMSNorm's x * 1/rms and * gamma, RoPE's rotation products,
//                SwiGLU's silu(gate) * up
// Everything else (sums, softmax exp/normalisation, silu, rsqrt, residual adds,
// the 1/sqrt(head_dim) score scale) is fp32.
//
// Text forms: a preset name (PresetNames()), or an inline list
//   "attn.qk=lmul/e8m4,attn.av=lmul/e8m4,*=exact/fp32"
//   keys: attn.qk attn.av attn.proj mlp lm_head elementwise, "attn" (= attn.qk and
//   attn.av), "*" (every site not named explicitly), "accum" (fp32 | bf16).
//   Arithmetic options keep their commas: "attn.qk=exact/e4m3,wide,*=exact/fp32".
//   A site value may end in ",scaled": per-tensor power-of-two scaling of the site's
//   operands (engine/model/scaling.h; exact/FORMAT,wide with an fp8/fp16 format only),
//   e.g. "attn=exact/e4m3,wide,scaled,*=exact/fp32".
#ifndef LMUL_ENGINE_MODEL_POLICY_H_
#define LMUL_ENGINE_MODEL_POLICY_H_

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kernels/gemm.h"
#include "numeric/arith.h"

namespace lmul::engine {

enum class Site : int { kAttnQK = 0, kAttnAV, kAttnProj, kMlp, kLmHead, kElementwise };
inline constexpr int kNumSites = 6;
const char* SiteName(Site s);  // "attn.qk", ...
inline constexpr std::array<Site, kNumSites> kAllSites = {
    Site::kAttnQK, Site::kAttnAV, Site::kAttnProj, Site::kMlp, Site::kLmHead, Site::kElementwise};

struct Policy {
  std::array<Arith, kNumSites> arith;  // default exact/fp32 everywhere
  // Per site: operands scaled per tensor before the cast and unscaled after the product
  // (docs/engine.md, "Scaled fp8"). Only with Arith::SupportsScaling().
  std::array<bool, kNumSites> scaled{};
  kernels::Accum accum = kernels::Accum::kFp32;

  static Result<Policy> Parse(std::string_view text);
  // The preset name when the policy equals a preset, else the canonical inline form
  // (Parse(Name()) == *this).
  std::string Name() const;
  // One line per site, for tools' startup banners.
  std::string Describe() const;
  static std::vector<std::string> PresetNames();

  const Arith& at(Site s) const { return arith[static_cast<int>(s)]; }
  Arith& at(Site s) { return arith[static_cast<int>(s)]; }
  bool is_scaled(Site s) const { return scaled[static_cast<int>(s)]; }
  // The site's value in the text form: at(s).Name(), plus ",scaled" when scaled.
  std::string SiteValue(Site s) const;
  bool operator==(const Policy&) const = default;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_POLICY_H_
