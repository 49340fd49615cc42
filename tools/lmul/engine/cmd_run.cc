// lmul run -m MODEL.gguf -p PROMPT [--arith POLICY] [-n TOKENS] [--temp T] [--seed S]
//          [--chat] [--threads T] [--tokens IDS] [--ids]
// Streams the continuation of PROMPT on stdout (greedy at --temp 0); the model, the
// policy and prefill/decode tokens/s go to stderr. --tokens runs raw token ids instead
// of a text prompt; --ids prints generated token ids instead of text.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/sampler.h"
#include "engine/model/session.h"
#ifdef LMUL_HAVE_TOKENIZER
#include "engine/tokenizer/tokenizer.h"
#endif
#include "tools/lmul/command.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string tokens;
  std::string arith = "fp32";
  int n = 64;
  double temp = 0.0;
  uint64_t seed = 0;
  bool chat = false;
  bool ids = false;
  int threads = 1;
  int n_ctx = 0;
};

int RunRun(const RunOptions& o) {
  const char* sub = "run";
  auto policy = lmul::engine::Policy::Parse(o.arith);
  if (!policy.ok()) {
    return lmul::cli::PrintError(sub, policy.error(),
                                 "--arith takes a preset (fp32, lmul-attn, ...) or an inline "
                                 "policy like attn.qk=lmul/e8m4,attn.av=lmul/e8m4,*=exact/fp32");
  }
  if (o.n < 0) return lmul::cli::PrintError(sub, "-n must be >= 0");
  const auto t_load = Clock::now();
  auto model = lmul::engine::Model::Load(o.model);
  if (!model.ok()) {
    return lmul::cli::PrintError(sub, model.error(),
                                 "scripts/fetch_model.sh downloads the default model");
  }
  const lmul::engine::ModelConfig& cfg = (*model)->config();
  std::fprintf(stderr, "model: %s\n  %s\n", o.model.c_str(), cfg.Summary().c_str());
  std::fprintf(stderr, "%s\nthreads: %d\n", policy->Describe().c_str(), o.threads);

  std::vector<int32_t> prompt;
  const bool text = o.tokens.empty();
  if (!text) {
    std::istringstream in(o.tokens);
    long v;
    while (in >> v) prompt.push_back(static_cast<int32_t>(v));
    if (!in.eof())
      return lmul::cli::PrintError(sub, "--tokens: expected integers, got '" + o.tokens + "'");
  } else {
#ifdef LMUL_HAVE_TOKENIZER
    if (!(*model)->has_tokenizer()) {
      return lmul::cli::PrintError(sub, o.model + ": no tokenizer metadata", "use --tokens IDS");
    }
    const lmul::engine::Tokenizer& tok = (*model)->tokenizer();
    const std::string input = o.chat ? tok.ApplyChatTemplate(o.prompt) : o.prompt;
    prompt = tok.Encode(input, tok.add_bos_default(), /*parse_special=*/o.chat);
#else
    return lmul::cli::PrintError(sub, "this build has no tokenizer (engine/tokenizer/)",
                                 "use --tokens IDS");
#endif
  }
  if (prompt.empty()) return lmul::cli::PrintError(sub, "empty prompt");

  const int n_ctx = o.n_ctx > 0 ? o.n_ctx : static_cast<int>(prompt.size()) + o.n + 1;
  lmul::engine::Session session(**model, *policy, n_ctx, o.threads);
  const auto t_ready = Clock::now();
  std::fprintf(stderr, "loaded and packed in %.2f s; prompt: %zu tokens\n",
               Seconds(t_load, t_ready), prompt.size());

  lmul::engine::SamplingParams sp;  // llama.cpp's filters; greedy unless --temp > 0
  sp.temp = o.temp;
  sp.seed = o.seed;
  lmul::engine::Sampler sampler(sp);
  for (int32_t t : prompt) sampler.Accept(t);  // repetition history, as llama-cli
  std::vector<float> logits;
  const auto t0 = Clock::now();
  lmul::Status st = session.ForwardLast(prompt, &logits);
  if (!st.ok()) return lmul::cli::PrintError(sub, st.error());
  const auto t1 = Clock::now();
  const int V = cfg.n_vocab;
  int32_t next = sampler.Sample({logits.data(), static_cast<size_t>(V)});
  sampler.Accept(next);
  int generated = 0;
  auto t_decode0 = Clock::now();
  for (int i = 0; i < o.n; ++i) {
#ifdef LMUL_HAVE_TOKENIZER
    if (text && (*model)->tokenizer().IsEndOfGeneration(next)) break;
    if (text && !o.ids) {
      const std::string piece = (*model)->tokenizer().TokenPiece(next);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else {
      std::printf("%d\n", next);
    }
#else
    std::printf("%d\n", next);
#endif
    std::fflush(stdout);
    ++generated;
    if (i + 1 == o.n) break;
    if (i == 0) t_decode0 = Clock::now();
    st = session.Forward({&next, 1}, &logits);
    if (!st.ok()) return lmul::cli::PrintError(sub, st.error());
    next = sampler.Sample({logits.data(), static_cast<size_t>(V)});
    sampler.Accept(next);
  }
  const auto t2 = Clock::now();
  if (text && !o.ids) std::printf("\n");
  const double prefill_s = Seconds(t0, t1);
  const int decoded = generated > 1 ? generated - 1 : 0;
  const double decode_s = decoded > 0 ? Seconds(t_decode0, t2) : 0.0;
  std::fprintf(stderr, "prefill: %zu tokens in %.3f s = %.1f tokens/s\n", prompt.size(), prefill_s,
               prompt.size() / prefill_s);
  if (decoded > 0) {
    std::fprintf(stderr, "decode: %d tokens in %.3f s = %.1f tokens/s\n", decoded, decode_s,
                 decoded / decode_s);
  }
  return 0;
}

lmul::cli::Registrar reg(
    "run", "Generate text with a GGUF model under an arithmetic policy", [](CLI::App* app) {
      auto o = std::make_shared<RunOptions>();
      app->add_option("-m,--model", o->model, "GGUF model file")->required();
      app->add_option("-p,--prompt", o->prompt, "prompt text");
      app->add_option("--tokens", o->tokens, "prompt as token ids (space separated) instead of -p");
      app->add_option("--arith", o->arith,
                      "policy: preset (fp32, bf16, fp8-e4m3-attn, "
                      "fp8-e5m2-attn, lmul-attn, lmul-attn-k3, lmul-attn-k4, "
                      "lmul-all) or inline SITE=ARITH,...")
          ->capture_default_str();
      app->add_option("-n,--n-tokens", o->n, "tokens to generate")->capture_default_str();
      app->add_option("--temp", o->temp, "sampling temperature (0 = greedy)")
          ->capture_default_str();
      app->add_option("--seed", o->seed, "sampling seed")->capture_default_str();
      app->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template");
      app->add_flag("--ids", o->ids, "print generated token ids, one a line");
      app->add_option("--threads", o->threads, "GEMM threads (0 = all cores)")
          ->capture_default_str();
      app->add_option("--ctx", o->n_ctx, "KV cache size (default: prompt + n + 1)");
      return [o] {
        if (o->prompt.empty() == o->tokens.empty()) {
          return lmul::cli::PrintError("run", "give exactly one of -p and --tokens");
        }
        return RunRun(*o);
      };
    });

}  // namespace
