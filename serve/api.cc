#include "serve/api.h"

#include <cmath>
#include <limits>

namespace lmul::serve {
namespace {

using nlohmann::json;

ApiError Bad(std::string param, std::string message) {
  return ApiError{400, param + ": " + message, param};
}

// The value of a present, non-null field, or nullptr.
const json* Field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string TypeName(const json& j) { return j.type_name(); }

// Integer field in [lo, hi]; absent: keeps *out.
std::optional<ApiError> GetInt(const json& body, const char* name, int64_t lo, int64_t hi,
                               int64_t* out) {
  const json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer()) {
    return Bad(name, "expected an integer, got " + TypeName(*v) + " " + Dump(*v));
  }
  bool ok;
  int64_t x = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    ok = u <= static_cast<uint64_t>(hi);
    x = static_cast<int64_t>(std::min<uint64_t>(u, std::numeric_limits<int64_t>::max()));
  } else {
    x = v->get<int64_t>();
    ok = x >= lo && x <= hi;
  }
  if (!ok) {
    return Bad(name, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "], got " + Dump(*v));
  }
  *out = x;
  return std::nullopt;
}

std::optional<ApiError> GetNumber(const json& body, const char* name, double lo, double hi,
                                  bool lo_open, double* out) {
  const json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return Bad(name, "expected a number, got " + TypeName(*v));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || (lo_open && x == lo) || x > hi) {
    return Bad(name, std::string("expected a number in ") + (lo_open ? "(" : "[") +
                         std::to_string(lo) + ", " + std::to_string(hi) + "], got " + Dump(*v));
  }
  *out = x;
  return std::nullopt;
}

std::optional<ApiError> GetBool(const json& body, const char* name, bool* out) {
  const json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) return Bad(name, "expected true or false, got " + TypeName(*v));
  *out = v->get<bool>();
  return std::nullopt;
}

#define LMUL_API_TRY(expr)          \
  do {                              \
    if (auto e = (expr)) return *e; \
  } while (0)

// Fields shared by both endpoints: sampling, stop, n, stream, lmul_arith, model.
std::optional<ApiError> ParseCommon(const json& body, const Limits& limits, GenerateParams* gen,
                                    bool* stream, std::optional<std::string>* arith) {
  SamplingParams& s = gen->sampling;
  LMUL_API_TRY(GetNumber(body, "temperature", 0.0, 100.0, false, &s.temp));
  LMUL_API_TRY(GetNumber(body, "top_p", 0.0, 1.0, false, &s.top_p));
  LMUL_API_TRY(GetNumber(body, "min_p", 0.0, 1.0, false, &s.min_p));
  LMUL_API_TRY(GetNumber(body, "repeat_penalty", 0.0, 100.0, true, &s.repeat_penalty));
  int64_t v = s.top_k;
  LMUL_API_TRY(GetInt(body, "top_k", 0, 1 << 30, &v));
  s.top_k = static_cast<int>(v);
  v = s.repeat_last_n;
  LMUL_API_TRY(GetInt(body, "repeat_last_n", -1, 1 << 30, &v));
  s.repeat_last_n = static_cast<int>(v);
  if (const json* seed = Field(body, "seed")) {
    if (!seed->is_number_integer())
      return Bad("seed", "expected an integer, got " + TypeName(*seed));
    // -1 (or any negative): a random seed, as llama-server.
    if (seed->is_number_unsigned()) {
      s.seed = seed->get<uint64_t>();
    } else if (seed->get<int64_t>() >= 0) {
      s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    }
  }
  int64_t n = 1;
  LMUL_API_TRY(GetInt(body, "n", 1, 1, &n));
  LMUL_API_TRY(GetBool(body, "stream", stream));
  if (const json* m = Field(body, "model"); m != nullptr && !m->is_string()) {
    return Bad("model", "expected a string, got " + TypeName(*m));
  }
  if (const json* a = Field(body, "lmul_arith")) {
    if (!a->is_string()) return Bad("lmul_arith", "expected a policy string, got " + TypeName(*a));
    *arith = a->get<std::string>();
  }
  if (const json* st = Field(body, "stop")) {
    std::vector<std::string> stop;
    if (st->is_string()) {
      stop.push_back(st->get<std::string>());
    } else if (st->is_array()) {
      if (static_cast<int>(st->size()) > limits.max_stop) {
        return Bad("stop", "at most " + std::to_string(limits.max_stop) + " stop strings, got " +
                               std::to_string(st->size()));
      }
      for (const json& x : *st) {
        if (!x.is_string()) return Bad("stop", "expected strings, got " + TypeName(x));
        stop.push_back(x.get<std::string>());
      }
    } else {
      return Bad("stop", "expected a string or an array of strings, got " + TypeName(*st));
    }
    for (const std::string& x : stop) {
      if (x.empty() || static_cast<int>(x.size()) > limits.max_stop_bytes) {
        return Bad("stop", "each stop string must have 1.." +
                               std::to_string(limits.max_stop_bytes) + " bytes");
      }
    }
    gen->stop = std::move(stop);
  }
  return std::nullopt;
}

std::variant<json, ApiError> ParseBody(std::string_view text) {
  json body = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return ApiError{400, "body: malformed JSON (expected one JSON object)", "body"};
  }
  if (!body.is_object()) {
    return ApiError{400, "body: expected a JSON object, got " + TypeName(body), "body"};
  }
  return body;
}

std::optional<ApiError> ParseTokenList(const json& a, const char* name, std::vector<int32_t>* out) {
  for (const json& t : a) {
    if (!t.is_number_integer()) {
      return Bad(name, "token ids must be integers, got " + TypeName(t));
    }
    const int64_t x = t.is_number_unsigned()
                          ? static_cast<int64_t>(std::min<uint64_t>(
                                t.get<uint64_t>(), std::numeric_limits<int64_t>::max()))
                          : t.get<int64_t>();
    if (x < 0 || x > std::numeric_limits<int32_t>::max()) {
      return Bad(name, "token id " + Dump(t) + " out of range");
    }
    out->push_back(static_cast<int32_t>(x));
  }
  return std::nullopt;
}

}  // namespace

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

nlohmann::json ErrorJson(const ApiError& e) {
  return json{{"error",
               {{"message", e.message},
                {"type", e.type},
                {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                {"code", e.status}}}};
}

std::variant<CompletionRequest, ApiError> ParseCompletionRequest(std::string_view text,
                                                                 const Limits& limits) {
  auto parsed = ParseBody(text);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& body = std::get<json>(parsed);
  CompletionRequest r;
  const json* p = Field(body, "prompt");
  if (p == nullptr) return Bad("prompt", "required (a string, or an array of token ids)");
  if (p->is_string()) {
    r.prompts.emplace_back(p->get<std::string>());
  } else if (p->is_array()) {
    if (p->empty()) return Bad("prompt", "empty array");
    if ((*p)[0].is_number()) {
      std::vector<int32_t> ids;
      LMUL_API_TRY(ParseTokenList(*p, "prompt", &ids));
      r.prompts.emplace_back(std::move(ids));
    } else {
      if (static_cast<int>(p->size()) > limits.max_prompts) {
        return Bad("prompt", "at most " + std::to_string(limits.max_prompts) +
                                 " prompts per request, got " + std::to_string(p->size()));
      }
      for (const json& x : *p) {
        if (x.is_string()) {
          r.prompts.emplace_back(x.get<std::string>());
        } else if (x.is_array()) {
          std::vector<int32_t> ids;
          LMUL_API_TRY(ParseTokenList(x, "prompt", &ids));
          r.prompts.emplace_back(std::move(ids));
        } else {
          return Bad("prompt", "expected strings or arrays of token ids, got " + TypeName(x));
        }
      }
    }
  } else {
    return Bad("prompt", "expected a string or an array, got " + TypeName(*p));
  }
  for (const Prompt& x : r.prompts) {
    const auto* s = std::get_if<std::string>(&x);
    const auto* ids = std::get_if<std::vector<int32_t>>(&x);
    if ((s != nullptr && s->empty()) || (ids != nullptr && ids->empty())) {
      return Bad("prompt", "empty prompt");
    }
  }
  int64_t max_tokens = 16;  // OpenAI's default for /v1/completions
  LMUL_API_TRY(GetInt(body, "max_tokens", 0, std::numeric_limits<int32_t>::max(), &max_tokens));
  r.gen.max_tokens = static_cast<int>(max_tokens);
  if (const json* lp = Field(body, "logprobs")) {
    int64_t k = 0;
    LMUL_API_TRY(GetInt(body, "logprobs", 0, limits.max_logprobs, &k));
    (void)lp;
    r.gen.logprobs = static_cast<int>(k);
  }
  LMUL_API_TRY(GetBool(body, "echo", &r.gen.echo));
  LMUL_API_TRY(ParseCommon(body, limits, &r.gen, &r.stream, &r.arith));
  if (r.stream && r.gen.echo) return Bad("echo", "not supported with stream");
  return r;
}

std::variant<ChatRequest, ApiError> ParseChatRequest(std::string_view text, const Limits& limits) {
  auto parsed = ParseBody(text);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& body = std::get<json>(parsed);
  ChatRequest r;
  const json* m = Field(body, "messages");
  if (m == nullptr) return Bad("messages", "required (an array of {role, content})");
  if (!m->is_array() || m->empty()) return Bad("messages", "expected a non-empty array");
  if (static_cast<int>(m->size()) > limits.max_messages) {
    return Bad("messages", "at most " + std::to_string(limits.max_messages) + " messages, got " +
                               std::to_string(m->size()));
  }
  for (size_t i = 0; i < m->size(); ++i) {
    const json& x = (*m)[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!x.is_object()) return Bad(at, "expected an object, got " + TypeName(x));
    const json* role = Field(x, "role");
    if (role == nullptr || !role->is_string()) return Bad(at + ".role", "expected a string");
    const std::string rs = role->get<std::string>();
    if (rs != "system" && rs != "user" && rs != "assistant") {
      return Bad(at + ".role", "expected system, user or assistant, got \"" + rs + "\"");
    }
    const json* content = Field(x, "content");
    std::string cs;
    if (content == nullptr) return Bad(at + ".content", "required");
    if (content->is_string()) {
      cs = content->get<std::string>();
    } else if (content->is_array()) {
      for (const json& part : *content) {
        const json* type = part.is_object() ? Field(part, "type") : nullptr;
        const json* t = part.is_object() ? Field(part, "text") : nullptr;
        if (type == nullptr || *type != "text" || t == nullptr || !t->is_string()) {
          return Bad(at + ".content", "parts must be {\"type\": \"text\", \"text\": string}");
        }
        cs += t->get<std::string>();
      }
    } else {
      return Bad(at + ".content", "expected a string, got " + TypeName(*content));
    }
    r.messages.push_back({rs, std::move(cs)});
  }
  int64_t max_tokens = -1;
  LMUL_API_TRY(
      GetInt(body, "max_completion_tokens", 0, std::numeric_limits<int32_t>::max(), &max_tokens));
  LMUL_API_TRY(GetInt(body, "max_tokens", 0, std::numeric_limits<int32_t>::max(), &max_tokens));
  r.gen.max_tokens = static_cast<int>(max_tokens);  // -1: until the context is full
  if (const json* lp = Field(body, "logprobs")) {
    if (!lp->is_boolean()) return Bad("logprobs", "expected true or false");
    if (lp->get<bool>()) return Bad("logprobs", "not supported for chat completions");
  }
  LMUL_API_TRY(ParseCommon(body, limits, &r.gen, &r.stream, &r.arith));
  return r;
}

nlohmann::json LogprobsJson(const std::vector<TokenLogprob>& lps, const Vocab& vocab) {
  json tokens = json::array(), token_lp = json::array(), top = json::array(),
       offsets = json::array();
  for (const TokenLogprob& lp : lps) {
    tokens.push_back(lp.text);
    offsets.push_back(lp.text_offset);
    if (!lp.logprob) {
      token_lp.push_back(nullptr);
      top.push_back(nullptr);
      continue;
    }
    token_lp.push_back(*lp.logprob);
    json t = json::object();
    for (const auto& [id, l] : lp.top) {
      const std::string s = vocab.piece(id);
      if (!t.contains(s)) t[s] = l;  // two tokens with the same bytes: the likelier one
    }
    top.push_back(std::move(t));
  }
  return json{{"tokens", std::move(tokens)},
              {"token_logprobs", std::move(token_lp)},
              {"top_logprobs", std::move(top)},
              {"text_offset", std::move(offsets)}};
}

}  // namespace lmul::serve
