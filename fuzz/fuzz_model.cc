// Model::Load + a two-token forward pass on small files (the sizes are capped so one input
// runs in milliseconds). Seeds: fuzz_model/ (the tiny model and variants).
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/session.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmul::engine;
  if (size > (1 << 20)) return 0;
  const std::string path = lmul::fuzz::ScratchDir() + "/model.gguf";
  lmul::fuzz::WriteBytes(path, data, size);
  auto model = Model::Load(path);
  if (!model.ok()) return 0;
  const ModelConfig& c = (*model)->config();
  if (int64_t{c.d_model} * c.n_layer > 4096 || c.n_vocab > 4096 || c.d_ff > 1024 ||
      c.n_head * c.head_dim > 1024) {
    return 0;
  }
  auto policy = Policy::Parse("lmul-attn");
  if (!policy.ok()) __builtin_trap();
  Session s(**model, *policy, 8, 1);
  std::vector<float> logits;
  const std::vector<int32_t> tokens = {0, c.n_vocab - 1};
  (void)s.ForwardLast(tokens, &logits);
  const std::vector<int32_t> bad = {c.n_vocab};  // out of range: an error, not a crash
  (void)s.Forward(bad, &logits);
  return 0;
}
