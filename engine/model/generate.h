// Text generation on a Session, as `lmul run` does it (llama-cli's conventions): the
// prompt's tokens (optionally through the chat template), a prefill, then one token at a
// time from a Sampler until n tokens, an end-of-generation token or the end of the KV
// cache; and a multi-turn chat (-cnv) that keeps the KV cache across turns and runs only
// the tokens after the longest common prefix of the rendered conversation with the cache.
#ifndef LMUL_ENGINE_MODEL_GENERATE_H_
#define LMUL_ENGINE_MODEL_GENERATE_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/model/sampler.h"
#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"

namespace lmul::engine {

// The tokens of a text prompt: with the model's chat template (one user turn after an
// optional system prompt; special tokens parsed) when `chat` or a system prompt is given,
// else the plain text; BOS as the tokenizer's default.
std::vector<int32_t> PromptTokens(const Tokenizer& tok, const std::string& text,
                                  const std::string& system_prompt, bool chat);

// How many leading tokens of `cache` (the KV cache's tokens) a run of `all` can keep: the
// longest common prefix, but at most all.size() - 1 so that at least one token runs and
// gives the next logits. all must not be empty.
size_t ReusablePrefix(std::span<const int32_t> cache, std::span<const int32_t> all);

struct GenerateStats {
  int prompt_tokens = 0;
  int generated = 0;  // tokens handed to on_token
  int decoded = 0;    // Forward calls after the first generated token (generated - 1, >= 0)
  double prefill_s = 0, decode_s = 0;
};

// Runs `prompt` (>= 1 token) from the session's current position, then generates up to n
// tokens: each sampled token is Accepted by the sampler, then stops generation if
// is_end(token) (not handed on), else goes to on_token; generation also stops when the KV
// cache is full. The prompt's tokens are Accepted first (the repetition history, as
// llama-cli). Errors: the session's.
Status Generate(Session& session, Sampler& sampler, std::span<const int32_t> prompt, int n,
                const std::function<bool(int32_t)>& is_end,
                const std::function<void(int32_t)>& on_token, GenerateStats* stats);

// -cnv: one conversation on one session, the KV cache reused across turns.
class Conversation {
 public:
  // The session must start empty; system_prompt "" means none.
  Conversation(const Tokenizer& tok, Session* session, Sampler* sampler,
               const std::string& system_prompt);

  struct TurnStats {
    size_t fresh = 0;   // prompt tokens run this turn
    size_t reused = 0;  // prompt tokens kept in the KV cache
    size_t generated = 0;
  };
  // Adds a user turn, runs its new tokens and generates the reply (up to n tokens; stops at
  // an end-of-generation token or the end of the cache), handing each token's bytes to
  // on_piece; the reply becomes the assistant turn. Errors: the conversation no longer
  // fits the KV cache (naming both sizes), or the session's.
  Status Turn(const std::string& user, int n, const std::function<void(std::string_view)>& on_piece,
              TurnStats* stats);

  const std::vector<ChatMessage>& messages() const { return messages_; }

 private:
  const Tokenizer& tok_;
  Session* session_;
  Sampler* sampler_;
  std::vector<ChatMessage> messages_;
  std::vector<int32_t> cache_;  // tokens in the KV cache
  std::vector<float> logits_;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_GENERATE_H_
