#include "kernels/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <thread>
#include <vector>

namespace lmul::kernels::internal {
namespace {

// Every part runs exactly once per call, for any part count, call after call
// (the workers are reused and must not run a part twice or skip a job).
TEST(WorkerPool, EveryPartExactlyOnce) {
  for (int parts = 1; parts <= 6; ++parts) {
    std::vector<std::atomic<int>> count(parts);
    for (int call = 0; call < 3000; ++call) {
      RunParts(parts, [&](int p) { count[p].fetch_add(1); });
    }
    for (int p = 0; p < parts; ++p)
      EXPECT_EQ(count[p].load(), 3000) << parts << " parts, part " << p;
  }
}

// Part counts going up and down between calls (workers started lazily; the
// ones beyond a job's part count sit it out).
TEST(WorkerPool, VaryingPartCounts) {
  std::atomic<int> total{0};
  int expected = 0;
  for (int call = 0; call < 2000; ++call) {
    const int parts = 1 + (call * 7) % 5;
    std::vector<std::atomic<int>> count(parts);
    RunParts(parts, [&](int p) {
      count[p].fetch_add(1);
      total.fetch_add(1);
    });
    expected += parts;
    for (int p = 0; p < parts; ++p) ASSERT_EQ(count[p].load(), 1) << "call " << call;
  }
  EXPECT_EQ(total.load(), expected);
}

// Concurrent callers (only one job owns the pool; the others start threads)
// and a part that itself calls RunParts: no deadlock, nothing lost.
TEST(WorkerPool, ConcurrentAndNestedCalls) {
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int call = 0; call < 300; ++call) {
        RunParts(3, [&](int p) {
          total.fetch_add(1);
          if (p == 1 && call % 10 == 0) RunParts(2, [&](int) { total.fetch_add(1); });
        });
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), 4 * 300 * 3 + 4 * 30 * 2);
}

// ResolveThreads: a positive count is kept as given (callers clamp it to their
// work, not this function); 0 and negative counts mean every core the OS
// reports, and 1 where it reports none.
TEST(ResolveThreads, PositiveCountsAreKept) {
  for (int t : {1, 2, 3, 7, 64, 1000, INT_MAX}) EXPECT_EQ(ResolveThreads(t), t) << t;
}

TEST(ResolveThreads, ZeroAndNegativeMeanAllCoresAtLeastOne) {
  const unsigned hw = std::thread::hardware_concurrency();
  const int all = hw == 0 ? 1 : static_cast<int>(hw);
  for (int t : {0, -1, -2, INT_MIN}) {
    EXPECT_EQ(ResolveThreads(t), all) << t;
    EXPECT_GE(ResolveThreads(t), 1) << t;
  }
}

}  // namespace
}  // namespace lmul::kernels::internal
