// lmul run -m MODEL.gguf (-p PROMPT | -f FILE | --tokens IDS) [--arith POLICY] [-n TOKENS]
//          [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty X]
//          [--repeat-last-n N] [-s SEED] [--chat] [-cnv [-sys TEXT]] [-t THREADS] [-c CTX]
//          [--ids]
// llama.cpp's llama-cli conventions. Streams the continuation of the prompt on stdout
// (greedy at --temp 0, lmul's default; sampling as engine/model/sampler.h otherwise); the
// model, the policy and prefill/decode tokens/s go to stderr. --tokens runs raw token ids
// instead of a text prompt; --ids prints generated token ids instead of text.
// -cnv: a multi-turn chat through the model's chat template: the -sys system prompt, then
// -p (if given) and each line of stdin as a user turn, until EOF; the KV cache is kept
// across turns, so each turn runs only the tokens after the longest common prefix of the
// rendered conversation with the cache (the new turn).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/escape.h"
#include "engine/model/generate.h"
#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/sampler.h"
#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/worker_pool.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

using Clock = std::chrono::steady_clock;
using lmul::cli::PrintError;

// A default shown in --help ("0.95").
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string file;
  std::string tokens;
  std::string arith = "fp32";
  int n = 64;
  lmul::engine::SamplingParams sampling;  // temp set to 0 below: greedy by default
  int64_t seed = -1;                      // -1: random (llama.cpp)
  bool chat = false;
  bool conversation = false;
  std::string system_prompt;
  bool ids = false;
  int threads = 0;  // all cores (llama.cpp)
  int n_ctx = 0;
};

constexpr size_t kMaxPromptFile = size_t{64} << 20;

// -cnv: reads user turns from stdin until EOF (engine::Conversation runs them).
int RunConversation(const RunOptions& o, const lmul::engine::Model& model,
                    const lmul::engine::Policy& policy, lmul::engine::Sampler* sampler) {
  const char* sub = "run";
  lmul::engine::Session session(model, policy, o.n_ctx, o.threads);
  std::fprintf(stderr, "conversation: KV cache of %d tokens; one user turn per stdin line\n",
               session.n_ctx());
  lmul::engine::Conversation chat(model.tokenizer(), &session, sampler, o.system_prompt);
  const bool tty = isatty(0);
  bool first = true;
  long stdin_line = 0;
  while (true) {
    std::string line;
    if (first && !o.prompt.empty()) {
      line = o.prompt;
    } else {
      if (tty) std::fprintf(stderr, "> ");
      auto more = lmul::cli::ReadLineBounded(std::cin, "stdin", ++stdin_line, 1 << 20, &line);
      if (!more.ok()) return lmul::cli::PrintError(sub, more.error(), "one user turn per line");
      if (!*more) break;
    }
    first = false;
    const auto t0 = Clock::now();
    lmul::engine::Conversation::TurnStats ts;
    lmul::Status st = chat.Turn(
        line, o.n,
        [](std::string_view piece) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        },
        &ts);
    if (!st.ok()) {
      return PrintError(sub, st.error(),
                        st.error().find("KV cache") != std::string::npos ? "raise -c/--ctx" : "");
    }
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "turn: %zu new prompt tokens (%zu reused), %zu generated, %.2f s\n",
                 ts.fresh, ts.reused, ts.generated, Seconds(t0, Clock::now()));
  }
  return 0;
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
  lmul::engine::SamplingParams sp = o.sampling;
  sp.seed = o.seed < 0 ? lmul::engine::kRandomSeed : static_cast<uint64_t>(o.seed);
  if (auto st = lmul::engine::ValidateSamplingParams(sp); !st.ok()) {
    return lmul::cli::UsageError(sub, st.error(),
                                 "see lmul run --help for the sampling flags' ranges");
  }
  std::string prompt_text = o.prompt;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) {
      return PrintError(sub, "-f " + lmul::EscapeUntrusted(o.file) + ": cannot open",
                        "give a readable text file");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    prompt_text = ss.str();
    if (prompt_text.size() > kMaxPromptFile) {
      return PrintError(sub,
                        "-f " + lmul::EscapeUntrusted(o.file) + ": " +
                            std::to_string(prompt_text.size()) + " bytes, expected at most 64 MiB",
                        "give a shorter prompt file");
    }
  }
  const auto t_load = Clock::now();
  auto model = lmul::engine::Model::Load(o.model);
  if (!model.ok()) {
    return PrintError(sub, model.error(), "scripts/fetch_model.sh downloads the default model");
  }
  const lmul::engine::ModelConfig& cfg = (*model)->config();
  const int threads = lmul::kernels::ResolveThreads(o.threads);
  lmul::engine::Sampler sampler(sp);
  std::fprintf(stderr, "model: %s\n  %s\n", lmul::EscapeUntrusted(o.model).c_str(),
               lmul::EscapeUntrusted(cfg.Summary(), 400).c_str());
  std::fprintf(stderr, "%s\nthreads: %d\n", policy->Describe().c_str(), threads);
  if (sp.temp > 0) {
    std::fprintf(stderr,
                 "sampling: temp %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g "
                 "(last %d), seed %llu\n",
                 sp.temp, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty, sp.repeat_last_n,
                 static_cast<unsigned long long>(sampler.seed()));
  }
  // K and V caches: n_ctx x n_layer x 2 x n_kv_head x head_dim fp32, refused before allocating.
  auto check_kv = [&](int n_ctx) {
    return lmul::cli::CheckMemory(
        "--ctx", std::to_string(n_ctx),
        8.0L * n_ctx * cfg.n_layer * static_cast<long double>(cfg.n_kv_head) * cfg.head_dim,
        "the KV cache");
  };

  RunOptions eff = o;
  eff.threads = threads;
  if (o.conversation) {
    if (!(*model)->has_tokenizer()) {
      return PrintError(sub, lmul::EscapeUntrusted(o.model) + ": no tokenizer metadata",
                        "-cnv needs a chat model");
    }
    if (auto mem = check_kv(o.n_ctx > 0 ? o.n_ctx : cfg.n_ctx_train); !mem.ok()) {
      return lmul::cli::UsageError(sub, mem.error(), "use a smaller -c/--ctx");
    }
    eff.prompt = prompt_text;
    return RunConversation(eff, **model, *policy, &sampler);
  }

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
    if (!(*model)->has_tokenizer()) {
      return PrintError(sub, o.model + ": no tokenizer metadata", "use --tokens IDS");
    }
    prompt =
        lmul::engine::PromptTokens((*model)->tokenizer(), prompt_text, o.system_prompt, o.chat);
  }
  if (prompt.empty()) return lmul::cli::UsageError(sub, "empty prompt");

  const int n_ctx = o.n_ctx > 0 ? o.n_ctx : static_cast<int>(prompt.size()) + o.n + 1;
  if (n_ctx < static_cast<int>(prompt.size()) + 1) {
    return lmul::cli::UsageError(sub,
                                 "-c/--ctx " + std::to_string(n_ctx) + ": the prompt has " +
                                     std::to_string(prompt.size()) + " tokens",
                                 "raise -c/--ctx or shorten the prompt");
  }
  if (auto mem = check_kv(n_ctx); !mem.ok()) {
    return lmul::cli::UsageError(sub, mem.error(), "use a smaller -c/--ctx");
  }
  lmul::engine::Session session(**model, *policy, n_ctx, threads);
  const auto t_ready = Clock::now();
  std::fprintf(stderr, "loaded in %.2f s (weights: %s); prompt: %zu tokens\n",
               Seconds(t_load, t_ready),
               lmul::engine::WeightStorageName((*model)->weight_storage()), prompt.size());

  const lmul::engine::Tokenizer* tok = text ? &(*model)->tokenizer() : nullptr;
  lmul::engine::GenerateStats gs;
  lmul::Status st = lmul::engine::Generate(
      session, sampler, prompt, o.n,
      [&](int32_t t) { return tok != nullptr && tok->IsEndOfGeneration(t); },
      [&](int32_t t) {
        if (tok != nullptr && !o.ids) {
          const std::string piece = tok->TokenPiece(t);
          std::fwrite(piece.data(), 1, piece.size(), stdout);
        } else {
          std::printf("%d\n", t);
        }
        std::fflush(stdout);
      },
      &gs);
  if (!st.ok()) return PrintError(sub, st.error());
  if (text && !o.ids) std::printf("\n");
  std::fprintf(stderr, "prefill: %zu tokens in %.3f s = %.1f tokens/s\n", prompt.size(),
               gs.prefill_s, prompt.size() / gs.prefill_s);
  if (gs.decoded > 0) {
    std::fprintf(stderr, "decode: %d tokens in %.3f s = %.1f tokens/s\n", gs.decoded, gs.decode_s,
                 gs.decoded / gs.decode_s);
  }
  return 0;
}

lmul::cli::Registrar reg(
    "run", "Generate text with a GGUF model under an arithmetic policy", [](CLI::App* app) {
      auto o = std::make_shared<RunOptions>();
      o->sampling.temp = 0.0;  // greedy unless --temp > 0 (llama.cpp's default is 0.8)
      app->add_option("-m,--model", o->model, "GGUF model file")->required();
      app->add_option("-p,--prompt", o->prompt, "prompt text (-cnv: the first user turn)");
      app->add_option("-f,--file", o->file, "read the prompt from FILE");
      app->add_option("--tokens", o->tokens, "prompt as token ids (space separated) instead of -p");
      std::string presets;
      for (const std::string& n : lmul::engine::Policy::PresetNames()) {
        presets += (presets.empty() ? "" : ", ") + n;
      }
      app->add_option("--arith", o->arith,
                      "policy: preset (" + presets + ") or inline SITE=ARITH,... (docs/engine.md)")
          ->capture_default_str();
      lmul::cli::AddInt(app, "-n,--n-predict,--n-tokens", &o->n, 0, 1 << 24,
                        "tokens to generate (-cnv: per turn)");
      lmul::cli::AddReal(app, "--temp", &o->sampling.temp, 0.0, 1e6,
                         "sampling temperature (0 = greedy, lmul's default; llama.cpp's is 0.8)")
          ->default_str(Num(o->sampling.temp));
      lmul::cli::AddInt(app, "--top-k", &o->sampling.top_k, 0, 1 << 30, "top-k sampling (0 = off)");
      lmul::cli::AddReal(app, "--top-p", &o->sampling.top_p, 0.0, 1.0, "top-p sampling (1.0 = off)")
          ->default_str(Num(o->sampling.top_p));
      lmul::cli::AddReal(app, "--min-p", &o->sampling.min_p, 0.0, 1.0, "min-p sampling (0.0 = off)")
          ->default_str(Num(o->sampling.min_p));
      lmul::cli::AddReal(app, "--repeat-penalty", &o->sampling.repeat_penalty, 1e-6, 1e6,
                         "penalize repeated tokens (1.0 = off)")
          ->default_str(Num(o->sampling.repeat_penalty));
      lmul::cli::AddInt(app, "--repeat-last-n", &o->sampling.repeat_last_n, -1, 1 << 30,
                        "last N tokens penalized (0 = off, -1 = all, i.e. the context)");
      lmul::cli::AddInt(app, "-s,--seed", &o->seed, -1, int64_t{0xFFFFFFFE},
                        "sampling seed (-1 = random)");
      app->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template");
      app->add_flag("--conversation", o->conversation,
                    "-cnv: multi-turn chat, user turns from stdin until EOF (llama-cli -cnv)");
      app->add_option("--system-prompt", o->system_prompt,
                      "-sys: system prompt (implies the chat template)");
      app->add_flag("--ids", o->ids, "print generated token ids, one a line");
      lmul::cli::AddInt(app, "-t,--threads", &o->threads, 0, 1024,
                        "GEMM threads (0 = all cores, the default)");
      lmul::cli::AddInt(app, "-c,--ctx-size,--ctx", &o->n_ctx, 0, 1 << 24,
                        "KV cache size (default 0: prompt + n + 1; -cnv: the model's context)");
      return [o] {
        const int sources = !o->prompt.empty() + !o->file.empty() + !o->tokens.empty();
        if (o->conversation) {
          if (!o->tokens.empty() || !o->file.empty() + !o->prompt.empty() > 1) {
            return lmul::cli::UsageError("run",
                                         "-cnv takes at most one of -p and -f (no --tokens)");
          }
          if (o->ids) return lmul::cli::UsageError("run", "-cnv prints text; drop --ids");
        } else if (sources != 1) {
          return lmul::cli::UsageError("run", "give exactly one of -p, -f and --tokens");
        }
        return RunRun(*o);
      };
    });

}  // namespace
