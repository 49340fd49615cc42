// serve/ without sockets: request parsing and validation (every error names its field),
// stop-string/UTF-8 streaming helpers, and the Service on the tiny synthetic model
// (generation equals a hand-driven greedy Session, echo logprobs equal lmul eval's
// log-softmax over one Forward, limits, admission queue, streaming).
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/testing/tiny_llama.h"
#include "eval/evaluator.h"
#include "serve/api.h"
#include "serve/completion.h"
#include "serve/service.h"

namespace lmul::serve {
namespace {

using nlohmann::json;

ApiError CompletionError(const std::string& body) {
  auto r = ParseCompletionRequest(body, Limits());
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

ApiError ChatError(const std::string& body) {
  auto r = ParseChatRequest(body, Limits());
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

TEST(ServeApi, CompletionRequestErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "body"},
      {"[1,2]", "body"},
      {"\"text\"", "body"},
      {R"({})", "prompt"},
      {R"({"prompt": 5})", "prompt"},
      {R"({"prompt": ""})", "prompt"},
      {R"({"prompt": []})", "prompt"},
      {R"({"prompt": [1, "a"]})", "prompt"},
      {R"({"prompt": [1, -3]})", "prompt"},
      {R"({"prompt": [1, 1e3]})", "prompt"},
      {R"({"prompt": [[1], {}]})", "prompt"},
      {R"({"prompt": "hi", "max_tokens": "7"})", "max_tokens"},
      {R"({"prompt": "hi", "max_tokens": -1})", "max_tokens"},
      {R"({"prompt": "hi", "max_tokens": 1.5})", "max_tokens"},
      {R"({"prompt": "hi", "max_tokens": 99999999999999999999})", "max_tokens"},
      {R"({"prompt": "hi", "temperature": "hot"})", "temperature"},
      {R"({"prompt": "hi", "temperature": -0.1})", "temperature"},
      {R"({"prompt": "hi", "top_p": 1.5})", "top_p"},
      {R"({"prompt": "hi", "min_p": -1})", "min_p"},
      {R"({"prompt": "hi", "top_k": -1})", "top_k"},
      {R"({"prompt": "hi", "repeat_penalty": 0})", "repeat_penalty"},
      {R"({"prompt": "hi", "seed": "x"})", "seed"},
      {R"({"prompt": "hi", "stop": 3})", "stop"},
      {R"({"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]})", "stop"},
      {R"({"prompt": "hi", "stop": [""]})", "stop"},
      {R"({"prompt": "hi", "logprobs": 21})", "logprobs"},
      {R"({"prompt": "hi", "logprobs": true})", "logprobs"},
      {R"({"prompt": "hi", "echo": 1})", "echo"},
      {R"({"prompt": "hi", "stream": "yes"})", "stream"},
      {R"({"prompt": "hi", "n": 2})", "n"},
      {R"({"prompt": "hi", "model": 3})", "model"},
      {R"({"prompt": "hi", "lmul_arith": 3})", "lmul_arith"},
      {R"({"prompt": "hi", "stream": true, "echo": true})", "echo"},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = CompletionError(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << " -> " << e.message;
    EXPECT_EQ(e.message.rfind(param + ":", 0), 0u) << e.message;
    const json j = ErrorJson(e);
    EXPECT_EQ(j["error"]["param"], param);
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  }
}

TEST(ServeApi, CompletionRequestParses) {
  auto r = ParseCompletionRequest(
      R"({"model": "m", "prompt": [[1, 2], "text"], "max_tokens": 0, "temperature": 0,
          "top_p": 0.5, "top_k": 3, "min_p": 0.1, "seed": 42, "stop": "\n", "logprobs": 2,
          "echo": true, "lmul_arith": "lmul-attn", "user": "ignored", "suffix": null})",
      Limits());
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(r)) << std::get<ApiError>(r).message;
  const CompletionRequest& c = std::get<CompletionRequest>(r);
  ASSERT_EQ(c.prompts.size(), 2u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(c.prompts[0]), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(std::get<std::string>(c.prompts[1]), "text");
  EXPECT_EQ(c.gen.max_tokens, 0);
  EXPECT_EQ(c.gen.sampling.temp, 0.0);
  EXPECT_EQ(c.gen.sampling.top_p, 0.5);
  EXPECT_EQ(c.gen.sampling.top_k, 3);
  EXPECT_EQ(c.gen.sampling.seed, 42u);
  EXPECT_EQ(c.gen.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(c.gen.logprobs, 2);
  EXPECT_TRUE(c.gen.echo);
  EXPECT_EQ(c.arith, "lmul-attn");
  // Defaults: max_tokens 16, no logprobs, llama-server's sampling defaults.
  auto d = ParseCompletionRequest(R"({"prompt": [5]})", Limits());
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(d));
  EXPECT_EQ(std::get<CompletionRequest>(d).gen.max_tokens, 16);
  EXPECT_EQ(std::get<CompletionRequest>(d).gen.logprobs, -1);
  EXPECT_EQ(std::get<CompletionRequest>(d).gen.sampling.temp, SamplingParams().temp);
}

TEST(ServeApi, ChatRequestErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({})", "messages"},
      {R"({"messages": [3]})", "messages[0]"},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]})",
       "messages[1].role"},
      {R"({"messages": [{"content": "a"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": "a"}], "max_tokens": "x"})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "a"}], "max_completion_tokens": -2})",
       "max_completion_tokens"},
      {R"({"messages": [{"role": "user", "content": "a"}], "logprobs": true})", "logprobs"},
      {R"({"messages": [{"role": "user", "content": "a"}], "stream": 1})", "stream"},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = ChatError(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << " -> " << e.message;
  }
  auto ok = ParseChatRequest(
      R"({"messages": [{"role": "system", "content": "S"},
                       {"role": "user", "content": [{"type": "text", "text": "a"},
                                                    {"type": "text", "text": "b"}]}],
          "max_completion_tokens": 9, "stream": true})",
      Limits());
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(ok)) << std::get<ApiError>(ok).message;
  const ChatRequest& c = std::get<ChatRequest>(ok);
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[1].content, "ab");
  EXPECT_EQ(c.gen.max_tokens, 9);
  EXPECT_TRUE(c.stream);
}

TEST(ServeCompletion, StopAndUtf8Holdback) {
  const std::vector<std::string> stop = {"END", "\n\n"};
  EXPECT_EQ(FindStop("abcENDx", stop), 3u);
  EXPECT_EQ(FindStop("a\n\nEND", stop), 1u);
  EXPECT_EQ(FindStop("abc", stop), std::string::npos);
  EXPECT_EQ(StableLength("abc", stop), 3u);
  EXPECT_EQ(StableLength("abcE", stop), 3u);  // "E" may start "END"
  EXPECT_EQ(StableLength("abcEN", stop), 3u);
  EXPECT_EQ(StableLength("abc\n", stop), 3u);  // may start "\n\n"
  EXPECT_EQ(StableLength("abcX", stop), 4u);
  EXPECT_EQ(StableLength("a\xC3", {}), 1u);          // half of "é"
  EXPECT_EQ(StableLength("a\xC3\xA9", {}), 3u);      // complete
  EXPECT_EQ(StableLength("a\xE2\x82", {}), 1u);      // 2 of 3 bytes of "€"
  EXPECT_EQ(StableLength("a\xF0\x9F\x98", {}), 1u);  // 3 of 4 bytes
  EXPECT_EQ(StableLength("a\xF0\x9F\x98\x80", {}), 5u);
  EXPECT_EQ(StableLength("a\x80", {}), 2u);  // a stray continuation byte stays as it is
}

class ServeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = engine::testmodel::PerProcessPath(::testing::TempDir(), "serve_tiny");
    ASSERT_TRUE(engine::testmodel::WriteTinyLlama({}, path_).ok());
    auto m = engine::Model::Load(path_);
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = std::move(m).value();
  }
  void TearDown() override { unlink(path_.c_str()); }

  std::unique_ptr<Service> Make(ServiceOptions o = {}) {
    o.ctx = 64;
    auto s = Service::Create(*model_, o);
    EXPECT_TRUE(s.ok()) << s.error();
    return std::move(s).value();
  }
  // Greedy tokens from a hand-driven session.
  std::vector<int32_t> Greedy(const std::vector<int32_t>& prompt, int n, const char* arith) {
    auto policy = engine::Policy::Parse(arith);
    engine::Session s(*model_, *policy, 64, 1);
    std::vector<float> row;
    EXPECT_TRUE(s.ForwardLast(prompt, &row).ok());
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
      int32_t best = 0;
      for (int v = 1; v < static_cast<int>(row.size()); ++v) {
        if (row[v] > row[best]) best = v;
      }
      out.push_back(best);
      if (i + 1 < n) {
        EXPECT_TRUE(s.Forward({&best, 1}, &row).ok());
      }
    }
    return out;
  }

  std::string path_;
  std::unique_ptr<engine::Model> model_;
};

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t t : ids) s += "<" + std::to_string(t) + ">";
  return s;
}

TEST_F(ServeServiceTest, GreedyCompletionEqualsSessionUnderEachPolicy) {
  auto svc = Make();
  std::shared_ptr<Service::Job> job;
  for (const char* arith : {"fp32", "lmul-attn"}) {
    const Reply r = svc->Completions(
        std::string(R"({"prompt": [3, 14, 15, 9], "max_tokens": 6, "temperature": 0,
                        "lmul_arith": ")") +
            arith + "\"}",
        &job);
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["choices"][0]["text"], Ids(Greedy({3, 14, 15, 9}, 6, arith))) << arith;
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
    EXPECT_EQ(j["usage"]["completion_tokens"], 6);
    EXPECT_EQ(j["choices"][0]["logprobs"], nullptr);
  }
  // The two policies give different continuations somewhere (else the test proves nothing).
  EXPECT_NE(Greedy({3, 14, 15, 9}, 30, "fp32"), Greedy({3, 14, 15, 9}, 30, "lmul-all"));
}

TEST_F(ServeServiceTest, EchoLogprobsEqualLogSoftmaxOfOneForward) {
  auto svc = Make();
  std::vector<int32_t> prompt;
  for (int i = 0; i < 45; ++i) prompt.push_back((i * 7 + 3) % 64);  // > one 32-row chunk
  json body = {{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 3}};
  std::shared_ptr<Service::Job> job;
  const Reply r = svc->Completions(body.dump(), &job);
  ASSERT_EQ(r.status, 200) << r.body;
  const json lp = json::parse(r.body)["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), prompt.size());
  EXPECT_EQ(lp["token_logprobs"][0], nullptr);
  EXPECT_EQ(lp["top_logprobs"][0], nullptr);
  EXPECT_EQ(json::parse(r.body)["usage"]["completion_tokens"], 0);
  // Reference: one Forward of the whole prompt, lmul eval's log-softmax.
  engine::Session s(*model_, *engine::Policy::Parse("fp32"), 64, 1);
  std::vector<float> logits;
  ASSERT_TRUE(s.Forward(prompt, &logits).ok());
  const int V = model_->config().n_vocab;
  double sum = 0, ref_sum = 0;
  for (size_t i = 1; i < prompt.size(); ++i) {
    const float* row = logits.data() + (i - 1) * V;
    const double ref = static_cast<double>(row[prompt[i]]) - eval::SummarizeRow(row, V).lse;
    EXPECT_EQ(lp["token_logprobs"][i].get<double>(), ref) << i;  // bit for bit
    sum += lp["token_logprobs"][i].get<double>();
    ref_sum += ref;
    ASSERT_EQ(lp["top_logprobs"][i].size(), 3u);
    double best = -1e300;
    for (const auto& [text, l] : lp["top_logprobs"][i].items())
      best = std::max(best, l.get<double>());
    EXPECT_GE(best, ref);
    EXPECT_EQ(lp["text_offset"][i], 0 + lp["text_offset"][i - 1].get<size_t>() +
                                        lp["tokens"][i - 1].get<std::string>().size());
  }
  EXPECT_EQ(sum, ref_sum);
  // The same through JSON text: doubles round-trip exactly.
  EXPECT_EQ(json::parse(r.body)["choices"][0]["logprobs"]["token_logprobs"][5].get<double>(),
            lp["token_logprobs"][5].get<double>());
}

TEST_F(ServeServiceTest, LimitsAnswer400NamingTheField) {
  auto svc = Make();
  std::shared_ptr<Service::Job> job;
  auto expect = [&](const std::string& body, int status, const std::string& param) {
    const Reply r = svc->Completions(body, &job);
    EXPECT_EQ(r.status, status) << body << " " << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["error"]["param"], param) << r.body;
  };
  expect(R"({"prompt": [1, 2, 3], "max_tokens": 62})", 400, "max_tokens");  // 3 + 62 > 64
  expect(R"({"prompt": [1, 2, 3], "max_tokens": 1000000})", 400, "max_tokens");
  expect(json{{"prompt", std::vector<int32_t>(65, 1)}, {"max_tokens", 0}}.dump(), 400, "prompt");
  expect(R"({"prompt": [1, 64]})", 400, "prompt");  // outside the vocabulary of 64
  expect(R"({"prompt": "text"})", 400, "prompt");   // no tokenizer in the tiny model
  expect(R"({"prompt": [1], "lmul_arith": "no-such-policy"})", 400, "lmul_arith");
  expect(R"({"prompt": [1], "lmul_arith": "attn.qk=lmul/e99m99"})", 400, "lmul_arith");
  EXPECT_EQ(svc->Completions(R"({"prompt": [1, 2, 3], "max_tokens": 61})", &job).status, 200);
  const Reply chat =
      svc->ChatCompletions(R"({"messages": [{"role": "user", "content": "a"}]})", &job);
  EXPECT_EQ(chat.status, 400);
  EXPECT_EQ(json::parse(chat.body)["error"]["param"], "messages");
  // Policies beyond --max-policies are refused; the default is always served.
  ServiceOptions o;
  o.max_policies = 2;
  auto small = Make(o);
  EXPECT_EQ(small->Completions(R"({"prompt": [1], "lmul_arith": "bf16"})", &job).status, 200);
  const Reply third = small->Completions(R"({"prompt": [1], "lmul_arith": "lmul-attn"})", &job);
  EXPECT_EQ(third.status, 400);
  EXPECT_EQ(json::parse(third.body)["error"]["param"], "lmul_arith");
  EXPECT_EQ(small->Completions(R"({"prompt": [1]})", &job).status, 200);  // default fp32
  EXPECT_EQ(small->Completions(R"({"prompt": [1], "lmul_arith": "bf16"})", &job).status, 200);
}

TEST_F(ServeServiceTest, StreamEqualsNonStreamAndQueueFullGives503) {
  ServiceOptions o;
  o.parallel = 1;
  o.queue = 0;
  auto svc = Make(o);
  std::shared_ptr<Service::Job> job, none;
  const std::string body = R"({"prompt": [7, 8, 9], "max_tokens": 8, "temperature": 0)";
  const Reply plain = svc->Completions(body + "}", &none);
  ASSERT_EQ(plain.status, 200);
  const Reply r = svc->Completions(body + R"(, "stream": true})", &job);
  ASSERT_TRUE(r.stream);
  ASSERT_NE(job, nullptr);
  // The streaming job holds the only slot: another request is refused at once.
  const Reply busy = svc->Completions(body + "}", &none);
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(json::parse(busy.body)["error"]["type"], "server_error");
  std::vector<std::string> events;
  svc->RunStream(*job, [&](std::string_view c) {
    events.emplace_back(c);
    return true;
  });
  job.reset();  // releases the slot
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "data: [DONE]\n\n");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    ASSERT_EQ(events[i].rfind("data: ", 0), 0u);
    const json c = json::parse(events[i].substr(6));
    text += c["choices"][0]["text"].get<std::string>();
    if (i + 2 == events.size()) {
      EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
    }
  }
  EXPECT_EQ(text, json::parse(plain.body)["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(svc->Completions(body + "}", &none).status, 200);  // slot free again
  // A client that goes away mid-stream: generation stops, the slot is freed.
  ASSERT_TRUE(svc->Completions(body + R"(, "stream": true})", &job).stream);
  int writes = 0;
  svc->RunStream(*job, [&](std::string_view) { return ++writes < 2; });
  job.reset();
  EXPECT_EQ(writes, 2);
  EXPECT_EQ(svc->running(), 0);
  // Shutdown: new requests get 503.
  svc->Shutdown();
  EXPECT_EQ(svc->Completions(body + "}", &none).status, 503);
}

TEST_F(ServeServiceTest, StopStringsCutTheText) {
  auto svc = Make();
  std::shared_ptr<Service::Job> job;
  const std::vector<int32_t> greedy = Greedy({1, 2}, 8, "fp32");
  // Stop at the 3rd generated token's text: the text is the first two tokens'.
  const std::string stop = "<" + std::to_string(greedy[2]) + ">";
  size_t first = Ids(greedy).find(stop);
  const json body = {{"prompt", {1, 2}}, {"max_tokens", 8}, {"temperature", 0}, {"stop", stop}};
  const Reply r = svc->Completions(body.dump(), &job);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["text"], Ids(greedy).substr(0, first));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServeServiceTest, SeededSamplingIsReproducible) {
  auto svc = Make();
  std::shared_ptr<Service::Job> job;
  auto text = [&](int seed) {
    const json body = {{"prompt", {5, 6, 7}}, {"max_tokens", 20}, {"temperature", 1.5},
                       {"top_k", 0},          {"top_p", 1.0},     {"min_p", 0.0},
                       {"seed", seed}};
    const Reply r = svc->Completions(body.dump(), &job);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["choices"][0]["text"].get<std::string>();
  };
  EXPECT_EQ(text(1), text(1));
  // Different seeds at temperature 1.5 over 20 tokens of a 64-token vocabulary: some differ.
  EXPECT_TRUE(text(1) != text(2) || text(1) != text(3));
  EXPECT_NE(text(1), Ids(Greedy({5, 6, 7}, 20, "fp32")));
}

TEST_F(ServeServiceTest, OptionsAreChecked) {
  ServiceOptions o;
  o.arith = "bogus";
  EXPECT_FALSE(Service::Create(*model_, o).ok());
  o = {};
  o.parallel = 0;
  auto s = Service::Create(*model_, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("--parallel"), std::string::npos);
  o = {};
  o.ctx = 100000;  // beyond the tiny model's 128
  s = Service::Create(*model_, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("--ctx"), std::string::npos);
}

}  // namespace
}  // namespace lmul::serve
