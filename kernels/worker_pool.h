// Persistent worker threads for the kernels' parallel loops (internal), and the
// one rule every layer uses for a thread count of "all cores" (ResolveThreads).
//
// Starting std::threads costs ~40 us per call on the 2-core VM the project is
// measured on, which is 10-20% of a 512^3 GEMM on two threads and more than a
// decode-step GEMM takes. The pool keeps its workers blocked on a condition
// variable between jobs. Work is split statically by the caller (each part's
// range is fixed by the part index), so results never depend on scheduling.
#ifndef LMUL_KERNELS_WORKER_POOL_H_
#define LMUL_KERNELS_WORKER_POOL_H_

#include <functional>

namespace lmul::kernels {

// The thread count a `threads` option means: threads itself when > 0; otherwise
// (0 or negative: "all cores") std::thread::hardware_concurrency(), or 1 where
// that is unknown (reported as 0). Always >= 1. Callers clamp to their work.
int ResolveThreads(int threads);

// Runs fn(part) for every part in [0, parts) on the kernels' persistent workers (part 0 on
// the calling thread; internal::RunParts below), for layers above the kernels that split
// their own work (the engine's decode attention over kv heads). Kernels called from a part
// should get threads = 1: a nested call runs on freshly started threads.
void RunParts(int parts, const std::function<void(int)>& fn);

}  // namespace lmul::kernels

namespace lmul::kernels::internal {

// Runs fn(part) for every part in [0, parts): part 0 on the calling thread, the
// others on persistent workers (started on first use, up to parts - 1 of them).
// Returns when every part has finished. One job runs on the pool at a time; a
// call made while another is running (another thread, or from inside a part)
// runs its parts on freshly started threads instead, so calls never deadlock.
void RunParts(int parts, const std::function<void(int)>& fn);

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_WORKER_POOL_H_
