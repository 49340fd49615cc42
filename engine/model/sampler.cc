#include "engine/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "base/check.h"

namespace lmul::engine {
namespace {

// Logit order of the filters: higher logit first, then lower token id.
bool Before(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temp)) {
    return MakeError("temp: expected a finite number (<= 0: greedy), got " + Num(p.temp));
  }
  if (!(p.top_p >= 0.0 && p.top_p <= 1.0)) {
    return MakeError("top_p: expected a number in [0, 1], got " + Num(p.top_p));
  }
  if (!(p.min_p >= 0.0 && p.min_p <= 1.0)) {
    return MakeError("min_p: expected a number in [0, 1], got " + Num(p.min_p));
  }
  if (!(p.repeat_penalty > 0.0 && std::isfinite(p.repeat_penalty))) {
    return MakeError("repeat_penalty: expected a finite number > 0 (1: off), got " +
                     Num(p.repeat_penalty));
  }
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  const Status st = ValidateSamplingParams(params);
  LMUL_CHECK(st.ok(), "%s", st.error().c_str());
  seed_ = params.seed;
  if (seed_ == kRandomSeed) {
    std::random_device rd;
    seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  rng_.seed(seed_);
}

void Sampler::Accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  history_.push_back(token);
  ++counts_[token];
  if (params_.repeat_last_n > 0 && history_.size() > static_cast<size_t>(params_.repeat_last_n)) {
    const int32_t old = history_.front();
    history_.pop_front();
    if (--counts_[old] == 0) counts_.erase(old);
  }
}

int32_t Sampler::Sample(std::span<const float> logits) {
  LMUL_CHECK(!logits.empty(), "Sample: empty logits");
  const int n = static_cast<int>(logits.size());
  const float penalty = static_cast<float>(params_.repeat_penalty);
  const bool penalize = penalty != 1.0f && !counts_.empty();
  auto penalized = [&](int32_t token, float logit) {
    if (!penalize || counts_.find(token) == counts_.end()) return logit;
    return logit <= 0 ? logit * penalty : logit / penalty;
  };

  if (params_.temp <= 0) {
    // Greedy: first index of the maximum (the pre-sampler `lmul run` loop, bit for bit).
    int32_t best = 0;
    float best_v = penalized(0, logits[0]);
    for (int i = 1; i < n; ++i) {
      const float v = penalized(i, logits[i]);
      if (v > best_v) best = i, best_v = v;
    }
    return best;
  }

  // 1. repetition penalty.
  cand_.resize(n);
  for (int i = 0; i < n; ++i) cand_[i] = {penalized(i, logits[i]), i};
  bool sorted = false;
  // 2. top-k.
  if (params_.top_k > 0 && params_.top_k < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + params_.top_k, cand_.end(), Before);
    cand_.resize(params_.top_k);
    sorted = true;
  }
  // 3. top-p: float softmax and cumulative sum, as llama_sampler_top_p_apply.
  if (params_.top_p < 1.0) {
    if (!sorted) std::sort(cand_.begin(), cand_.end(), Before);
    sorted = true;
    const float max_logit = cand_[0].first;
    probs_.resize(cand_.size());
    float sum = 0;
    for (size_t i = 0; i < cand_.size(); ++i) {
      sum += probs_[i] = std::exp(cand_[i].first - max_logit);
    }
    const float p = static_cast<float>(params_.top_p);
    float cum = 0;
    size_t keep = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += probs_[i] / sum;
      if (cum >= p) {
        keep = i + 1;
        break;
      }
    }
    cand_.resize(keep);
  }
  // 4. min-p: logit >= max + log(p), order preserved.
  if (params_.min_p > 0.0) {
    float max_logit = cand_[0].first;
    for (const auto& c : cand_) max_logit = std::max(max_logit, c.first);
    const float min_logit = max_logit + std::log(static_cast<float>(params_.min_p));
    std::erase_if(cand_, [&](const auto& c) { return c.first < min_logit; });
  }
  // 5. temperature, then one draw from the softmax of the survivors.
  const float temp = static_cast<float>(params_.temp);
  for (auto& c : cand_) c.first /= temp;
  float max_logit = cand_[0].first;
  for (const auto& c : cand_) max_logit = std::max(max_logit, c.first);
  probs_.resize(cand_.size());
  double sum = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    sum += probs_[i] = std::exp(cand_[i].first - max_logit);
  }
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // [0, 1)
  double r = u * sum;
  for (size_t i = 0; i < cand_.size(); ++i) {
    r -= probs_[i];
    if (r < 0) return cand_[i].second;
  }
  // Rounding left r >= 0 past the last term: the last candidate with a non-zero weight.
  for (size_t i = cand_.size(); i-- > 0;) {
    if (probs_[i] > 0) return cand_[i].second;
  }
  return cand_[0].second;
}

}  // namespace lmul::engine
