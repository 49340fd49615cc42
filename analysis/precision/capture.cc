#include "analysis/precision/capture.h"

#include <algorithm>
#include <cmath>

#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"
#include "eval/wikitext.h"

namespace lmul::precision {
namespace {

using engine::Site;
using engine::SiteEvent;
using engine::SiteOp;

// Uniform double in (0, 1) from 53 random bits (platform independent, unlike
// std::uniform_real_distribution).
double Uniform01(std::mt19937_64* rng) {
  return (static_cast<double>((*rng)() >> 11) + 0.5) * 0x1.0p-53;
}

// Uniform integer in [0, n) (Lemire's multiply-high; bias < n / 2^64).
uint64_t UniformBelow(std::mt19937_64* rng, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>((*rng)()) * n) >> 64);
}

bool IsAttention(Site s) { return s == Site::kAttnQK || s == Site::kAttnAV; }

// Keys visible to query row t of an attention event with `keys` cached keys.
int64_t Visible(const SiteEvent& e, int t, int keys) {
  return std::min<int64_t>(static_cast<int64_t>(e.pos0) + t + 1, keys);
}

}  // namespace

PairSampler::PairSampler(Site site, uint64_t capacity, uint64_t seed)
    : site_(site), capacity_(std::max<uint64_t>(capacity, 1)), rng_(seed) {}

uint64_t PairSampler::CountProducts(const SiteEvent& e) const {
  if (e.site != site_) return 0;
  const engine::MatrixView &a = e.a, &b = e.b;
  if (a.rows <= 0 || a.cols <= 0 || b.rows <= 0 || b.cols <= 0) return 0;
  if (site_ == Site::kElementwise) {
    if (a.rows != b.rows || a.cols != b.cols) return 0;
    return static_cast<uint64_t>(a.rows) * static_cast<uint64_t>(a.cols);
  }
  if (a.cols != b.rows) return 0;  // not a GEMM A (M x K) . B (K x N)
  if (IsAttention(site_)) {
    // attn.qk: keys = B's columns (K^T); attn.av: keys = A's columns (P).
    const int keys = site_ == Site::kAttnQK ? b.cols : a.cols;
    const int inner = site_ == Site::kAttnQK ? a.cols : b.cols;  // head_dim
    uint64_t total = 0;
    for (int t = 0; t < a.rows; ++t) total += static_cast<uint64_t>(Visible(e, t, keys));
    return total * static_cast<uint64_t>(inner);
  }
  return static_cast<uint64_t>(a.rows) * static_cast<uint64_t>(b.cols) *
         static_cast<uint64_t>(a.cols);
}

void PairSampler::Store(const SiteEvent& e, int m, int n, int k, float a, float b) {
  PairOrigin o;
  o.sequence = sequence_;
  o.layer = static_cast<int16_t>(e.layer);
  o.head = static_cast<int16_t>(e.head);
  o.op = e.op;
  o.row = e.pos0 + m;
  o.col = n;
  o.inner = k;
  if (pairs_.size() / 2 < capacity_) {
    pairs_.push_back(a);
    pairs_.push_back(b);
    origins_.push_back(o);
  } else {
    pairs_[2 * slot_] = a;
    pairs_[2 * slot_ + 1] = b;
    origins_[slot_] = o;
  }
}

void PairSampler::Take(const SiteEvent& e, uint64_t index) {
  const engine::MatrixView &a = e.a, &b = e.b;
  if (site_ == Site::kElementwise) {
    const int r = static_cast<int>(index / a.cols), c = static_cast<int>(index % a.cols);
    Store(e, r, c, -1, a.at(r, c), b.at(r, c));
    return;
  }
  if (!IsAttention(site_)) {
    const uint64_t K = a.cols, N = b.cols;
    const int m = static_cast<int>(index / (N * K));
    const uint64_t rem = index % (N * K);
    const int n = static_cast<int>(rem / K), k = static_cast<int>(rem % K);
    Store(e, m, n, k, a.at(m, k), b.at(k, n));
    return;
  }
  const bool qk = site_ == Site::kAttnQK;
  const int keys = qk ? b.cols : a.cols;
  const uint64_t hd = static_cast<uint64_t>(qk ? a.cols : b.cols);
  // Row t starts at hd * sum_{t' < t} Visible(t'); find the last start <= index.
  int lo = 0, hi = a.rows - 1;
  auto start = [&](int t) {
    uint64_t s = 0;
    // sum_{t' < t} min(pos0 + t' + 1, keys); rows are few (<= a batch), but the
    // closed form keeps this O(1) when no row is clipped (always, in the engine).
    const int64_t p = e.pos0;
    if (p + t <= keys) {
      s = static_cast<uint64_t>(t * (p + 1) + static_cast<int64_t>(t) * (t - 1) / 2);
    } else {
      for (int u = 0; u < t; ++u) s += static_cast<uint64_t>(Visible(e, u, keys));
    }
    return s * hd;
  };
  while (lo < hi) {  // largest t with start(t) <= index
    const int mid = lo + (hi - lo + 1) / 2;
    if (start(mid) <= index) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int t = lo;
  const uint64_t rem = index - start(t);
  const uint64_t vis = static_cast<uint64_t>(Visible(e, t, keys));
  if (qk) {  // (t, j, d): q(t, d) * k(j, d), b = K^T (head_dim x T)
    const int j = static_cast<int>(rem / hd), d = static_cast<int>(rem % hd);
    Store(e, t, j, d, a.at(t, d), b.at(d, j));
  } else {  // (t, d, j): p(t, j) * v(j, d)
    const int d = static_cast<int>(rem / vis), j = static_cast<int>(rem % vis);
    Store(e, t, d, j, a.at(t, j), b.at(j, d));
  }
}

void PairSampler::AdvanceSkip() {
  // Algorithm L (Li 1994): the gap to the next item entering the reservoir is
  // geometric with success probability W.
  const double skip = std::floor(std::log(Uniform01(&rng_)) / std::log1p(-w_));
  if (!(skip < 1.8e19) || static_cast<double>(next_) + skip + 1 >= 1.8e19) {
    next_ = UINT64_MAX;
  } else {
    next_ += static_cast<uint64_t>(skip) + 1;
  }
}

void PairSampler::OnSite(const SiteEvent& e) {
  const uint64_t count = CountProducts(e);
  if (count == 0) return;
  const uint64_t end = seen_ + count;
  while (next_ < end) {
    const bool filling = pairs_.size() / 2 < capacity_;
    if (!filling) slot_ = UniformBelow(&rng_, capacity_);
    Take(e, next_ - seen_);
    if (filling) {
      if (pairs_.size() / 2 < capacity_) {
        ++next_;
        continue;
      }
      w_ = std::exp(std::log(Uniform01(&rng_)) / static_cast<double>(capacity_));
    } else {
      w_ *= std::exp(std::log(Uniform01(&rng_)) / static_cast<double>(capacity_));
    }
    AdvanceSkip();
  }
  seen_ = end;
}

// ---------------------------------------------------------------------------

std::vector<int32_t> FirstTokens(const engine::Model& model, const std::string& text,
                                 int n_tokens) {
  const engine::Tokenizer& tok = model.tokenizer();
  size_t bytes = static_cast<size_t>(std::max(n_tokens, 1)) * 8;
  for (;;) {
    size_t cut = text.size();
    if (bytes < text.size()) {
      cut = text.find('\n', bytes);
      cut = cut == std::string::npos ? text.size() : cut + 1;
    }
    std::vector<int32_t> ids = tok.Encode(std::string_view(text).substr(0, cut), /*add_bos=*/false,
                                          /*parse_special=*/false);
    if (static_cast<int>(ids.size()) >= n_tokens || cut == text.size()) {
      if (static_cast<int>(ids.size()) > n_tokens) ids.resize(static_cast<size_t>(n_tokens));
      return ids;
    }
    bytes *= 2;
  }
}

Result<CaptureResult> RunCapture(const engine::Model& model, std::span<const int32_t> tokens,
                                 const CaptureOptions& opts) {
  if (opts.ctx <= 0) return MakeError("capture: ctx must be positive");
  if (opts.pairs == 0) return MakeError("capture: pairs must be positive");
  auto policy = engine::Policy::Parse(opts.policy);
  if (!policy.ok()) return MakeError("capture: policy: " + policy.error());
  PairSampler sampler(opts.site, opts.pairs, opts.seed);
  engine::Session session(model, *policy, opts.ctx, opts.threads);
  session.set_observer(&sampler);
  const int n = static_cast<int>(tokens.size());
  const int per = opts.bos >= 0 ? opts.ctx - 1 : opts.ctx;  // text tokens per window
  if (per <= 0) return MakeError("capture: ctx must be >= 2 with a BOS token");
  const int windows = (n + per - 1) / per;
  std::vector<int32_t> window;
  for (int w = 0; w < windows; ++w) {
    const int begin = w * per, len = std::min(per, n - begin);
    window.clear();
    if (opts.bos >= 0) window.push_back(opts.bos);
    window.insert(window.end(), tokens.begin() + begin, tokens.begin() + begin + len);
    session.Rewind(0);
    sampler.set_sequence(w);
    Status st = session.Forward(window, nullptr);
    if (!st.ok()) return MakeError("capture: window " + std::to_string(w) + ": " + st.error());
    if (opts.progress) opts.progress(w + 1, windows);
  }
  session.set_observer(nullptr);
  CaptureResult r;
  r.pairs = sampler.pairs();
  r.origins = sampler.origins();
  r.products = sampler.products_seen();
  r.tokens = n;
  r.windows = windows;
  return r;
}

Result<CaptureText> WikiTextCaptureText(const engine::Model& model, const std::string& data_dir,
                                        int n_tokens, int ctx) {
  if (!model.has_tokenizer()) {
    return MakeError(model.gguf().path() + ": no tokenizer metadata (tokenizer.ggml.*)");
  }
  auto text = eval::ReadWikiText2Test(data_dir);
  if (!text.ok()) return std::move(text).TakeError();
  CaptureText t;
  t.path = data_dir + "/" + eval::kWikiText2TestFile;
  t.tokens = FirstTokens(model, *text, n_tokens);
  const int train = model.config().n_ctx_train;
  t.ctx = std::min(ctx, train > 0 ? train : ctx);
  const engine::Tokenizer& tok = model.tokenizer();
  t.bos = tok.add_bos_default() ? tok.bos() : -1;
  return t;
}

PairSummary SummarizePairs(std::span<const float> pairs) {
  const size_t n = pairs.size() / 2;
  std::vector<float> a(n), b(n);
  uint64_t zeros = 0;
  for (size_t i = 0; i < n; ++i) {
    a[i] = std::fabs(pairs[2 * i]);
    b[i] = std::fabs(pairs[2 * i + 1]);
    zeros += (a[i] == 0 || b[i] == 0);
  }
  auto median = [](std::vector<float>& v) {
    if (v.empty()) return 0.0f;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  PairSummary s;
  s.median_abs_a = median(a);
  s.median_abs_b = median(b);
  s.zero_operand_frac = n ? static_cast<double>(zeros) / static_cast<double>(n) : 0.0;
  return s;
}

}  // namespace lmul::precision
