// ActivationObserver: sees the operands of every multiplication site while a
// Session runs (for the precision analysis: real activation statistics, per-layer
// error studies). The engine does not depend on the analysis code; analysis plugs in here.
//
// For a GEMM site C = A . B: a is A (M x K) and b is B (K x N), both as the fp32
// values handed to the kernel (before the site's arithmetic reduces them). For
// weight sites (attn.proj, mlp, lm_head) B is the dequantized weight, transposed
// view (B(k, n) = W[n][k]); it is dequantized only when an observer is attached.
// For the elementwise site a and b are (1 x n) rows: the two factor vectors.
// Views are valid only during the call.
#ifndef LMUL_ENGINE_MODEL_OBSERVER_H_
#define LMUL_ENGINE_MODEL_OBSERVER_H_

#include <cstddef>

#include "engine/model/policy.h"

namespace lmul::engine {

struct MatrixView {
  const float* data = nullptr;
  int rows = 0;
  int cols = 0;
  ptrdiff_t row_stride = 0;  // element (r, c) = data[r * row_stride + c * col_stride]
  ptrdiff_t col_stride = 1;
  float at(int r, int c) const { return data[r * row_stride + c * col_stride]; }
};

// Which operation of a site a call reports (a site has several operations per layer).
enum class SiteOp : int {
  kQkv,        // attn.proj: x . [Wq; Wk; Wv]^T
  kOutput,     // attn.proj: attention output . Wo^T
  kQK,         // attn.qk: per head, Q_h . K_g^T (`head` set)
  kAV,         // attn.av: per head, P_h . V_g (`head` set)
  kGateUp,     // mlp: x . [Wgate; Wup]^T
  kDown,       // mlp: act . Wdown^T
  kLmHead,     // lm_head
  kNormScale,  // elementwise: x * 1/rms(x) (b is the broadcast scale row)
  kNormGamma,  // elementwise: normalised x * gamma
  kRope,       // elementwise: rotation products (q and k rows with cos/sin rows)
  kSwiGlu,     // elementwise: silu(gate) * up
};
const char* SiteOpName(SiteOp op);

struct SiteEvent {
  Site site;
  SiteOp op;
  int layer;  // 0..n_layer-1; -1 for the final norm and the LM head
  int head;   // attention head for kQK / kAV, else -1
  int pos0;   // position of the first token of the batch
  MatrixView a;
  MatrixView b;
};

class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  virtual void OnSite(const SiteEvent& event) = 0;
  // Residual stream after each layer (x: n_tokens x d_model). Default: ignored.
  virtual void OnLayerOutput(int layer, int pos0, const MatrixView& x) {
    (void)layer;
    (void)pos0;
    (void)x;
  }
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_OBSERVER_H_
