// Tokenizer: byte-level BPE (GPT-2 style; tokenizer.ggml.model = "gpt2") built from GGUF
// metadata, reproducing llama.cpp's tokenization (src/llama-vocab.cpp) token for token:
//
//  1. Special tokens: the texts of CONTROL / USER_DEFINED / UNKNOWN tokens are cut out of the
//     input first, longest token first (CONTROL and UNKNOWN only when parse_special; a
//     USER_DEFINED token always). Each becomes its own id.
//  2. The rest is decoded as UTF-8 (invalid bytes -> U+FFFD, as llama.cpp) and split into
//     words by the pre-tokenizer tokenizer.ggml.pre names (engine/tokenizer/pretokenizer.h).
//  3. Each word's UTF-8 bytes are merged by BPE: the adjacent pair with the lowest merge rank
//     (tokenizer.ggml.merges order; leftmost on ties) is merged until no pair has a rank; each
//     resulting symbol is the token whose byte-level text it is.
//
// Words are cached (a mutex-guarded map), so Encode is safe to call from several threads.
// Decode / TokenPiece give raw bytes: byte-level characters mapped back to bytes; special
// tokens (control, user-defined, unknown) are rendered as their text, e.g. "<|im_end|>".
#ifndef LMUL_ENGINE_TOKENIZER_TOKENIZER_H_
#define LMUL_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/spm.h"

namespace lmul::engine {

// tokenizer.ggml.token_type values (llama.cpp enum llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// One turn of a conversation for Tokenizer::ApplyChatTemplate. role: "system", "user" or
// "assistant" (other roles are rendered verbatim, as the Jinja templates do; callers that take
// roles from untrusted input refuse them first, e.g. serve/).
struct ChatMessage {
  std::string role;
  std::string content;
};

// Everything the tokenizer is built from (the GGUF metadata, or a hand-made vocabulary).
struct TokenizerSpec {
  std::string model = "gpt2";                      // tokenizer.ggml.model
  std::string pre = "gpt2";                        // tokenizer.ggml.pre
  std::vector<std::string> tokens;                 // byte-level texts ("Ġthe"), specials verbatim
  std::vector<int32_t> token_types;                // empty: all kNormal
  std::vector<std::string> merges;                 // "left right", rank = index
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;  // -1: none
  bool add_bos = false;                            // tokenizer.ggml.add_bos_token
  std::string chat_template;  // tokenizer.chat_template (Jinja text), may be empty
};

class Tokenizer {
 public:
  // tokenizer.ggml.model "gpt2": byte-level BPE (above); "llama": SentencePiece-style BPE
  // (engine/tokenizer/spm.h, Gemma 3), with the same special-token handling (step 1).
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& gguf);
  // The metadata FromGguf reads (tokenizer.ggml.* and tokenizer.chat_template), checked for
  // types and id ranges; errors name the file and the key.
  static Result<TokenizerSpec> SpecFromGguf(const GgufFile& gguf);
  // Validates the spec (sizes, ids in range, merges well-formed; errors name the field).
  static Result<std::unique_ptr<Tokenizer>> FromSpec(TokenizerSpec spec);

  // Token ids of `text`; add_bos prepends bos() (if the model has one). parse_special:
  // recognise control-token texts such as <|im_start|> in `text`.
  std::vector<int32_t> Encode(std::string_view text, bool add_bos, bool parse_special) const;
  // Concatenated piece bytes. Ids outside [0, n_vocab) are a programming error (LMUL_CHECK).
  std::string Decode(std::span<const int32_t> tokens) const;
  std::string TokenPiece(int32_t token) const;        // bytes of one token
  const std::string& TokenText(int32_t token) const;  // as stored in the vocabulary
  TokenType token_type(int32_t token) const;

  int32_t bos() const { return bos_; }  // -1: none
  int32_t eos() const { return eos_; }  // -1: none
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  bool add_bos_default() const { return add_bos_; }  // tokenizer.ggml.add_bos_token
  // eos() and the other end-of-turn tokens llama.cpp stops on (<|im_end|>, <|endoftext|>,
  // <|eot_id|>, <end_of_turn>, ... when present in the vocabulary).
  bool IsEndOfGeneration(int32_t token) const;
  PreTokenizer pre_tokenizer() const { return pre_; }

  // Chat template: formats `messages` the way the model's tokenizer.chat_template (Jinja)
  // renders them, with the assistant's opening when add_generation_prompt. The template's
  // leading {{ bos_token }} is not rendered: Encode(add_bos) adds BOS as a token. Recognised
  // template families (tested against jinja2 renderings, scripts/make_chat_template_goldens.py):
  //  - ChatML (<|im_start|>role\ncontent<|im_end|>\n): contents verbatim; a default system turn
  //    written literally in the template (SmolLM2's "You are a helpful AI assistant named
  //    SmolLM...") is rendered first when the first message is not a system one.
  //  - Gemma (<start_of_turn>): "assistant" becomes "model"; contents trimmed; a first system
  //    message is folded into the first turn as "<system content>\n\n" (untrimmed), as
  //    Gemma 3's template does. Gemma's template refuses roles that do not alternate
  //    user/assistant; this renders them anyway (as llama.cpp does).
  //  - Llama 3 (<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>): contents
  //    trimmed (the Meta-Llama-3-Instruct template; not 3.1's tool/date preamble).
  // Without a recognised template: ChatML if the vocabulary has <|im_start|>, else the
  // contents joined by "\n" (no generation prompt). Roles other than system/user/assistant
  // are rendered verbatim (all three templates insert message['role'] as is).
  std::string ApplyChatTemplate(std::span<const ChatMessage> messages,
                                bool add_generation_prompt = true) const;
  // One user message with the generation prompt: ApplyChatTemplate({{"user", msg}}).
  std::string ApplyChatTemplate(std::string_view user_message) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;  // symbol id of left+right
  };
  Tokenizer() = default;
  Status Build(TokenizerSpec spec);
  int32_t InternSymbol(const std::string& text);
  // Appends the ids of one pre-tokenizer word (raw UTF-8 bytes).
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;
  void BpeWord(std::string_view word, std::vector<int32_t>* out) const;
  void EncodeText(std::string_view text, std::vector<int32_t>* out) const;

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::vector<std::string> pieces_;  // decoded bytes per token
  std::unordered_map<std::string, int32_t> token_id_;
  // BPE symbols: every string that can occur during merging, interned.
  std::unordered_map<std::string, int32_t> symbol_id_;
  std::vector<int32_t> symbol_token_;           // symbol -> token id or -1
  int32_t byte_symbol_[256];                    // byte -> symbol of its byte-level char, or -1
  std::unordered_map<uint64_t, Merge> merges_;  // (left symbol << 32 | right symbol)
  std::vector<int32_t> specials_;               // control/user-defined/unknown, longest text first
  std::vector<int32_t> end_of_generation_;
  PreTokenizer pre_ = PreTokenizer::kGpt2;
  bool ignore_merges_ = false;  // llama3: a word that is a token is taken whole
  int32_t bos_ = -1, eos_ = -1, unk_ = -1, pad_ = -1;
  bool add_bos_ = false;
  std::string chat_template_;
  std::unique_ptr<SpmTokenizer> spm_;  // tokenizer.ggml.model "llama": encodes raw fragments

  static Result<std::unique_ptr<Tokenizer>> FromGgufSpm(const GgufFile& gguf);

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> word_cache_;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_TOKENIZER_TOKENIZER_H_
