// LMUL_CHECK: aborts with file:line and a message on a violated invariant
// (a bug in lmul, never bad user input: that is a Result error).
// LMUL_DCHECK: the same, compiled out in release builds (for hot loops).
#ifndef LMUL_BASE_CHECK_H_
#define LMUL_BASE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define LMUL_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: LMUL_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                              \
      std::fprintf(stderr, "\n");                                                        \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#ifdef NDEBUG
#define LMUL_DCHECK(cond, ...) \
  do {                         \
  } while (0)
#else
#define LMUL_DCHECK(cond, ...) LMUL_CHECK(cond, __VA_ARGS__)
#endif

#endif  // LMUL_BASE_CHECK_H_
