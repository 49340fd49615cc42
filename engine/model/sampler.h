// Sampler: picks the next token from a row of logits the way llama.cpp's default sampler
// chain does (common/common.h, common_params_sampling; src/llama-sampling.cpp), for the
// samplers lmul exposes, in llama.cpp's order:
//
//   1. repetition penalty  each distinct token among the last repeat_last_n accepted tokens
//                          (prompt included, as llama-cli does): logit <= 0 ? logit * penalty
//                          : logit / penalty, once per token whatever its count
//                          (repeat_penalty 1 or repeat_last_n 0: off)
//   2. top-k               keep the k highest logits (k <= 0: off)
//   3. top-p               softmax of the survivors, sorted by probability; keep the shortest
//                          prefix whose cumulative probability reaches p (p >= 1: off)
//   4. min-p               keep tokens with logit >= max logit + log(p), i.e. probability
//                          >= p * max probability (p <= 0: off)
//   5. temperature         logits / temp; then one draw from softmax of the survivors.
//
// temp <= 0 is greedy: the first index of the maximum of the penalized logits (every filter
// above keeps that token, so this equals llama.cpp's temp <= 0 chain). With repeat_penalty 1
// it is the argmax of the raw logits, bit for bit what `lmul run` did before the sampler.
// Ties in the filters are broken by lower token id (deterministic). Steps 3 and 4 use
// float arithmetic as llama.cpp does; the draw uses mt19937_64 and a 53-bit uniform, so a
// seed reproduces a run on any platform (not llama.cpp's random stream).
#ifndef LMUL_ENGINE_MODEL_SAMPLER_H_
#define LMUL_ENGINE_MODEL_SAMPLER_H_

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/result.h"

namespace lmul::engine {

// llama.cpp's LLAMA_DEFAULT_SEED: "pick a random seed" (from std::random_device).
inline constexpr uint64_t kRandomSeed = 0xFFFFFFFFu;

// Defaults are llama.cpp's (common_params_sampling).
struct SamplingParams {
  double temp = 0.8;            // <= 0: greedy
  int top_k = 40;               // <= 0: off
  double top_p = 0.95;          // in [0, 1]; 1: off
  double min_p = 0.05;          // in [0, 1]; 0: off
  double repeat_penalty = 1.0;  // > 0; 1: off
  int repeat_last_n = 64;       // tokens of history penalized; 0: off; < 0: all accepted
  uint64_t seed = kRandomSeed;  // kRandomSeed: random
};

// Checks the ranges above (for parameters from untrusted input, e.g. HTTP requests); the
// error names the field ("top_p: expected a number in [0, 1], got 1.5").
Status ValidateSamplingParams(const SamplingParams& params);

class Sampler {
 public:
  // params must pass ValidateSamplingParams (LMUL_CHECKed).
  explicit Sampler(const SamplingParams& params);

  // The next token for one row of logits (n_vocab). Does not Accept it.
  int32_t Sample(std::span<const float> logits);
  // Appends a token to the repetition-penalty history (prompt tokens and generated ones).
  void Accept(int32_t token);

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }  // the seed in use (drawn when kRandomSeed)

 private:
  SamplingParams params_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;                  // the last repeat_last_n accepted tokens
  std::unordered_map<int32_t, int> counts_;      // token -> occurrences in history_
  std::vector<std::pair<float, int32_t>> cand_;  // scratch: (logit, token)
  std::vector<float> probs_;                     // scratch
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_SAMPLER_H_
