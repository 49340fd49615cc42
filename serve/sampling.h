// The sampler serve/ generates with: engine::Sampler (engine/model/sampler.h) when the tree
// has it; until then a greedy stand-in with the same interface (temperature and the other
// parameters are parsed and validated but every draw is the argmax).
#ifndef LMUL_SERVE_SAMPLING_H_
#define LMUL_SERVE_SAMPLING_H_

#if __has_include("engine/model/sampler.h")
#include "engine/model/sampler.h"
#define LMUL_SERVE_HAVE_SAMPLER 1
namespace lmul::serve {
using engine::Sampler;
using engine::SamplingParams;
}  // namespace lmul::serve
#else
#include <cstdint>
#include <span>

namespace lmul::serve {

struct SamplingParams {
  double temp = 0.8;
  int top_k = 40;
  double top_p = 0.95;
  double min_p = 0.05;
  double repeat_penalty = 1.0;
  int repeat_last_n = 64;
  uint64_t seed = 0xFFFFFFFFu;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params) {}
  int32_t Sample(std::span<const float> logits) {
    int32_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
      if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
    }
    return best;
  }
  void Accept(int32_t) {}

 private:
  SamplingParams params_;
};

}  // namespace lmul::serve
#endif

#endif  // LMUL_SERVE_SAMPLING_H_
