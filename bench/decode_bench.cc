#include "bench/decode_bench.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "bench/json_text.h"
#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/session.h"
#ifdef LMUL_HAVE_TOKENIZER
#include "engine/tokenizer/tokenizer.h"
#endif
#include "kernels/worker_pool.h"

namespace lmul::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int32_t Argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// A fixed prompt of n tokens: an English paragraph through the model's tokenizer (repeated),
// or ids spread over the vocabulary for a model without one.
std::vector<int32_t> MakePrompt(const engine::Model& model, int n) {
  std::vector<int32_t> base;
#ifdef LMUL_HAVE_TOKENIZER
  if (model.has_tokenizer()) {
    base = model.tokenizer().Encode(
        "The history of natural language processing generally started in the 1950s, although "
        "work can be found from earlier periods. In 1950, Alan Turing published an article "
        "titled Computing Machinery and Intelligence which proposed what is now called the "
        "Turing test as a criterion of intelligence. ",
        /*add_bos=*/false, /*parse_special=*/false);
  }
#endif
  if (base.empty()) {
    for (int i = 0; i < 64; ++i) base.push_back((i * 7919 + 13) % model.config().n_vocab);
  }
  std::vector<int32_t> p;
  while (static_cast<int>(p.size()) < n) p.push_back(base[p.size() % base.size()]);
  return p;
}

int64_t PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;  // Linux: KiB
}

// One lmul record, in the calling (child) process.
DecodeRecord MeasureLmul(const DecodeBenchOptions& o, const engine::Policy& policy, engine::WeightStorage storage,
                         int threads) {
  DecodeRecord r;
  r.engine = "lmul";
  r.policy = policy.Name();
  r.weights = engine::WeightStorageName(storage);
  r.threads = threads;
  r.prompt_tokens = o.prompt_tokens;
  r.decode_tokens = o.decode_tokens;
  const auto t0 = Clock::now();
  auto model = engine::Model::Load(o.model, engine::LoadOptions{storage});
  if (!model.ok()) {
    r.note = model.error();
    return r;
  }
  const std::vector<int32_t> prompt = MakePrompt(**model, o.prompt_tokens);
  engine::Session session(**model, policy, o.prompt_tokens + o.decode_tokens + 1, threads);
  std::vector<float> logits;
  Status st = session.ForwardLast(prompt, &logits);
  int32_t next = Argmax(logits);
  r.load_to_first_token_s = Since(t0);
  if (!st.ok()) {
    r.note = st.error();
    return r;
  }
  r.weight_bytes_per_token = session.weight_bytes_per_token();
  for (int rep = 0; rep < o.repeats; ++rep) {
    if (rep > 0) {  // prefill again (the first one is in load_to_first_token_s)
      session.Rewind(0);
      const auto tp = Clock::now();
      st = session.ForwardLast(prompt, &logits);
      r.prefill_tok_s = std::max(r.prefill_tok_s, o.prompt_tokens / Since(tp));
      next = Argmax(logits);
    }
    const auto td = Clock::now();
    int32_t tok = next;
    for (int i = 0; i < o.decode_tokens && st.ok(); ++i) {
      st = session.Forward({&tok, 1}, &logits);
      tok = Argmax(logits);
    }
    if (o.decode_tokens > 0) r.decode_tok_s = std::max(r.decode_tok_s, o.decode_tokens / Since(td));
    session.Rewind(o.prompt_tokens);
  }
  if (o.repeats <= 1 || r.prefill_tok_s == 0) {
    // One repeat: time a warm prefill after the decode (the first one paid the load).
    session.Rewind(0);
    const auto tp = Clock::now();
    st = session.ForwardLast(prompt, &logits);
    r.prefill_tok_s = std::max(r.prefill_tok_s, o.prompt_tokens / Since(tp));
  }
  if (!st.ok()) r.note = st.error();
  r.effective_gb_s = static_cast<double>(r.weight_bytes_per_token) * r.decode_tok_s / 1e9;
  r.peak_rss_bytes = PeakRssBytes();
  return r;
}

// Fixed-size wire format between the child and the parent.
struct Wire {
  int threads, prompt_tokens, decode_tokens;
  double prefill, decode, load;
  int64_t rss, bytes;
  char policy[256], weights[32], note[512];
};

void CopyTo(char* dst, size_t n, const std::string& s) {
  std::snprintf(dst, n, "%s", s.c_str());
}

// Runs fn() (returning bytes) in a forked child and returns those bytes ("" when the child
// died). Peak RSS measured inside is the child's own: the parent holds no model.
template <typename Fn>
std::string InChild(Fn fn) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const std::string bytes = fn();
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      const ssize_t k = write(fds[1], p, left);
      if (k <= 0) break;
      p += k;
      left -= static_cast<size_t>(k);
    }
    _exit(0);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t k;
  while ((k = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(k));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

std::string ToWire(const DecodeRecord& r) {
  Wire w{};
  w.threads = r.threads;
  w.prompt_tokens = r.prompt_tokens;
  w.decode_tokens = r.decode_tokens;
  w.prefill = r.prefill_tok_s;
  w.decode = r.decode_tok_s;
  w.load = r.load_to_first_token_s;
  w.rss = r.peak_rss_bytes;
  w.bytes = r.weight_bytes_per_token;
  CopyTo(w.policy, sizeof(w.policy), r.policy);
  CopyTo(w.weights, sizeof(w.weights), r.weights);
  CopyTo(w.note, sizeof(w.note), r.note);
  return std::string(reinterpret_cast<const char*>(&w), sizeof(w));
}

DecodeRecord FromWire(const std::string& bytes) {
  DecodeRecord r;
  r.engine = "lmul";
  if (bytes.size() != sizeof(Wire)) {
    r.note = "the measuring process died";
    return r;
  }
  Wire w;
  std::memcpy(&w, bytes.data(), sizeof(w));
  r.policy = w.policy;
  r.weights = w.weights;
  r.note = w.note;
  r.threads = w.threads;
  r.prompt_tokens = w.prompt_tokens;
  r.decode_tokens = w.decode_tokens;
  r.prefill_tok_s = w.prefill;
  r.decode_tok_s = w.decode;
  r.load_to_first_token_s = w.load;
  r.peak_rss_bytes = w.rss;
  r.weight_bytes_per_token = w.bytes;
  r.effective_gb_s = static_cast<double>(w.bytes) * w.decode / 1e9;
  return r;
}

// The llama.cpp baseline: a Python child running llama_cpp on the same token ids.
// Prints one line "load prefill decode rss" or "skip REASON".
constexpr const char* kLlamaScript = R"PY(
import sys, time, resource
try:
    import numpy as np
    import llama_cpp
except Exception as e:
    print("skip llama_cpp not importable:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    sys.exit(0)
path, n_ctx, threads, n_decode, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
prompt = [int(t) for t in sys.argv[6].split(",")]
t0 = time.perf_counter()
m = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                    n_batch=max(512, len(prompt)), verbose=False)
def last():
    return int(np.argmax(m.scores[m.n_tokens - 1]))
m.eval(prompt)
tok = last()
load = time.perf_counter() - t0
best_p = best_d = 0.0
for rep in range(repeats):
    if rep > 0:
        m.reset(); tp = time.perf_counter(); m.eval(prompt); best_p = max(best_p, len(prompt) / (time.perf_counter() - tp)); tok = last()
    td = time.perf_counter()
    for _ in range(n_decode):
        m.eval([tok]); tok = last()
    best_d = max(best_d, n_decode / (time.perf_counter() - td))
    m.n_tokens = len(prompt)
if best_p == 0.0:
    m.reset(); tp = time.perf_counter(); m.eval(prompt); best_p = len(prompt) / (time.perf_counter() - tp)
print("ok", load, best_p, best_d, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, llama_cpp.__version__)
)PY";

DecodeRecord MeasureLlamaCpp(const DecodeBenchOptions& o, const std::vector<int32_t>& prompt,
                             int threads) {
  DecodeRecord r;
  r.engine = "llama.cpp";
  r.policy = "native";
  r.weights = "gguf";
  r.threads = threads;
  r.prompt_tokens = o.prompt_tokens;
  r.decode_tokens = o.decode_tokens;
  std::string python = o.python;
  if (python.empty()) {
    const char* env = std::getenv("LMUL_PYTHON");
    python = env && *env ? env : "python3";
  }
  char script_path[] = "/tmp/lmul_llama_bench_XXXXXX";
  const int fd = mkstemp(script_path);
  if (fd < 0) {
    r.note = "skipped: cannot write a temporary script";
    return r;
  }
  const size_t len = std::strlen(kLlamaScript);
  const bool wrote = write(fd, kLlamaScript, len) == static_cast<ssize_t>(len);
  close(fd);
  std::string ids;
  for (int32_t t : prompt) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(t);
  }
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
  };
  const std::string cmd = quote(python) + " " + script_path + " " + quote(o.model) + " " +
                          std::to_string(o.prompt_tokens + o.decode_tokens + 8) + " " +
                          std::to_string(threads) + " " + std::to_string(o.decode_tokens) + " " +
                          std::to_string(o.repeats) + " " + ids + " 2>&1";
  std::string out;
  if (wrote) {
    if (FILE* f = popen(cmd.c_str(), "r")) {
      std::array<char, 4096> buf;
      size_t k;
      while ((k = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), k);
      pclose(f);
    }
  }
  unlink(script_path);
  const size_t at = out.rfind("ok ");
  double load = 0, pre = 0, dec = 0, rss = 0;
  char version[64] = "";
  if (at != std::string::npos &&
      std::sscanf(out.c_str() + at, "ok %lf %lf %lf %lf %63s", &load, &pre, &dec, &rss,
                  version) >= 4) {
    r.load_to_first_token_s = load;
    r.prefill_tok_s = pre;
    r.decode_tok_s = dec;
    r.peak_rss_bytes = static_cast<int64_t>(rss);
    r.note = std::string("llama-cpp-python ") + version;
    return r;
  }
  std::string why = out.substr(0, out.find('\n'));
  if (why.rfind("skip ", 0) == 0) why = why.substr(5);
  r.note = "skipped: " + (why.empty() ? std::string("no output from ") + python : why);
  return r;
}

}  // namespace

std::vector<std::string> DefaultDecodePolicies() { return {"fp32", "lmul-attn", "lmul-all"}; }

std::vector<std::string> DecodeWeightStorages() { return {"compact", "packed", "auto"}; }

Result<std::vector<DecodeRecord>> RunDecodeBench(const DecodeBenchOptions& opts) {
  DecodeBenchOptions o = opts;
  if (o.policies.empty()) o.policies = DefaultDecodePolicies();
  if (o.threads.empty()) {
    const int all = kernels::ResolveThreads(0);
    o.threads = {1};
    if (all > 1) o.threads.push_back(all);
  }
  if (o.weights.empty()) o.weights = {"auto"};
  if (o.prompt_tokens < 1 || o.decode_tokens < 0 || o.repeats < 1) {
    return MakeError("decode bench: prompt tokens >= 1, decode tokens >= 0, repeats >= 1");
  }
  std::vector<engine::Policy> policies;
  for (const std::string& p : o.policies) {
    auto pol = engine::Policy::Parse(p);
    if (!pol.ok()) return MakeError("--arith '" + p + "': " + pol.error());
    policies.push_back(*pol);
  }
  std::vector<engine::WeightStorage> storages;
  for (const std::string& w : o.weights) {
    auto s = engine::ParseWeightStorage(w);
    if (!s.ok()) return MakeError("--weights '" + w + "': " + s.error());
    storages.push_back(*s);
  }
  // Validate the model and tokenize the prompt in a child: nothing of the model stays
  // in this process (the children's RSS would include it).
  const std::string got = InChild([&]() -> std::string {
    auto model = engine::Model::Load(o.model, engine::LoadOptions{engine::WeightStorage::kPacked});
    if (!model.ok()) return "E" + model.error();
    const std::vector<int32_t> p = MakePrompt(**model, o.prompt_tokens);
    return "P" + std::string(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(int32_t));
  });
  if (got.empty()) return MakeError(o.model + ": the process loading the model died");
  if (got[0] == 'E') return MakeError(got.substr(1));
  std::vector<int32_t> prompt((got.size() - 1) / sizeof(int32_t));
  std::memcpy(prompt.data(), got.data() + 1, prompt.size() * sizeof(int32_t));
  std::vector<DecodeRecord> records;
  for (size_t pi = 0; pi < policies.size(); ++pi) {
    for (engine::WeightStorage s : storages) {
      for (int th : o.threads) {
        std::fprintf(stderr, "bench decode: lmul %s, weights %s, %d thread(s)...\n",
                     policies[pi].Name().c_str(), engine::WeightStorageName(s), th);
        records.push_back(FromWire(
            InChild([&] { return ToWire(MeasureLmul(o, policies[pi], s, th)); })));
      }
    }
  }
  if (o.llama_cpp) {
    for (int th : o.threads) {
      const int t = kernels::ResolveThreads(th);
      std::fprintf(stderr, "bench decode: llama.cpp, %d thread(s)...\n", t);
      DecodeRecord r = MeasureLlamaCpp(o, prompt, t);
      records.push_back(r);
      if (r.note.rfind("skipped", 0) == 0) {
        std::fprintf(stderr, "bench decode: llama.cpp baseline %s\n", r.note.c_str());
        break;
      }
    }
  }
  return records;
}

std::string DecodeRecordsJson(const std::vector<DecodeRecord>& records) {
  std::string s = "[";
  for (size_t i = 0; i < records.size(); ++i) {
    const DecodeRecord& r = records[i];
    s += i ? ",\n " : "";
    s += "{\"engine\": " + JsonString(r.engine) + ", \"policy\": " + JsonString(r.policy) +
         ", \"weights\": " + JsonString(r.weights) + ", \"threads\": " + std::to_string(r.threads) +
         ", \"prompt_tokens\": " + std::to_string(r.prompt_tokens) +
         ", \"decode_tokens\": " + std::to_string(r.decode_tokens) +
         ", \"prefill_tok_s\": " + Fmt("%.2f", r.prefill_tok_s) +
         ", \"decode_tok_s\": " + Fmt("%.2f", r.decode_tok_s) +
         ", \"load_to_first_token_s\": " + Fmt("%.3f", r.load_to_first_token_s) +
         ", \"peak_rss_bytes\": " + std::to_string(r.peak_rss_bytes) +
         ", \"weight_bytes_per_token\": " + std::to_string(r.weight_bytes_per_token) +
         ", \"effective_gb_s\": " + Fmt("%.3f", r.effective_gb_s) +
         ", \"note\": " + JsonString(r.note) + "}";
  }
  return s + "]\n";
}

std::string DecodeRecordsTable(const std::vector<DecodeRecord>& records) {
  char line[512];
  std::snprintf(line, sizeof(line), "%-9s %-14s %-8s %3s %10s %10s %8s %8s %10s %7s  %s\n",
                "engine", "policy", "weights", "thr", "prefill/s", "decode/s", "first_s",
                "rss_MB", "wbytes_MB", "GB/s", "note");
  std::string s = line;
  for (const DecodeRecord& r : records) {
    std::snprintf(line, sizeof(line),
                  "%-9s %-14s %-8s %3d %10.1f %10.2f %8.3f %8.1f %10.1f %7.2f  %s\n",
                  r.engine.c_str(), r.policy.c_str(), r.weights.c_str(), r.threads,
                  r.prefill_tok_s, r.decode_tok_s, r.load_to_first_token_s,
                  r.peak_rss_bytes / 1e6, r.weight_bytes_per_token / 1e6, r.effective_gb_s,
                  r.note.c_str());
    s += line;
  }
  return s;
}

}  // namespace lmul::bench
