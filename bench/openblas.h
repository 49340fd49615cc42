// OpenBLAS loaded at run time (dlopen) as the native SGEMM baseline of the
// benchmarks. Debian's OpenBLAS 0.3.21 does not recognise newer AMD cores and
// falls back to its Haswell (AVX2) kernels; on a CPU with AVX-512 we select the
// SkylakeX kernels by setting OPENBLAS_CORETYPE before the library initialises
// (which is why it is loaded here, never linked), replacing an OPENBLAS_CORETYPE
// inherited from the environment (this machine's environment sets Haswell);
// LMUL_OPENBLAS_CORETYPE=<name> forces another core type.
#ifndef LMUL_BENCH_OPENBLAS_H_
#define LMUL_BENCH_OPENBLAS_H_

#include <string>

namespace lmul::bench {

class OpenBlas {
 public:
  // Loads libopenblas once per process; nullptr (with *why set) if unavailable.
  static const OpenBlas* Get(std::string* why);
  // C = A . B, row-major, no transposes, fp32.
  void Sgemm(int M, int N, int K, const float* a, int lda, const float* b, int ldb, float* c,
             int ldc) const;
  void SetThreads(int threads) const;
  const std::string& corename() const { return corename_; }
  std::string Name() const { return "openblas-sgemm:" + corename_; }

 private:
  using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                           int, float, float*, int);
  using SetThreadsFn = void (*)(int);
  SgemmFn sgemm_ = nullptr;
  SetThreadsFn set_threads_ = nullptr;
  std::string corename_;
};

}  // namespace lmul::bench

#endif  // LMUL_BENCH_OPENBLAS_H_
