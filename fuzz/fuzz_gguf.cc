// GGUF reader -> ModelConfig -> ValidateModel -> Tokenizer::FromGguf (+ a short encode and
// decode when a tokenizer comes out). Seeds: lmul_make_fixtures seeds DIR (fuzz_gguf/).
#include <cstdint>
#include <string>

#include "engine/io/gguf.h"
#include "engine/model/config.h"
#include "engine/model/validate.h"
#include "engine/tokenizer/tokenizer.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lmul::engine;
  const std::string path = lmul::fuzz::ScratchDir() + "/in.gguf";
  lmul::fuzz::WriteBytes(path, data, size);
  auto g = GgufFile::Open(path);
  if (!g.ok()) return 0;
  // Every accessor on every key: wrong types must be errors, never reads out of bounds.
  for (const std::string& k : (*g)->Keys()) {
    (void)(*g)->Type(k);
    (void)(*g)->GetString(k);
    (void)(*g)->GetInt(k);
    (void)(*g)->GetFloat(k);
    (void)(*g)->GetBool(k);
    (void)(*g)->ArraySize(k);
    (void)(*g)->GetIntArray(k);
    (void)(*g)->GetFloatArray(k);
    (void)(*g)->GetStringArray(k);
  }
  for (const GgufTensor& t : (*g)->tensors()) (void)t.ShapeString();
  auto config = ModelConfig::FromGguf(**g);
  if (config.ok()) {
    (void)config->Summary();
    (void)ValidateModel(**g, *config);
  }
  auto tok = Tokenizer::FromGguf(**g);
  if (tok.ok()) {
    const auto ids = (*tok)->Encode("Hello, world! 12 <|im_start|> \xc3\xa9", true, true);
    (void)(*tok)->Decode(ids);
  }
  return 0;
}
