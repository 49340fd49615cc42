// Pre-tokenizers of byte-level BPE models: split text (as code points) into the words that BPE
// then merges independently. Each reproduces the split llama.cpp computes for the GGUF key
// tokenizer.ggml.pre (src/llama-vocab.cpp regex_exprs, src/unicode.cpp custom splitters):
//
//   kGpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kSmollm  first \p{N} (every number code point becomes its own word), then kGpt2 on each
//            piece, so " 42" -> " ", "4", "2" (pre = smollm, starcoder, refact, command-r,
//            codeshell, exaone, minerva-7b)
//   kLlama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//             ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (pre = llama3, llama-v3,
//            llama-bpe, dbrx, smaug-bpe; ASCII-only case folding of the contractions)
//
// Classes: \p{L}, \p{N} by general category, \s = White_Space (engine/tokenizer/unicode.h).
#ifndef LMUL_ENGINE_TOKENIZER_PRETOKENIZER_H_
#define LMUL_ENGINE_TOKENIZER_PRETOKENIZER_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace lmul::engine {

enum class PreTokenizer { kGpt2, kSmollm, kLlama3 };

// From the value of tokenizer.ggml.pre (absent: "default" -> kGpt2 is NOT assumed; the
// caller decides). Error for values lmul does not implement, naming them.
Result<PreTokenizer> PreTokenizerFromName(std::string_view pre);
const char* PreTokenizerName(PreTokenizer p);

// Appends the lengths (in code points, each > 0) of the words of `cps`, in order; they sum
// to cps.size().
void PreTokenize(PreTokenizer p, std::span<const uint32_t> cps, std::vector<uint32_t>* lengths);

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_TOKENIZER_PRETOKENIZER_H_
