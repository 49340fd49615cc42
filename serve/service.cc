#include "serve/service.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "engine/tokenizer/tokenizer.h"

namespace lmul::serve {

using nlohmann::json;

struct Service::Slot {
  std::map<std::string, std::unique_ptr<engine::Session>> sessions;  // by policy name
};

class Service::Lease {
 public:
  Lease(Service* s, Slot* slot) : service_(s), slot_(slot) {}
  ~Lease() {
    {
      std::lock_guard<std::mutex> lock(service_->mu_);
      service_->free_slots_.push_back(slot_);
    }
    service_->cv_.notify_one();
  }
  Slot& slot() { return *slot_; }

 private:
  Service* service_;
  Slot* slot_;
};

struct Service::Job {
  std::unique_ptr<Lease> lease;
  engine::Session* session = nullptr;
  bool chat = false;
  std::string id;
  int64_t created = 0;
  std::vector<int32_t> prompt;
  GenerateParams gen;
};

namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

Result<std::unique_ptr<Service>> Service::Create(const engine::Model& model, ServiceOptions o) {
  auto policy = engine::Policy::Parse(o.arith);
  if (!policy.ok()) return MakeError("--arith: " + policy.error());
  auto range = [](const char* flag, int64_t v, int64_t lo, int64_t hi) -> Status {
    if (v < lo || v > hi) {
      return MakeError(std::string(flag) + ": expected " + std::to_string(lo) + ".." +
                       std::to_string(hi) + ", got " + std::to_string(v));
    }
    return Status::Ok();
  };
  LMUL_RETURN_IF_ERROR(range("--ctx", o.ctx, 2, 1 << 20));
  LMUL_RETURN_IF_ERROR(range("--threads", o.threads, 0, 1024));
  LMUL_RETURN_IF_ERROR(range("--parallel", o.parallel, 1, 256));
  LMUL_RETURN_IF_ERROR(range("--queue", o.queue, 0, 1 << 16));
  LMUL_RETURN_IF_ERROR(range("--max-policies", o.max_policies, 1, 64));
  LMUL_RETURN_IF_ERROR(range("--max-body", o.max_body_bytes, 1024, int64_t{1} << 30));
  const int model_ctx = model.config().n_ctx_train;
  if (model_ctx > 0 && o.ctx > model_ctx) {
    return MakeError("--ctx: " + std::to_string(o.ctx) + " exceeds the model's context length " +
                     std::to_string(model_ctx));
  }
  return std::unique_ptr<Service>(new Service(model, std::move(o), std::move(policy).value()));
}

Service::Service(const engine::Model& model, ServiceOptions options, engine::Policy policy)
    : model_(model), options_(std::move(options)), default_policy_(std::move(policy)) {
  for (int i = 0; i < options_.parallel; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    free_slots_.push_back(slots_.back().get());
  }
}

Service::~Service() = default;

int Service::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(slots_.size() - free_slots_.size());
}

int Service::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

void Service::Shutdown() {
  shutdown_ = true;
  cv_.notify_all();
}

Reply Service::Error(const ApiError& e) const { return Reply{e.status, Dump(ErrorJson(e))}; }

Vocab Service::vocab() const {
  Vocab v;
  if (model_.has_tokenizer()) {
    const engine::Tokenizer* tok = &model_.tokenizer();
    v.piece = [tok](int32_t t) { return tok->TokenPiece(t); };
    v.is_end = [tok](int32_t t) { return tok->IsEndOfGeneration(t); };
  } else {
    // A model without tokenizer metadata (synthetic test models): ids as text.
    v.piece = [](int32_t t) { return "<" + std::to_string(t) + ">"; };
    v.is_end = [](int32_t) { return false; };
  }
  return v;
}

Reply Service::Health() const {
  return Reply{200, Dump(json{{"status", shutdown_ ? "shutting down" : "ok"},
                              {"running", running()},
                              {"waiting", waiting()}})};
}

Reply Service::Models() const {
  json m = {{"id", options_.model_id},
            {"object", "model"},
            {"created", 0},
            {"owned_by", "lmul"},
            {"lmul_arith", default_policy_.Name()},
            {"n_ctx", options_.ctx}};
  return Reply{200, Dump(json{{"object", "list"}, {"data", json::array({m})}})};
}

Reply Service::TokenizerInfo() const {
  if (!model_.has_tokenizer()) return Error(ApiError{404, "this model has no tokenizer", ""});
  const engine::Tokenizer& tok = model_.tokenizer();
  const auto text = [&](int32_t id) { return id < 0 ? json(nullptr) : json(tok.TokenText(id)); };
  return Reply{200, Dump(json{{"eos_token", text(tok.eos())},
                              {"bos_token", text(tok.bos())},
                              {"pad_token", nullptr},
                              {"add_bos_token", tok.add_bos_default()},
                              {"model", options_.model_id}})};
}

Reply Service::Tokenize(std::string_view body_text) const {
  if (!model_.has_tokenizer()) return Error(ApiError{404, "this model has no tokenizer", ""});
  json body = json::parse(body_text.begin(), body_text.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return Error(ApiError{400, "body: expected a JSON object", "body"});
  }
  const char* key = body.contains("prompt") ? "prompt" : "content";
  if (!body.contains(key) || !body[key].is_string()) {
    return Error(ApiError{400, "prompt: expected a string", "prompt"});
  }
  bool add_special = false, parse_special = false;
  for (const char* k : {"add_special_tokens", "add_special"}) {
    if (!body.contains(k)) continue;
    if (!body[k].is_boolean()) return Error(ApiError{400, std::string(k) + ": expected a bool", k});
    add_special = body[k].get<bool>();
  }
  if (body.contains("parse_special")) {
    if (!body["parse_special"].is_boolean()) {
      return Error(ApiError{400, "parse_special: expected a bool", "parse_special"});
    }
    parse_special = body["parse_special"].get<bool>();
  }
  const engine::Tokenizer& tok = model_.tokenizer();
  const std::string& text = body[key].get_ref<const std::string&>();
  const auto ids = tok.Encode(text, add_special && tok.add_bos_default(), parse_special);
  return Reply{200, Dump(json{{"tokens", ids}})};
}

Reply Service::Detokenize(std::string_view body_text) const {
  if (!model_.has_tokenizer()) return Error(ApiError{404, "this model has no tokenizer", ""});
  json body = json::parse(body_text.begin(), body_text.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return Error(ApiError{400, "body: expected a JSON object", "body"});
  }
  auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) {
    return Error(ApiError{400, "tokens: expected an array of token ids", "tokens"});
  }
  std::vector<int32_t> ids;
  for (const json& t : *it) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
        t.get<int64_t>() >= model_.config().n_vocab) {
      return Error(ApiError{
          400,
          "tokens: ids must be integers in [0, " + std::to_string(model_.config().n_vocab) + ")",
          "tokens"});
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return Reply{200, Dump(json{{"prompt", model_.tokenizer().Decode(ids)}})};
}

std::variant<std::unique_ptr<Service::Lease>, ApiError> Service::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto busy = [&] {
    return ApiError{503,
                    "server busy: " + std::to_string(slots_.size()) + " requests running and " +
                        std::to_string(waiting_) + " waiting (--parallel " +
                        std::to_string(options_.parallel) + ", --queue " +
                        std::to_string(options_.queue) + "); retry later",
                    "", "server_error"};
  };
  if (shutdown_) return ApiError{503, "server shutting down", "", "server_error"};
  if (free_slots_.empty()) {
    if (waiting_ >= options_.queue) return busy();
    ++waiting_;
    cv_.wait(lock, [&] { return !free_slots_.empty() || shutdown_; });
    --waiting_;
    if (shutdown_) return ApiError{503, "server shutting down", "", "server_error"};
  }
  Slot* s = free_slots_.back();
  free_slots_.pop_back();
  return std::make_unique<Lease>(this, s);
}

std::variant<engine::Policy, ApiError> Service::ResolvePolicy(
    const std::optional<std::string>& arith) {
  if (!arith) return default_policy_;
  auto p = engine::Policy::Parse(*arith);
  if (!p.ok()) return ApiError{400, "lmul_arith: " + p.error(), "lmul_arith"};
  const std::string name = p->Name();
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(policies_.begin(), policies_.end(), name) == policies_.end()) {
    const bool is_default = name == default_policy_.Name();
    const size_t reserved =
        std::find(policies_.begin(), policies_.end(), default_policy_.Name()) == policies_.end();
    if (!is_default && policies_.size() + reserved >= static_cast<size_t>(options_.max_policies)) {
      return ApiError{400,
                      "lmul_arith: this server serves at most " +
                          std::to_string(options_.max_policies) + " policies (--max-policies); \"" +
                          name + "\" would be one more",
                      "lmul_arith"};
    }
    policies_.push_back(name);
  }
  return std::move(p).value();
}

engine::Session& Service::SessionFor(Lease& lease, const engine::Policy& policy) {
  auto& s = lease.slot().sessions[policy.Name()];
  if (!s) s = std::make_unique<engine::Session>(model_, policy, options_.ctx, options_.threads);
  return *s;
}

std::variant<std::vector<int32_t>, ApiError> Service::TokenizePrompt(const Prompt& p,
                                                                     bool parse_special) const {
  std::vector<int32_t> ids;
  if (const auto* text = std::get_if<std::string>(&p)) {
    if (!model_.has_tokenizer()) {
      return ApiError{400, "prompt: this model has no tokenizer; send token ids", "prompt"};
    }
    // The text is at most --max-body bytes; its token count is checked below.
    const engine::Tokenizer& tok = model_.tokenizer();
    ids = tok.Encode(*text, tok.add_bos_default(), parse_special);
  } else {
    ids = std::get<std::vector<int32_t>>(p);
    const int32_t n_vocab = model_.config().n_vocab;
    for (int32_t t : ids) {
      if (t < 0 || t >= n_vocab) {
        return ApiError{400,
                        "prompt: token id " + std::to_string(t) + " outside the vocabulary [0, " +
                            std::to_string(n_vocab) + ")",
                        "prompt"};
      }
    }
  }
  if (ids.empty()) return ApiError{400, "prompt: no tokens", "prompt"};
  if (static_cast<int64_t>(ids.size()) > options_.ctx) {
    return ApiError{400,
                    "prompt: " + std::to_string(ids.size()) + " tokens exceed the context of " +
                        std::to_string(options_.ctx) + " tokens (--ctx)",
                    "prompt"};
  }
  return ids;
}

std::optional<ApiError> Service::CheckBudget(size_t prompt_tokens, GenerateParams* gen,
                                             const char* field) const {
  const int64_t room = options_.ctx - static_cast<int64_t>(prompt_tokens);
  if (gen->max_tokens < 0) {  // chat without max_tokens: until the context is full
    gen->max_tokens = static_cast<int>(room);
    return std::nullopt;
  }
  if (gen->max_tokens > room) {
    return ApiError{400,
                    std::string(field) + ": " + std::to_string(gen->max_tokens) + " + " +
                        std::to_string(prompt_tokens) + " prompt tokens exceed the context of " +
                        std::to_string(options_.ctx) + " tokens (--ctx)",
                    field};
  }
  return std::nullopt;
}

Reply Service::Completions(std::string_view body, std::shared_ptr<Job>* stream_job) {
  if (shutdown_) return Error(ApiError{503, "server shutting down", "", "server_error"});
  auto req = ParseCompletionRequest(body, options_.limits);
  if (auto* e = std::get_if<ApiError>(&req)) return Error(*e);
  CompletionRequest& r = std::get<CompletionRequest>(req);
  auto policy = ResolvePolicy(r.arith);
  if (auto* e = std::get_if<ApiError>(&policy)) return Error(*e);
  if (r.stream && r.prompts.size() != 1) {
    return Error(ApiError{400, "prompt: stream takes one prompt", "prompt"});
  }
  std::vector<std::vector<int32_t>> prompts;
  for (const Prompt& p : r.prompts) {
    auto ids = TokenizePrompt(p, /*parse_special=*/true);
    if (auto* e = std::get_if<ApiError>(&ids)) return Error(*e);
    prompts.push_back(std::move(std::get<std::vector<int32_t>>(ids)));
    GenerateParams g = r.gen;
    if (auto e = CheckBudget(prompts.back().size(), &g, "max_tokens")) return Error(*e);
  }
  auto lease = Acquire();
  if (auto* e = std::get_if<ApiError>(&lease)) return Error(*e);
  auto job = std::make_shared<Job>();
  job->lease = std::move(std::get<std::unique_ptr<Lease>>(lease));
  job->session = &SessionFor(*job->lease, std::get<engine::Policy>(policy));
  job->id = "cmpl-" + std::to_string(next_id_++);
  job->created = Now();
  job->gen = r.gen;
  if (r.stream) {
    job->prompt = std::move(prompts[0]);
    *stream_job = job;
    return Reply{200, "", true};
  }
  json choices = json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0;
  const Vocab v = vocab();
  for (size_t i = 0; i < prompts.size(); ++i) {
    CompletionResult res;
    const DeltaFn alive = [this](std::string_view) { return !shutdown_.load(); };
    Status st = Complete(*job->session, v, prompts[i], r.gen, alive, &res);
    if (!st.ok()) return Error(ApiError{500, st.error(), "", "server_error"});
    if (res.finish_reason == "cancelled") {
      return Error(ApiError{503, "server shutting down", "", "server_error"});
    }
    prompt_tokens += res.prompt_tokens;
    completion_tokens += static_cast<int64_t>(res.generated.size());
    choices.push_back({{"index", i},
                       {"text", res.text},
                       {"logprobs", r.gen.logprobs >= 0 ? LogprobsJson(res.logprobs, v) : json()},
                       {"finish_reason", res.finish_reason}});
  }
  json out = {{"id", job->id},
              {"object", "text_completion"},
              {"created", job->created},
              {"model", options_.model_id},
              {"choices", std::move(choices)},
              {"usage",
               {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}}}};
  return Reply{200, Dump(out)};
}

Reply Service::ChatCompletions(std::string_view body, std::shared_ptr<Job>* stream_job) {
  if (shutdown_) return Error(ApiError{503, "server shutting down", "", "server_error"});
  auto req = ParseChatRequest(body, options_.limits);
  if (auto* e = std::get_if<ApiError>(&req)) return Error(*e);
  ChatRequest& r = std::get<ChatRequest>(req);
  if (!model_.has_tokenizer()) {
    return Error(
        ApiError{400, "messages: this model has no tokenizer (no chat template)", "messages"});
  }
  auto policy = ResolvePolicy(r.arith);
  if (auto* e = std::get_if<ApiError>(&policy)) return Error(*e);
  const std::string text = model_.tokenizer().ApplyChatTemplate(r.messages, true);
  auto ids = TokenizePrompt(Prompt(text), /*parse_special=*/true);
  if (auto* e = std::get_if<ApiError>(&ids)) {
    ApiError err = *e;
    err.param = "messages";
    err.message = "messages" + err.message.substr(err.message.find(':'));
    return Error(err);
  }
  auto& prompt = std::get<std::vector<int32_t>>(ids);
  if (auto e = CheckBudget(prompt.size(), &r.gen, "max_tokens")) return Error(*e);
  auto lease = Acquire();
  if (auto* e = std::get_if<ApiError>(&lease)) return Error(*e);
  auto job = std::make_shared<Job>();
  job->lease = std::move(std::get<std::unique_ptr<Lease>>(lease));
  job->session = &SessionFor(*job->lease, std::get<engine::Policy>(policy));
  job->chat = true;
  job->id = "chatcmpl-" + std::to_string(next_id_++);
  job->created = Now();
  job->gen = r.gen;
  job->prompt = std::move(prompt);
  if (r.stream) {
    *stream_job = job;
    return Reply{200, "", true};
  }
  CompletionResult res;
  const DeltaFn alive = [this](std::string_view) { return !shutdown_.load(); };
  Status st = Complete(*job->session, vocab(), job->prompt, job->gen, alive, &res);
  if (!st.ok()) return Error(ApiError{500, st.error(), "", "server_error"});
  if (res.finish_reason == "cancelled") {
    return Error(ApiError{503, "server shutting down", "", "server_error"});
  }
  const int64_t pt = res.prompt_tokens, ct = static_cast<int64_t>(res.generated.size());
  json out = {
      {"id", job->id},
      {"object", "chat.completion"},
      {"created", job->created},
      {"model", options_.model_id},
      {"choices", json::array({{{"index", 0},
                                {"message", {{"role", "assistant"}, {"content", res.text}}},
                                {"logprobs", nullptr},
                                {"finish_reason", res.finish_reason}}})},
      {"usage", {{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}}}};
  return Reply{200, Dump(out)};
}

void Service::RunStream(Job& job, const StreamWriter& write) {
  const auto chunk = [&](json delta_or_text, const json& finish) {
    json choice = {{"index", 0}, {"finish_reason", finish}};
    if (job.chat) {
      choice["delta"] = std::move(delta_or_text);
    } else {
      choice["text"] = std::move(delta_or_text);
      choice["logprobs"] = nullptr;
    }
    json c = {{"id", job.id},
              {"object", job.chat ? "chat.completion.chunk" : "text_completion"},
              {"created", job.created},
              {"model", options_.model_id},
              {"choices", json::array({std::move(choice)})}};
    return write("data: " + Dump(c) + "\n\n");
  };
  if (job.chat && !chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr)) return;
  CompletionResult res;
  const DeltaFn on_delta = [&](std::string_view d) {
    if (shutdown_) return false;
    if (d.empty()) return true;
    const std::string s(d);
    return job.chat ? chunk(json{{"content", s}}, nullptr) : chunk(json(s), nullptr);
  };
  Status st = Complete(*job.session, vocab(), job.prompt, job.gen, on_delta, &res);
  if (!st.ok()) {
    write("data: " + Dump(ErrorJson(ApiError{500, st.error(), "", "server_error"})) + "\n\n");
    return;
  }
  if (res.finish_reason == "cancelled") return;
  if (!chunk(job.chat ? json::object() : json(""), res.finish_reason)) return;
  write("data: [DONE]\n\n");
}

}  // namespace lmul::serve
