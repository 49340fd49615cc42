// lmul run -m MODEL.gguf -p PROMPT [--arith POLICY] [-n TOKENS] [--temp T] [--seed S]
//          [--chat] [--threads T] [--tokens IDS] [--ids]
// Streams the continuation of PROMPT on stdout (greedy at --temp 0); the model, the
// policy and prefill/decode tokens/s go to stderr. --tokens runs raw token ids instead
// of a text prompt; --ids prints generated token ids instead of text.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/session.h"
#ifdef LMUL_HAVE_TOKENIZER
#include "engine/tokenizer/tokenizer.h"
#endif
#include "base/escape.h"
#include "tools/lmul/args.h"
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

// Greedy (temp <= 0) or softmax(logits / temp) sampling.
int32_t Sample(const float* logits, int n, double temp, std::mt19937_64* rng) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  if (temp <= 0) return best;
  std::vector<double> p(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += p[i] = std::exp((logits[i] - logits[best]) / temp);
  double r = std::uniform_real_distribution<double>(0.0, sum)(*rng);
  for (int i = 0; i < n; ++i) {
    r -= p[i];
    if (r <= 0) return i;
  }
  return best;
}

int RunRun(const RunOptions& o) {
  const char* sub = "run";
  auto policy = lmul::engine::Policy::Parse(o.arith);
  if (!policy.ok()) {
    return lmul::cli::UsageError(sub, policy.error(),
                                 "--arith takes a preset (fp32, lmul-attn, ...) or an inline "
                                 "policy like attn.qk=lmul/e8m4,attn.av=lmul/e8m4,*=exact/fp32");
  }
  if (o.n < 0) return lmul::cli::UsageError(sub, "-n must be >= 0");
  const auto t_load = Clock::now();
  auto model = lmul::engine::Model::Load(o.model);
  if (!model.ok()) {
    return lmul::cli::PrintError(sub, model.error(),
                                 "scripts/fetch_model.sh downloads the default model");
  }
  const lmul::engine::ModelConfig& cfg = (*model)->config();
  std::fprintf(stderr, "model: %s\n  %s\n", lmul::EscapeUntrusted(o.model).c_str(),
               lmul::EscapeUntrusted(cfg.Summary(), 400).c_str());
  std::fprintf(stderr, "%s\nthreads: %d\n", policy->Describe().c_str(), o.threads);

  std::vector<int32_t> prompt;
  const bool text = o.tokens.empty();
  if (!text) {
    std::istringstream in(o.tokens);
    std::string item;
    while (in >> item) {
      auto v = lmul::cli::ParseInt("--tokens", item, 0, cfg.n_vocab - 1);
      if (!v.ok()) return lmul::cli::UsageError(sub, v.error(), "token ids of this model's vocab");
      prompt.push_back(static_cast<int32_t>(*v));
    }
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
  if (prompt.empty()) return lmul::cli::UsageError(sub, "empty prompt");

  const int n_ctx = o.n_ctx > 0 ? o.n_ctx : static_cast<int>(prompt.size()) + o.n + 1;
  if (n_ctx < static_cast<int>(prompt.size()) + 1) {
    return lmul::cli::UsageError(sub,
                                 "--ctx " + std::to_string(n_ctx) + ": the prompt has " +
                                     std::to_string(prompt.size()) + " tokens",
                                 "raise --ctx or shorten the prompt");
  }
  // K and V caches: n_ctx x n_layer x 2 x n_kv_head x head_dim fp32.
  if (auto mem = lmul::cli::CheckMemory(
          "--ctx", std::to_string(n_ctx),
          8.0L * n_ctx * cfg.n_layer * static_cast<long double>(cfg.n_kv_head) * cfg.head_dim,
          "the KV cache");
      !mem.ok()) {
    return lmul::cli::UsageError(sub, mem.error(), "use a smaller --ctx");
  }
  lmul::engine::Session session(**model, *policy, n_ctx, o.threads);
  const auto t_ready = Clock::now();
  std::fprintf(stderr, "loaded and packed in %.2f s; prompt: %zu tokens\n",
               Seconds(t_load, t_ready), prompt.size());

  std::mt19937_64 rng(o.seed);
  std::vector<float> logits;
  const auto t0 = Clock::now();
  lmul::Status st = session.ForwardLast(prompt, &logits);
  if (!st.ok()) return lmul::cli::PrintError(sub, st.error());
  const auto t1 = Clock::now();
  const int V = cfg.n_vocab;
  int32_t next = Sample(logits.data(), V, o.temp, &rng);
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
    next = Sample(logits.data(), V, o.temp, &rng);
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
      lmul::cli::AddInt(app, "-n,--n-tokens", &o->n, 0, 1 << 20, "tokens to generate");
      lmul::cli::AddReal(app, "--temp", &o->temp, 0.0, 100.0, "sampling temperature (0 = greedy)")
          ->default_str("0");
      lmul::cli::AddInt(app, "--seed", &o->seed, 0, INT64_MAX, "sampling seed");
      app->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template");
      app->add_flag("--ids", o->ids, "print generated token ids, one a line");
      lmul::cli::AddInt(app, "--threads", &o->threads, 0, 1024, "GEMM threads (0 = all cores)");
      lmul::cli::AddInt(app, "--ctx", &o->n_ctx, 0, 1 << 24,
                        "KV cache size (default 0: prompt + n + 1)");
      return [o] {
        if (o->prompt.empty() == o->tokens.empty()) {
          return lmul::cli::UsageError("run", "give exactly one of -p and --tokens");
        }
        return RunRun(*o);
      };
    });

}  // namespace
