// The sampler serve/ generates with: engine::Sampler (engine/model/sampler.h; llama.cpp's
// chain and defaults). Requests are range-checked by serve/api.cc before a Sampler is built.
#ifndef LMUL_SERVE_SAMPLING_H_
#define LMUL_SERVE_SAMPLING_H_

#include "engine/model/sampler.h"

namespace lmul::serve {
using engine::Sampler;
using engine::SamplingParams;
}  // namespace lmul::serve

#endif  // LMUL_SERVE_SAMPLING_H_
