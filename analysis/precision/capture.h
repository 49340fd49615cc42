// Capture of real operand pairs from the engine (docs/precision.md §7): an
// ActivationObserver that draws a uniform random sample of the scalar products
// a(m, k) * b(k, n) one multiplication site performed, for `lmul error --dist
// activations:FILE`.
//
// The population of a site is every product that contributes to its result:
//   GEMM sites (attn.proj, mlp, lm_head): C (M x N) = A (M x K) . B (K x N), all
//     M*N*K products a(m, k) * b(k, n);
//   attn.qk (per layer, per head): s (n_tokens, T) = Q_h . K_g^T, products
//     q(t, d) * k(j, d) for the causally visible keys j <= pos0 + t only (the masked
//     scores are discarded by the softmax, so their products are not "real");
//   attn.av (per layer, per head): o (n_tokens, head_dim) = P . V_g, products
//     p(t, j) * v(j, d) for j <= pos0 + t (the masked p are exact zeros);
//   elementwise: a(r, c) * b(r, c) (same-shape views).
// Products are numbered in stream order: events in the order the session reports
// them; inside an event row-major over (m, n, k) — (t, j, d) for attn.qk, (t, d, j)
// for attn.av. A reservoir of `capacity` items is filled by Li's Algorithm L
// (geometric skips, O(capacity * log(total / capacity)) random numbers), so every
// product has the same probability capacity / total of being in the sample, and
// the sample depends only on (seed, capacity, the product stream) — not on the
// thread count (the engine's operands are thread-count invariant).
#ifndef LMUL_ANALYSIS_PRECISION_CAPTURE_H_
#define LMUL_ANALYSIS_PRECISION_CAPTURE_H_

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/model/model.h"
#include "engine/model/observer.h"
#include "engine/model/policy.h"

namespace lmul::precision {

// Where a sampled product came from, in GEMM terms: c(row, col) += a(row, inner) *
// b(inner, col). row is the absolute token position for attention sites (pos0 + t)
// and pos0 + m for the others; for attn.qk col = key position j, inner = d; for
// attn.av col = d, inner = key position j. Elementwise: inner = -1, col = column.
struct PairOrigin {
  int32_t sequence = 0;  // PairSampler::set_sequence at the time (capture: the window)
  int16_t layer = 0;     // -1: final norm / LM head
  int16_t head = 0;      // -1: not an attention op
  engine::SiteOp op = engine::SiteOp::kQK;
  int32_t row = 0;
  int32_t col = 0;
  int32_t inner = 0;
  bool operator==(const PairOrigin&) const = default;
};

class PairSampler : public engine::ActivationObserver {
 public:
  // capacity >= 1: the sample size (fewer if the site performs fewer products).
  PairSampler(engine::Site site, uint64_t capacity, uint64_t seed);

  void OnSite(const engine::SiteEvent& event) override;

  // Tags the origins of products seen from now on (positions restart per sequence).
  void set_sequence(int sequence) { sequence_ = sequence; }
  engine::Site site() const { return site_; }
  uint64_t products_seen() const { return seen_; }  // population size so far
  uint64_t size() const { return pairs_.size() / 2; }
  // 2 * size() floats: (a, b) per sampled product, in reservoir-slot order.
  const std::vector<float>& pairs() const { return pairs_; }
  const std::vector<PairOrigin>& origins() const { return origins_; }

 private:
  // Number of products of one event (0 for an event of another site).
  uint64_t CountProducts(const engine::SiteEvent& e) const;
  // Stores product `index` (0-based inside the event) of `e`.
  void Take(const engine::SiteEvent& e, uint64_t index);
  void Store(const engine::SiteEvent& e, int m, int n, int k, float a, float b);
  void AdvanceSkip();  // next_ after taking an item in the sampling phase

  engine::Site site_;
  uint64_t capacity_;
  std::mt19937_64 rng_;
  uint64_t seen_ = 0;  // products numbered so far (before the current event)
  uint64_t next_ = 0;  // global number of the next product to take
  double w_ = 0.0;     // Algorithm L's W
  uint64_t slot_ = 0;  // slot the next taken item replaces (sampling phase)
  int sequence_ = 0;
  std::vector<float> pairs_;
  std::vector<PairOrigin> origins_;
};

// ---------------------------------------------------------------------------
// Running a capture (`lmul capture`).

// The text comes from eval's loaders: eval::DefaultDataDir() (eval/data_dir.h) and
// eval::ReadWikiText2Test (eval/wikitext.h).
// The first `n_tokens` tokens of `text` (no BOS): the text is tokenized line by line
// in growing prefixes that end at a line break, so only what is needed is encoded.
// Fewer tokens when the text is shorter.
std::vector<int32_t> FirstTokens(const engine::Model& model, const std::string& text, int n_tokens);

struct CaptureOptions {
  engine::Site site = engine::Site::kAttnQK;
  uint64_t pairs = 1 << 20;  // sample size
  uint64_t seed = 1;
  int ctx = 512;     // tokens per window: each window is a fresh sequence
  int32_t bos = -1;  // >= 0: each window starts with this token, then ctx - 1 tokens
  int threads = 0;   // GEMM threads (0: all cores); the sample does not depend on it
  std::string policy = "fp32";
  std::function<void(int done, int total)> progress;  // windows done (optional)
};

struct CaptureResult {
  std::vector<float> pairs;  // 2 * n floats
  std::vector<PairOrigin> origins;
  uint64_t products = 0;  // population size
  int tokens = 0;
  int windows = 0;
};

// Runs `tokens` through the model in windows of opts.ctx under opts.policy with a
// PairSampler on opts.site.
Result<CaptureResult> RunCapture(const engine::Model& model, std::span<const int32_t> tokens,
                                 const CaptureOptions& opts);

// The text `lmul capture` runs: the first n_tokens tokens of the WikiText-2 test split
// under data_dir (eval's loader), in windows of min(ctx, the model's training context), each
// window starting with BOS when the tokenizer adds one (Gemma). Errors: the model has no
// tokenizer, the split is missing or not text.
struct CaptureText {
  std::string path;  // the file read
  std::vector<int32_t> tokens;
  int ctx = 0;
  int32_t bos = -1;
};
Result<CaptureText> WikiTextCaptureText(const engine::Model& model, const std::string& data_dir,
                                        int n_tokens, int ctx);

// Summary of sampled pairs (a, b): median |a|, median |b| (the upper median of an even
// count; 0 for no pairs) and the fraction of pairs with a zero operand.
struct PairSummary {
  float median_abs_a = 0, median_abs_b = 0;
  double zero_operand_frac = 0;
};
PairSummary SummarizePairs(std::span<const float> pairs);

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_CAPTURE_H_
