// The evaluation loop: every example of every task is scored under every arithmetic
// (policy) in lockstep, so the measures against the reference arithmetic (the first)
// are computed on the same inputs without storing distributions.
//
// Requests (lm-evaluation-harness semantics):
//   loglikelihood(context, continuation): context trailing spaces move to the
//     continuation; tokens = encode(context), continuation = encode(context +
//     continuation)[len(encode(context)):]. The context is prefilled once per arithmetic
//     (ForwardLast: its last row predicts the first continuation token); every choice
//     rewinds the session to the end of the context (Session::Rewind) and runs its
//     continuation without its last token. Choices with another context are prefilled anew.
//   generate_until(prompt): encode(prompt) (prefix token as for contexts), left-truncated to
//     ctx - max_gen_toks tokens (lm-eval); greedy tokens (first argmax) until an
//     end-of-generation token, a stop sequence in the decoded text, max_gen_toks, or the
//     KV cache is full; the text is cut at the stop sequences. Arithmetics run one after
//     the other (their sequences differ), each example alone.
//   loglikelihood_rolling(document): u = [prefix] + encode(document); windows of at most
//     `ctx` input tokens; each window scores the next `stride` not-yet-scored tokens with
//     as much preceding context as fits (stride == ctx: lm-eval's disjoint windows).
//
// Per scored position and arithmetic a != reference r (p the next-token distributions):
//   KL(p_r || p_a) = sum_v p_r(v) (log p_r(v) - log p_a(v)), top-1 agreement
//   argmax p_a == argmax p_r, |log p_a(target) - log p_r(target)|.
// log-softmax: lse = max + log(sum exp(x - max)) in double.
//
// Determinism: each example is computed alone (sessions rewound to 0) by one worker,
// with the engine's thread-count-independent kernels, so results do not depend on
// --threads or on --shard; aggregation (report.h) runs in (task, index) order.
#ifndef LMUL_EVAL_EVALUATOR_H_
#define LMUL_EVAL_EVALUATOR_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "eval/task.h"

namespace lmul::eval {

struct Encoder {
  std::function<std::vector<int32_t>(std::string_view)> encode;  // no special tokens
  int32_t prefix_token = 0;  // starts rolling windows and empty contexts (lm-eval: BOS, else EOT)
  bool add_bos = false;      // multiple choice: every context starts with prefix_token
  // Generation: token ids to text, and the model's end-of-generation tokens.
  std::function<std::string(std::span<const int32_t>)> decode;
  std::function<bool(int32_t)> is_end_of_generation;
};
// The model's tokenizer. BOS is prepended to multiple-choice contexts only when the GGUF
// asks for it (tokenizer.ggml.add_bos_token = true, e.g. Gemma; lm-eval's HF backend does the
// same for Gemma models); otherwise no BOS (lm-eval's HF default, e.g. SmolLM2). prefix = BOS
// if the vocabulary has one, else EOS. Error if the model has no tokenizer.
Result<Encoder> EncoderForModel(const engine::Model& model);

struct TaskInput {
  const TaskSpec* spec = nullptr;
  std::vector<Example> examples;  // this shard's examples
  int n_selected = 0;             // examples after --limit, before --shard
  int n_total = 0;                // examples in the task's split (0: unknown)
};

// For banners: which examples of the split run, e.g. "all 2376", "first 200 of 2376",
// "first 200 of 2376, shard 1/4: 50" (never "200 of 200", which reads as the whole split).
std::string DescribeSelection(const TaskInput& in, int shard_i, int shard_n);

struct EvalOptions {
  std::vector<engine::Policy> policies;  // [0] is the reference
  int threads = 1;                       // workers; each owns one session per policy
  int ctx = 2048;                        // max input tokens of a request / rolling window
  int stride = 2048;                     // rolling: tokens scored per window (<= ctx)
  bool save_tokens = false;              // keep rolling documents' token ids in the results
  bool progress = false;                 // progress bar on stderr
};

struct ArithScore {
  std::vector<double> loglik;   // per choice; rolling: [whole document]
  std::vector<uint8_t> greedy;  // per choice: every continuation token is the argmax
  // Against the reference, summed over the example's scored positions (0 for it).
  double kl_sum = 0, kl_sq_sum = 0;
  double abs_dlogp_sum = 0, abs_dlogp_sq_sum = 0;  // |delta log p(target)| per token
  int64_t top1_agree = 0;
  std::vector<double> window_loglik;  // rolling: per window
  std::string generation;             // generate: the text, cut at the stop sequences
  int64_t generated_tokens = 0;       // generate: tokens produced (stop tokens included)
};

struct ExampleResult {
  std::string task;
  int index = 0;
  std::string id;
  int gold = -1;
  std::vector<int> cont_tokens;      // per choice (rolling: [document tokens])
  std::vector<int64_t> norm_len;     // per choice (acc_norm divisors)
  int64_t n_positions = 0;           // scored positions (all choices)
  int64_t n_words = 0, n_bytes = 0;  // rolling
  std::vector<int32_t> tokens;       // rolling with save_tokens
  std::string target;                // generate: the reference answer
  std::vector<ArithScore> arith;     // one per policy
};

struct EvalStats {
  std::vector<int64_t> tokens;  // per policy: tokens run through Forward
  std::vector<double> seconds;  // per policy: worker seconds in Forward and scoring
};

// Tokenizes everything first (errors, e.g. a request longer than ctx, stop the run before
// any forward pass), then scores. Results are in (task, example) order of `tasks`.
Result<std::vector<ExampleResult>> Evaluate(const engine::Model& model, const Encoder& encoder,
                                            const std::vector<TaskInput>& tasks,
                                            const EvalOptions& options, EvalStats* stats);

// log-softmax summary of one row of logits: lse and the first argmax.
struct RowSummary {
  double lse;
  int argmax;
};
RowSummary SummarizeRow(const float* logits, int n);
// KL(p || q) for rows x (p) and y (q) with their lse.
double KlDivergence(const float* x, double lse_x, const float* y, double lse_y, int n);

}  // namespace lmul::eval

#endif  // LMUL_EVAL_EVALUATOR_H_
