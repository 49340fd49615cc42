// OpenAI-compatible request parsing and response JSON (no HTTP, no model): the body of
// POST /v1/completions and /v1/chat/completions checked field by field. Every error names
// the field (ApiError::param), as OpenAI's {"error": {"message", "type", "param"}} does.
//
// /v1/completions: prompt (string | [int] | [string] | [[int]], 1..max_prompts prompts),
//   max_tokens (int >= 0, default 16), temperature, top_p, top_k, min_p, repeat_penalty,
//   repeat_last_n, seed, stop (string | [string], <= 4, each 1..256 bytes), logprobs
//   (int 0..20 | null), echo (bool), stream (bool), n (1 only), lmul_arith (policy text),
//   model (any string; ignored).
// /v1/chat/completions: messages ([{role: system|user|assistant, content: string |
//   [{type: "text", text}]}], 1..max_messages), max_tokens or max_completion_tokens, the same
//   sampling fields, stop, stream, n, lmul_arith, model; logprobs true is refused.
// Fields not listed are ignored (OpenAI clients send e.g. "user", "frequency_penalty"
// defaults), except that known fields with a wrong type are refused.
#ifndef LMUL_SERVE_API_H_
#define LMUL_SERVE_API_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "serve/completion.h"

namespace lmul::serve {

struct ApiError {
  int status = 400;     // HTTP status
  std::string message;  // one line, names the field
  std::string param;    // the field ("" when not about one)
  std::string type = "invalid_request_error";
};

struct Limits {
  int max_prompts = 16;      // prompts in one /v1/completions request
  int max_messages = 256;    // chat messages
  int max_stop = 4;          // stop strings
  int max_stop_bytes = 256;  // bytes per stop string
  int max_logprobs = 20;     // top alternatives per token
};

// One prompt: text (tokenized by the server) or token ids.
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct CompletionRequest {
  std::vector<Prompt> prompts;
  GenerateParams gen;
  bool stream = false;
  std::optional<std::string> arith;  // lmul_arith
};

struct ChatRequest {
  std::vector<engine::ChatMessage> messages;
  GenerateParams gen;
  bool stream = false;
  std::optional<std::string> arith;
};

// Parses a request body. body_text is untrusted (any bytes).
std::variant<CompletionRequest, ApiError> ParseCompletionRequest(std::string_view body_text,
                                                                 const Limits& limits);
std::variant<ChatRequest, ApiError> ParseChatRequest(std::string_view body_text,
                                                     const Limits& limits);

// {"error": {"message", "type", "param", "code"}}.
nlohmann::json ErrorJson(const ApiError& e);
// JSON text that never throws on invalid UTF-8 in strings (replaced by U+FFFD).
std::string Dump(const nlohmann::json& j);

// OpenAI "logprobs" object of a completion choice: tokens, token_logprobs (null for the first
// prompt token), top_logprobs ({text: logprob}, null where token_logprobs is), text_offset.
nlohmann::json LogprobsJson(const std::vector<TokenLogprob>& lps, const Vocab& vocab);

}  // namespace lmul::serve

#endif  // LMUL_SERVE_API_H_
