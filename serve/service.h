// The server's request handling without sockets: request bodies in, status + JSON (or a
// stream of server-sent events) out. Owns the bounded admission queue and the sessions.
//
// Concurrency: `parallel` requests run at once, each on its own Session (one per policy and
// slot, created on first use, reused; the Model and its packed weights are shared). Up to
// `queue` more wait for a slot; beyond that a request gets 503 at once. A request's prompt +
// max_tokens must fit `ctx` tokens (400 naming max_tokens or prompt otherwise). At most
// `max_policies` distinct policies are served (each one packs the weights once).
#ifndef LMUL_SERVE_SERVICE_H_
#define LMUL_SERVE_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/session.h"
#include "serve/api.h"
#include "serve/completion.h"

namespace lmul::serve {

struct ServiceOptions {
  std::string model_id = "lmul";  // "model" in responses and /v1/models
  std::string arith = "fp32";     // default policy (--arith)
  int ctx = 2048;                 // tokens per request: prompt + max_tokens
  int threads = 1;                // GEMM threads per session
  int parallel = 1;               // requests computed at once
  int queue = 16;                 // requests waiting beyond those (then 503)
  int max_policies = 4;           // distinct policies with sessions
  int64_t max_body_bytes = 1 << 20;
  Limits limits;
};

struct Reply {
  int status = 200;
  std::string body;     // JSON (non-streaming)
  bool stream = false;  // body empty; call Stream() to produce the events
};

// Writes one chunk of the event stream; false: the client is gone (stop generating).
using StreamWriter = std::function<bool(std::string_view chunk)>;

class Service {
 public:
  // Validates options and the default policy (errors name the flag).
  static Result<std::unique_ptr<Service>> Create(const engine::Model& model,
                                                 ServiceOptions options);
  ~Service();

  // GET /health, GET /v1/models.
  Reply Health() const;
  Reply Models() const;
  // Tokenizer endpoints (llama-server / vLLM style; lm-eval's "remote" tokenizer uses them):
  // GET /tokenizer_info {eos_token, bos_token, pad_token, chat_template};
  // POST /tokenize {"prompt" or "content": text, "add_special_tokens" or "add_special": bool
  //   (BOS when the model adds one; default false), "parse_special": bool (default false)}
  //   -> {"tokens": [...]}; POST /detokenize {"tokens": [...]} -> {"prompt": text}.
  // Tokenization as `lmul eval` does it: no special-token parsing unless asked.
  Reply TokenizerInfo() const;
  Reply Tokenize(std::string_view body) const;
  Reply Detokenize(std::string_view body) const;
  // POST /v1/completions and /v1/chat/completions. A streaming request that passes
  // validation and admission returns stream = true plus a job for StreamJob; the slot is
  // held until the job has run (or is destroyed).
  struct Job;
  Reply Completions(std::string_view body, std::shared_ptr<Job>* stream_job);
  Reply ChatCompletions(std::string_view body, std::shared_ptr<Job>* stream_job);
  // Runs a streaming job: "data: {chunk}\n\n" events, then "data: [DONE]\n\n".
  void RunStream(Job& job, const StreamWriter& write);

  // Refuses new requests (503) and wakes waiters; running ones stop at their next token.
  void Shutdown();
  bool shutting_down() const { return shutdown_.load(); }

  const ServiceOptions& options() const { return options_; }
  const engine::Model& model() const { return model_; }
  // Counters for /health and tests.
  int running() const;
  int waiting() const;

 private:
  struct Slot;
  class Lease;
  Service(const engine::Model& model, ServiceOptions options, engine::Policy default_policy);

  // Admission: a free slot (waits while at most `queue` requests wait), or 503.
  std::variant<std::unique_ptr<Lease>, ApiError> Acquire();
  // Policy of a request (default when absent); 400 naming lmul_arith when unknown.
  std::variant<engine::Policy, ApiError> ResolvePolicy(const std::optional<std::string>& arith);
  engine::Session& SessionFor(Lease& lease, const engine::Policy& policy);
  // Tokens of a prompt; 400 naming prompt when empty, out of vocabulary or too long for ctx.
  std::variant<std::vector<int32_t>, ApiError> TokenizePrompt(const Prompt& p,
                                                              bool parse_special) const;
  std::optional<ApiError> CheckBudget(size_t prompt_tokens, GenerateParams* gen,
                                      const char* max_tokens_field) const;
  Reply Error(const ApiError& e) const;
  Vocab vocab() const;

  const engine::Model& model_;
  const ServiceOptions options_;
  const engine::Policy default_policy_;
  std::atomic<bool> shutdown_{false};
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_slots_;
  int waiting_ = 0;
  std::vector<std::string> policies_;  // names of the policies with sessions
};

}  // namespace lmul::serve

#endif  // LMUL_SERVE_SERVICE_H_
