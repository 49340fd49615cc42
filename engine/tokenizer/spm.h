// SpmTokenizer: SentencePiece-style BPE (tokenizer.ggml.model = "llama", as Gemma 3 and
// Llama 1/2 use) built from GGUF metadata, following llama.cpp's llm_tokenizer_spm
// (src/llama-vocab.cpp):
//
//  1. USER_DEFINED token texts (Gemma: "\n", "\n\n", "<b>", ...) are cut out of the input,
//     leftmost-longest; each becomes its own id. (CONTROL texts such as "<start_of_turn>"
//     are plain text: parse_special is not supported here.)
//  2. Each remaining fragment gets a leading space if tokenizer.ggml.add_space_prefix, then
//     every ' ' becomes U+2581 ("▁").
//  3. Symbols start as single UTF-8 characters; repeatedly the adjacent pair whose
//     concatenation is a NORMAL or USER_DEFINED token with the highest score
//     (tokenizer.ggml.scores; leftmost on ties) is merged.
//  4. A final symbol that is not a token is split back along its merges; pieces that are
//     still not tokens become byte tokens "<0xXX>" (byte fallback).
//
// Used by Tokenizer::FromGguf for tokenizer.ggml.model "llama" (Tokenizer cuts out the
// special tokens first, so Encode here sees raw fragments); tested against Google's
// sentencepiece on Gemma 3's vocabulary (tests/testdata/engine/gemma3_tokens.txt).
// add_space_prefix is applied to every fragment (llama.cpp: only to the first fragment and
// after special tokens); Gemma 3 has it false.
#ifndef LMUL_ENGINE_TOKENIZER_SPM_H_
#define LMUL_ENGINE_TOKENIZER_SPM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf.h"

namespace lmul::engine {

class SpmTokenizer {
 public:
  // Reads tokenizer.ggml.{model,tokens,scores,token_type,bos_token_id,add_bos_token,
  // add_space_prefix}; errors name the file and the key.
  static Result<std::unique_ptr<SpmTokenizer>> FromGguf(const GgufFile& gguf);
  // Hand-made vocabulary (tests). types: tokenizer.ggml.token_type values (1 normal,
  // 3 control, 4 user-defined, 6 byte); all vectors the same length.
  static Result<std::unique_ptr<SpmTokenizer>> FromVocab(std::vector<std::string> tokens,
                                                         std::vector<float> scores,
                                                         std::vector<int32_t> types, int32_t bos,
                                                         bool add_space_prefix);

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const;
  std::string Decode(const std::vector<int32_t>& ids) const;  // pieces, "▁" -> ' ', bytes
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }

 private:
  SpmTokenizer() = default;
  void EncodeFragment(std::string_view text, std::vector<int32_t>* out) const;
  int32_t Find(std::string_view text) const;  // mergeable token id or -1

  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string, int32_t> id_;  // NORMAL and USER_DEFINED texts
  std::vector<int32_t> user_defined_;            // ids, longest text first
  int32_t byte_id_[256];
  int32_t bos_ = -1;
  bool add_space_prefix_ = false;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_TOKENIZER_SPM_H_
