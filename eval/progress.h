// Progress bar on stderr: examples done / total, tokens/s, ETA (from the token work left).
// On a terminal it redraws one line; otherwise it prints a line every 15 s. Thread-safe.
#ifndef LMUL_EVAL_PROGRESS_H_
#define LMUL_EVAL_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <mutex>

namespace lmul::eval {

class Progress {
 public:
  // work: total tokens (per arithmetic); n_arith multiplies the rate shown.
  Progress(int64_t total_examples, int64_t total_work, int n_arith, bool enabled);
  void Add(int64_t work);      // one example done; `work` minus what AddWork reported
  void AddWork(int64_t work);  // progress inside a long example (rolling windows)
  void Finish();

 private:
  void Draw(bool final_line);
  using Clock = std::chrono::steady_clock;
  std::mutex mu_;
  int64_t total_, total_work_, done_ = 0, done_work_ = 0;
  int n_arith_;
  bool enabled_, tty_, finished_ = false;
  Clock::time_point start_, last_draw_;
};

}  // namespace lmul::eval

#endif  // LMUL_EVAL_PROGRESS_H_
