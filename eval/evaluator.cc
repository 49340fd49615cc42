#include "eval/evaluator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"
#include "eval/lm_eval.h"
#include "eval/progress.h"

namespace lmul::eval {

using engine::Session;

Result<Encoder> EncoderForModel(const engine::Model& model) {
  if (!model.has_tokenizer()) {
    return MakeError("the model has no tokenizer metadata (tokenizer.ggml.*)");
  }
  const engine::Tokenizer* tok = &model.tokenizer();
  Encoder e;
  e.encode = [tok](std::string_view s) { return tok->Encode(s, false, false); };
  e.prefix_token = tok->bos() >= 0 ? tok->bos() : tok->eos();
  if (e.prefix_token < 0) return MakeError("the model's vocabulary has neither BOS nor EOS");
  e.add_bos = tok->add_bos_default() && tok->bos() >= 0;
  e.decode = [tok](std::span<const int32_t> t) { return tok->Decode(t); };
  e.is_end_of_generation = [tok](int32_t t) { return tok->IsEndOfGeneration(t); };
  return e;
}

RowSummary SummarizeRow(const float* x, int n) {
  int arg = 0;
  for (int v = 1; v < n; ++v) {
    if (x[v] > x[arg]) arg = v;
  }
  const double m = x[arg];
  double s = 0;
  for (int v = 0; v < n; ++v) s += std::exp(static_cast<double>(x[v]) - m);
  return {m + std::log(s), arg};
}

namespace {

// The reference's row at one scored position, kept while the other arithmetics run.
struct RefRow {
  std::vector<float> x;   // logits
  std::vector<double> p;  // softmax
  double lse = 0;
  int argmax = 0;
};

void MakeRefRow(const float* x, int n, RefRow* r) {
  const RowSummary s = SummarizeRow(x, n);
  r->x.assign(x, x + n);
  r->p.resize(n);
  for (int v = 0; v < n; ++v) r->p[v] = std::exp(static_cast<double>(x[v]) - s.lse);
  r->lse = s.lse;
  r->argmax = s.argmax;
}

double Kl(const double* p, const float* x, double lse_x, const float* y, double lse_y, int n) {
  double kl = 0;
  for (int v = 0; v < n; ++v) {
    if (p[v] == 0) continue;  // 0 log 0 = 0
    kl += p[v] * ((static_cast<double>(x[v]) - lse_x) - (static_cast<double>(y[v]) - lse_y));
  }
  return kl;
}

// One tokenized unit of work.
struct Prepared {
  const TaskSpec* spec = nullptr;
  const Example* ex = nullptr;
  std::vector<std::vector<int32_t>> ctx, cont;  // per choice
  std::vector<int32_t> doc;                     // rolling: [prefix] + tokens
  int64_t work = 0;                             // tokens to run (progress weight)
};

Result<Prepared> Prepare(const TaskSpec& spec, const Example& ex, const Encoder& enc, int ctx) {
  Prepared p;
  p.spec = &spec;
  p.ex = &ex;
  const std::string where =
      spec.name + " example " + std::to_string(ex.index) + " (id " + ex.id + ")";
  if (spec.kind == TaskKind::kRolling) {
    p.doc.push_back(enc.prefix_token);
    const std::vector<int32_t> t = enc.encode(ex.document);
    p.doc.insert(p.doc.end(), t.begin(), t.end());
    p.work = static_cast<int64_t>(t.size());
    return p;
  }
  if (spec.kind == TaskKind::kGenerate) {
    const int budget = ctx - spec.max_gen_toks;
    if (budget < 1) {
      return MakeError(where + ": --ctx " + std::to_string(ctx) + " leaves no room for a prompt " +
                       "and " + std::to_string(spec.max_gen_toks) + " generated tokens");
    }
    if (!enc.decode) return MakeError(where + ": generation needs the model's tokenizer");
    std::vector<int32_t> ce = enc.encode(ex.prompt);
    if (ce.empty() || enc.add_bos) ce.insert(ce.begin(), enc.prefix_token);
    if (static_cast<int>(ce.size()) > budget) ce.erase(ce.begin(), ce.end() - budget);
    p.work = static_cast<int64_t>(ce.size()) + spec.max_gen_toks;
    p.ctx.push_back(std::move(ce));
    return p;
  }
  for (const Choice& c : ex.choices) {
    std::string context = c.context, cont = c.continuation;
    size_t keep = context.size();
    while (keep > 0 && (context[keep - 1] == ' ' || context[keep - 1] == '\t' ||
                        context[keep - 1] == '\n' || context[keep - 1] == '\r')) {
      --keep;
    }
    cont = context.substr(keep) + cont;
    context.resize(keep);
    std::vector<int32_t> ce = enc.encode(context);
    const std::vector<int32_t> whole = enc.encode(context + cont);
    if (whole.size() <= ce.size()) {
      return MakeError(where + ": the continuation '" + c.continuation + "' has no tokens");
    }
    std::vector<int32_t> co(whole.begin() + ce.size(), whole.end());
    if (ce.empty() || enc.add_bos) ce.insert(ce.begin(), enc.prefix_token);
    const int64_t len = static_cast<int64_t>(ce.size() + co.size()) - 1;
    if (static_cast<int64_t>(co.size()) > ctx) {
      return MakeError(where + ": continuation of " + std::to_string(co.size()) +
                       " tokens exceeds --ctx " + std::to_string(ctx));
    }
    if (len > ctx) ce.erase(ce.begin(), ce.begin() + (len - ctx));  // left truncation
    p.work += static_cast<int64_t>(co.size());
    p.ctx.push_back(std::move(ce));
    p.cont.push_back(std::move(co));
  }
  if (!p.ctx.empty()) p.work += static_cast<int64_t>(p.ctx[0].size());
  return p;
}

class Worker {
 public:
  Worker(const engine::Model& model, const Encoder& encoder, const EvalOptions& o,
         Progress* progress)
      : o_(o), encoder_(&encoder), V_(model.config().n_vocab), progress_(progress) {
    for (const engine::Policy& pol : o.policies) {
      sessions_.push_back(std::make_unique<Session>(model, pol, o.ctx + 1, /*threads=*/1));
    }
    tokens_.assign(o.policies.size(), 0);
    seconds_.assign(o.policies.size(), 0.0);
  }

  // Work of the last example not yet reported through Progress::AddWork.
  int64_t unreported(int64_t total) const { return total - reported_; }

  Result<ExampleResult> Run(const Prepared& p) {
    reported_ = 0;
    ExampleResult r;
    r.task = p.spec->name;
    r.index = p.ex->index;
    r.id = p.ex->id;
    r.gold = p.ex->gold;
    r.arith.resize(o_.policies.size());
    if (p.spec->kind == TaskKind::kRolling) {
      LMUL_RETURN_IF_ERROR(Rolling(p, &r));
    } else if (p.spec->kind == TaskKind::kGenerate) {
      LMUL_RETURN_IF_ERROR(Generate(p, &r));
    } else {
      LMUL_RETURN_IF_ERROR(Choices(p, &r));
    }
    return r;
  }

  std::vector<int64_t> tokens_;
  std::vector<double> seconds_;

 private:
  using Clock = std::chrono::steady_clock;

  // Scores one position for arithmetic a: `x` predicts `target`. Returns log p(target)
  // and whether target is the argmax; a = 0 stores the reference row in refs_[slot].
  std::pair<double, bool> Score(int a, const float* x, int32_t target, size_t slot, ArithScore* s) {
    if (a == 0) {
      if (refs_.size() <= slot) refs_.resize(slot + 1);
      RefRow& r = refs_[slot];
      MakeRefRow(x, V_, &r);
      return {static_cast<double>(x[target]) - r.lse, r.argmax == target};
    }
    const RefRow& r = refs_[slot];
    const RowSummary q = SummarizeRow(x, V_);
    const double kl = Kl(r.p.data(), r.x.data(), r.lse, x, q.lse, V_);
    s->kl_sum += kl;
    s->kl_sq_sum += kl * kl;
    s->top1_agree += q.argmax == r.argmax;
    const double lp = static_cast<double>(x[target]) - q.lse;
    const double d = std::abs(lp - (static_cast<double>(r.x[target]) - r.lse));
    s->abs_dlogp_sum += d;
    s->abs_dlogp_sq_sum += d * d;
    return {lp, q.argmax == target};
  }

  Status Choices(const Prepared& p, ExampleResult* r) {
    const int A = static_cast<int>(o_.policies.size());
    const int n_choices = static_cast<int>(p.cont.size());
    for (int j = 0; j < n_choices; ++j) {
      r->cont_tokens.push_back(static_cast<int>(p.cont[j].size()));
      r->norm_len.push_back(p.ex->choices[j].norm_len);
      r->n_positions += static_cast<int64_t>(p.cont[j].size());
    }
    for (ArithScore& s : r->arith) {
      s.loglik.assign(n_choices, 0.0);
      s.greedy.assign(n_choices, 1);
    }
    // Choices that share a context (usually all of them) are scored together: one
    // prefill of the context, then every choice's continuation in one batch
    // (Session::ForwardBranches; rows bit-identical to one Forward per choice).
    std::vector<float> last, rows;
    for (int j0 = 0; j0 < n_choices;) {
      const std::vector<int32_t>& ctx = p.ctx[j0];
      int j1 = j0 + 1;
      while (j1 < n_choices && p.ctx[j1] == ctx) ++j1;
      std::vector<std::span<const int32_t>> branches;
      std::vector<size_t> row0, slot0;  // per choice: first row in `rows`, first ref slot
      size_t n_rows = 0, n_slots = 0;
      for (int j = j0; j < j1; ++j) {
        const int n = static_cast<int>(p.cont[j].size());
        row0.push_back(n_rows);
        slot0.push_back(n_slots);
        branches.emplace_back(p.cont[j].data(), n > 0 ? n - 1 : 0);
        n_rows += n > 0 ? n - 1 : 0;
        n_slots += n;
      }
      for (int a = 0; a < A; ++a) {
        const auto t0 = Clock::now();
        Session& s = *sessions_[a];
        s.Rewind(0);
        LMUL_RETURN_IF_ERROR(s.ForwardLast(ctx, &last));
        tokens_[a] += static_cast<int64_t>(ctx.size());
        if (n_rows > 0) {
          LMUL_RETURN_IF_ERROR(s.ForwardBranches(branches, &rows));
          tokens_[a] += static_cast<int64_t>(n_rows);
        }
        ArithScore& sc = r->arith[a];
        for (int j = j0; j < j1; ++j) {
          const std::vector<int32_t>& cont = p.cont[j];
          const int n = static_cast<int>(cont.size());
          const size_t r0 = row0[j - j0];
          for (int i = 0; i < n; ++i) {
            const float* x = i == 0 ? last.data() : rows.data() + (r0 + i - 1) * V_;
            auto [lp, greedy] = Score(a, x, cont[i], slot0[j - j0] + i, &sc);
            sc.loglik[j] += lp;
            if (!greedy) sc.greedy[j] = 0;
          }
        }
        seconds_[a] += std::chrono::duration<double>(Clock::now() - t0).count();
      }
      j0 = j1;
    }
    return Status::Ok();
  }

  // Greedy generation per arithmetic (one after the other: the sequences differ).
  Status Generate(const Prepared& p, ExampleResult* r) {
    const int A = static_cast<int>(o_.policies.size());
    const TaskSpec& spec = *p.spec;
    const std::vector<int32_t>& ctx = p.ctx[0];
    r->target = p.ex->target;
    std::vector<float> last;
    for (int a = 0; a < A; ++a) {
      const auto t0 = Clock::now();
      Session& s = *sessions_[a];
      s.Rewind(0);
      LMUL_RETURN_IF_ERROR(s.ForwardLast(ctx, &last));
      tokens_[a] += static_cast<int64_t>(ctx.size());
      std::vector<int32_t> out;
      bool eog = false;
      while (true) {
        int32_t next = 0;
        for (int v = 1; v < V_; ++v) {
          if (last[v] > last[next]) next = v;
        }
        if (encoder_is_eog(next)) {
          eog = true;
          break;
        }
        out.push_back(next);
        if (static_cast<int>(out.size()) >= spec.max_gen_toks || s.pos() >= s.n_ctx()) break;
        const std::string text = encoder_->decode(out);
        bool stop = false;
        for (const std::string& term : spec.until) {
          if (!term.empty() && text.find(term) != std::string::npos) stop = true;
        }
        if (stop) break;
        LMUL_RETURN_IF_ERROR(s.Forward({&next, 1}, &last));
        tokens_[a] += 1;
      }
      ArithScore& sc = r->arith[a];
      sc.generated_tokens = static_cast<int64_t>(out.size()) + (eog ? 1 : 0);
      sc.generation = CutAtStopSequences(encoder_->decode(out), spec.until);
      seconds_[a] += std::chrono::duration<double>(Clock::now() - t0).count();
    }
    return Status::Ok();
  }

  bool encoder_is_eog(int32_t t) const {
    return encoder_->is_end_of_generation && encoder_->is_end_of_generation(t);
  }

  Status Rolling(const Prepared& p, ExampleResult* r) {
    const int A = static_cast<int>(o_.policies.size());
    const std::vector<int32_t>& u = p.doc;  // [prefix] + tokens
    const int N = static_cast<int>(u.size()) - 1;
    r->cont_tokens.push_back(N);
    r->n_positions = N;
    r->n_words = p.ex->n_words;
    r->n_bytes = p.ex->n_bytes;
    if (o_.save_tokens) r->tokens.assign(u.begin() + 1, u.end());
    for (ArithScore& s : r->arith) {
      s.loglik.assign(1, 0.0);
      s.greedy.assign(1, 1);
    }
    constexpr int kChunk = 64;
    std::vector<float> rows;
    int first = 1;  // first target (index into u) of the window
    while (first <= N) {
      const int end = std::min(first + o_.stride, N + 1);  // targets u[first, end)
      const int c = std::max(0, end - 1 - o_.ctx);         // input u[c, end - 1)
      const int len = end - 1 - c;
      const int first_row = first - 1 - c;
      for (ArithScore& s : r->arith) s.window_loglik.push_back(0.0);
      for (int a = 0; a < A; ++a) sessions_[a]->Rewind(0);
      for (int s0 = 0; s0 < len; s0 += kChunk) {
        const int s1 = std::min(len, s0 + kChunk);
        const std::span<const int32_t> in(u.data() + c + s0, s1 - s0);
        for (int a = 0; a < A; ++a) {
          const auto t0 = Clock::now();
          Session& s = *sessions_[a];
          ArithScore& sc = r->arith[a];
          if (s1 <= first_row) {
            LMUL_RETURN_IF_ERROR(s.Forward(in, nullptr));
          } else {
            LMUL_RETURN_IF_ERROR(s.Forward(in, &rows));
            for (int row = std::max(s0, first_row); row < s1; ++row) {
              const int32_t target = u[c + row + 1];
              auto [lp, greedy] = Score(a, rows.data() + static_cast<size_t>(row - s0) * V_, target,
                                        static_cast<size_t>(row - s0), &sc);
              sc.loglik[0] += lp;
              sc.window_loglik.back() += lp;
              if (!greedy) sc.greedy[0] = 0;
            }
          }
          tokens_[a] += s1 - s0;
          seconds_[a] += std::chrono::duration<double>(Clock::now() - t0).count();
        }
      }
      progress_->AddWork(end - first);  // targets scored in this window
      reported_ += end - first;
      first = end;
    }
    return Status::Ok();
  }

  const EvalOptions& o_;
  const Encoder* encoder_;
  const int V_;
  Progress* progress_;
  int64_t reported_ = 0;  // work of the running example already given to AddWork
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<RefRow> refs_;
};

}  // namespace

double KlDivergence(const float* x, double lse_x, const float* y, double lse_y, int n) {
  std::vector<double> p(n);
  for (int v = 0; v < n; ++v) p[v] = std::exp(static_cast<double>(x[v]) - lse_x);
  return Kl(p.data(), x, lse_x, y, lse_y, n);
}

Result<std::vector<ExampleResult>> Evaluate(const engine::Model& model, const Encoder& encoder,
                                            const std::vector<TaskInput>& tasks,
                                            const EvalOptions& o, EvalStats* stats) {
  if (o.policies.empty()) return MakeError("no arithmetic given");
  if (o.ctx < 2) return MakeError("--ctx must be >= 2");
  if (o.stride < 1 || o.stride > o.ctx) return MakeError("--stride must be in [1, --ctx]");
  std::vector<Prepared> work;
  int64_t total_work = 0;
  for (const TaskInput& t : tasks) {
    for (const Example& ex : t.examples) {
      auto p = Prepare(*t.spec, ex, encoder, o.ctx);
      if (!p.ok()) return std::move(p).TakeError();
      total_work += p->work;
      work.push_back(std::move(*p));
    }
  }
  const int n_workers = std::max(1, std::min<int>(o.threads, static_cast<int>(work.size())));
  Progress progress(static_cast<int64_t>(work.size()), total_work,
                    static_cast<int>(o.policies.size()), o.progress);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < n_workers; ++w) {
    workers.push_back(std::make_unique<Worker>(model, encoder, o, &progress));
  }

  std::vector<ExampleResult> results(work.size());
  std::vector<std::string> errors(work.size());
  // Largest units first (long documents do not finish last on one worker); results go to
  // their own slots, so the order does not affect them.
  std::vector<size_t> order(work.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return work[a].work > work[b].work; });
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto loop = [&](Worker* w) {
    while (!failed.load()) {
      const size_t k = next.fetch_add(1);
      if (k >= work.size()) break;
      const size_t i = order[k];
      auto r = w->Run(work[i]);
      if (!r.ok()) {
        errors[i] = r.error();
        failed.store(true);
        break;
      }
      results[i] = std::move(*r);
      progress.Add(w->unreported(work[i].work));
    }
  };
  std::vector<std::thread> threads;
  for (int w = 1; w < n_workers; ++w) threads.emplace_back(loop, workers[w].get());
  loop(workers[0].get());
  for (auto& t : threads) t.join();
  progress.Finish();
  for (const std::string& e : errors) {
    if (!e.empty()) return MakeError(e);
  }
  if (stats) {
    stats->tokens.assign(o.policies.size(), 0);
    stats->seconds.assign(o.policies.size(), 0.0);
    for (const auto& w : workers) {
      for (size_t a = 0; a < o.policies.size(); ++a) {
        stats->tokens[a] += w->tokens_[a];
        stats->seconds[a] += w->seconds_[a];
      }
    }
  }
  return results;
}

std::string DescribeSelection(const TaskInput& in, int shard_i, int shard_n) {
  std::string out;
  if (in.n_total > 0 && in.n_selected >= in.n_total) {
    out = "all " + std::to_string(in.n_total);
  } else if (in.n_total > 0) {
    out = "first " + std::to_string(in.n_selected) + " of " + std::to_string(in.n_total);
  } else {
    out = "first " + std::to_string(in.n_selected);
  }
  if (shard_n > 1) {
    out += ", shard " + std::to_string(shard_i) + "/" + std::to_string(shard_n) + ": " +
           std::to_string(in.examples.size());
  }
  return out;
}

}  // namespace lmul::eval
