// Completion logic of the server, independent of HTTP: generation from a prompt with a
// Session (sampling, stop strings, end-of-generation tokens, streaming deltas) and OpenAI
// "logprobs" (per-token log-probabilities of the prompt when echoing, and of generated
// tokens). Log-probabilities are computed exactly as `lmul eval` computes log-likelihoods:
// log p(t) = logit[t] - lse, lse = max + log(sum exp(x - max)) in double
// (eval::SummarizeRow), from the same Session arithmetic; a prompt is run in chunks of
// Forward (bit-identical to one Forward, engine/model/session.h), so summing the returned
// token_logprobs of a continuation gives `lmul eval`'s loglik for it.
#ifndef LMUL_SERVE_COMPLETION_H_
#define LMUL_SERVE_COMPLETION_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/model/session.h"
#include "serve/sampling.h"

namespace lmul::serve {

// What generation needs from the vocabulary (the model's Tokenizer, or a test's lambdas).
struct Vocab {
  std::function<std::string(int32_t)> piece;  // bytes of one token
  std::function<bool(int32_t)> is_end;        // end-of-generation token
};

struct GenerateParams {
  int max_tokens = 16;            // tokens to generate (0: none, e.g. echo scoring)
  SamplingParams sampling;        // validated by the caller
  std::vector<std::string> stop;  // stop strings (not included in the text)
  int logprobs = -1;              // -1: none; k >= 0: logprobs with the top k alternatives
  bool echo = false;              // the prompt's tokens (and logprobs) come first
};

struct TokenLogprob {
  int32_t token = 0;
  std::string text;                             // the token's bytes
  std::optional<double> logprob;                // none for the first prompt token
  std::vector<std::pair<int32_t, double>> top;  // best k (token, logprob), descending
  size_t text_offset = 0;                       // byte offset of the token in the returned text
};

struct CompletionResult {
  std::string text;                // echoed prompt (if echo) + generated text
  std::vector<int32_t> generated;  // generated token ids (an end token is not included)
  std::string finish_reason;       // "length" or "stop"
  int prompt_tokens = 0;
  // When params.logprobs >= 0: the echoed prompt tokens, the generated ones, and an end
  // token that stopped generation (its text is not in `text`).
  std::vector<TokenLogprob> logprobs;
};

// Streaming: called with each new piece of generated text that is final (complete UTF-8,
// and not a possible beginning of a stop string); returns false to cancel (client gone).
using DeltaFn = std::function<bool(std::string_view delta)>;

// Runs prompt (>= 1 token; prompt + max_tokens <= session.n_ctx(), checked by the caller:
// the session's own check is an error here) through a session rewound to 0.
// Errors: the session's (token out of range, context exceeded); a cancelled stream gives
// finish_reason "cancelled".
Status Complete(engine::Session& session, const Vocab& vocab, std::span<const int32_t> prompt,
                const GenerateParams& params, const DeltaFn& on_delta, CompletionResult* out);

// Length of the longest prefix of `text` that cannot change as more bytes arrive: complete
// UTF-8 sequences, and no suffix that is a proper prefix of a stop string. Exposed for tests.
size_t StableLength(std::string_view text, std::span<const std::string> stop);
// Position of the first occurrence of any stop string in text, or npos.
size_t FindStop(std::string_view text, std::span<const std::string> stop);

}  // namespace lmul::serve

#endif  // LMUL_SERVE_COMPLETION_H_
