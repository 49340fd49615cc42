#include "bench/openblas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "kernels/plan.h"

namespace lmul::bench {

const OpenBlas* OpenBlas::Get(std::string* why) {
  static OpenBlas* instance = nullptr;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    // LMUL_OPENBLAS_CORETYPE overrides; otherwise SkylakeX on AVX-512 CPUs,
    // replacing any OPENBLAS_CORETYPE inherited from the environment.
    if (const char* forced = std::getenv("LMUL_OPENBLAS_CORETYPE")) {
      setenv("OPENBLAS_CORETYPE", forced, 1);
    } else if ((kernels::HostCpuFeatures() & kernels::kCpuAvx512F) != 0) {
      setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    }
    // OpenBLAS's idle workers busy-wait 2^28 cycles after each call by default,
    // taking cores from the multi-threaded kernels measured next in the same
    // process; 2^4 cycles makes them sleep at once (OpenBLAS's own speed is
    // unaffected: its threads are woken for each call). Kept if the user set it.
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
    void* h = nullptr;
    for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
      h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (h != nullptr) break;
    }
    if (h == nullptr) {
      error = std::string("cannot load libopenblas: ") + dlerror() +
              " (install libopenblas0, see scripts/setup.sh)";
      return;
    }
    auto* ob = new OpenBlas;
    ob->sgemm_ = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    ob->set_threads_ = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    auto corename = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_corename"));
    if (ob->sgemm_ == nullptr || ob->set_threads_ == nullptr || corename == nullptr) {
      error = "libopenblas lacks cblas_sgemm/openblas_set_num_threads/openblas_get_corename";
      delete ob;
      return;
    }
    ob->corename_ = corename();
    instance = ob;
  });
  if (instance == nullptr && why != nullptr) *why = error;
  return instance;
}

void OpenBlas::Sgemm(int M, int N, int K, const float* a, int lda, const float* b, int ldb,
                     float* c, int ldc) const {
  constexpr int kRowMajor = 101, kNoTrans = 111;
  sgemm_(kRowMajor, kNoTrans, kNoTrans, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}

void OpenBlas::SetThreads(int threads) const { set_threads_(threads); }

}  // namespace lmul::bench
