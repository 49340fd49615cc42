#include "kernels/worker_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lmul::kernels {

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min<unsigned>(hw, INT_MAX));
}

}  // namespace lmul::kernels

namespace lmul::kernels::internal {
namespace {

// True on a thread while it runs a part of a pool job: a nested RunParts from
// there must not wait for the pool (its job lock is held by this very job).
thread_local bool in_part = false;

struct InPart {
  InPart() { in_part = true; }
  ~InPart() { in_part = false; }
};

// Before blocking, a worker (for the next job) and the caller (for the last
// part) spin this long: back-to-back GEMMs then start without a futex wake.
constexpr auto kSpin = std::chrono::microseconds(50);

template <class Done>
bool SpinUntil(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= until) return done();
  }
}

void RunOnNewThreads(int parts, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(parts - 1);
  for (int p = 1; p < parts; ++p) threads.emplace_back(fn, p);
  fn(0);
  for (auto& t : threads) t.join();
}

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      generation_.fetch_add(1);
    }
    start_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void Run(int parts, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> job_lock(job_mu_, std::try_to_lock);
    if (!job_lock.owns_lock()) {  // the pool is busy (another thread's job)
      RunOnNewThreads(parts, fn);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (static_cast<int>(workers_.size()) < parts - 1) {
        const int index = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, index] { WorkerLoop(index); });
      }
      fn_ = &fn;
      parts_ = parts;
      pending_.store(parts - 1);
      generation_.fetch_add(1);
    }
    start_.notify_all();
    {
      InPart mark;
      fn(0);
    }
    if (!SpinUntil([this] { return pending_.load() == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return pending_.load() == 0; });
    }
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = nullptr;
  }

 private:
  // Worker `index` runs part `index` of every job that has more parts than that.
  void WorkerLoop(int index) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen = generation_.load() - 1;  // started for the current job: take part in it
    }
    for (;;) {
      SpinUntil([&] { return generation_.load() != seen; });
      const std::function<void(int)>* fn = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        start_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
        if (stop_) return;
        seen = generation_.load();
        if (index >= parts_) continue;
        fn = fn_;
      }
      {
        InPart mark;
        (*fn)(index);
      }
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mu_);  // the caller may be about to wait
        done_.notify_one();
      }
    }
  }

  std::mutex job_mu_;  // held by the caller for a whole job
  std::mutex mu_;      // guards workers_, fn_, parts_, stop_ and generation changes
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* fn_ = nullptr;
  int parts_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
};

}  // namespace

void RunParts(int parts, const std::function<void(int)>& fn) {
  if (parts <= 1) {
    if (parts == 1) fn(0);
    return;
  }
  if (in_part) {  // nested inside a job of the pool
    RunOnNewThreads(parts, fn);
    return;
  }
  static Pool pool;
  pool.Run(parts, fn);
}

}  // namespace lmul::kernels::internal

namespace lmul::kernels {

void RunParts(int parts, const std::function<void(int)>& fn) { internal::RunParts(parts, fn); }

}  // namespace lmul::kernels
