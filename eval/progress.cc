#include "eval/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace lmul::eval {

Progress::Progress(int64_t total_examples, int64_t total_work, int n_arith, bool enabled)
    : total_(total_examples),
      total_work_(total_work),
      n_arith_(n_arith),
      enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0),
      start_(Clock::now()),
      last_draw_(start_) {}

void Progress::Add(int64_t work) {
  std::lock_guard<std::mutex> lock(mu_);
  ++done_;
  done_work_ += work;
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (enabled_ && done_ < total_ && since >= (tty_ ? 0.2 : 15.0)) {
    last_draw_ = now;
    Draw(false);
  }
}

void Progress::AddWork(int64_t work) {
  std::lock_guard<std::mutex> lock(mu_);
  done_work_ += work;
  const auto now = Clock::now();
  if (enabled_ && std::chrono::duration<double>(now - last_draw_).count() >= (tty_ ? 0.2 : 15.0)) {
    last_draw_ = now;
    Draw(false);
  }
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (enabled_ && !finished_) Draw(true);
  finished_ = true;
}

void Progress::Draw(bool final_line) {
  const double t = std::chrono::duration<double>(Clock::now() - start_).count();
  const double frac = total_work_ > 0 ? static_cast<double>(done_work_) / total_work_ : 1.0;
  const double rate = t > 0 ? done_work_ * static_cast<double>(n_arith_) / t : 0.0;
  const double eta = frac > 0 ? t * (1 - frac) / frac : 0.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(frac * kWidth + 0.5);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  const int e = static_cast<int>(eta + 0.5);
  std::fprintf(stderr, "%s[%s] %lld/%lld examples  %.0f tok/s  %.0fs elapsed  ETA %dm%02ds%s",
               tty_ ? "\r" : "", bar.c_str(), static_cast<long long>(done_),
               static_cast<long long>(total_), rate, t, e / 60, e % 60,
               (final_line || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace lmul::eval
