#include "bench/native_bf16.h"

#include "base/check.h"
#include "kernels/gemm_internal.h"
#include "numeric/bits.h"

namespace lmul::bench {
namespace {

using kernels::internal::DotJob;
constexpr int NR = kernels::tiles::kDotNR;
constexpr int MR = kernels::tiles::kDotMR;
constexpr kernels::CpuFeatures kNeeds =
    kernels::kCpuAvx512F | kernels::kCpuAvx512Bw | kernels::kCpuAvx512Vl | kernels::kCpuAvx512Bf16;

}  // namespace

bool NativeBf16Available(const kernels::KernelPlan& plan) {
  return (plan.features() & kNeeds) == kNeeds;
}

NativeBf16B PackNativeBf16B(int K, int N, const float* b, int ldb) {
  NativeBf16B nb;
  nb.K = K;
  nb.N = N;
  const int panels = (N + NR - 1) / NR, Kp = (K + 1) / 2;
  nb.b.assign(static_cast<size_t>(panels) * Kp * NR, 0u);
  for (int k = 0; k < K; ++k) {
    for (int n = 0; n < N; ++n) {
      nb.b[(static_cast<size_t>(n / NR) * Kp + k / 2) * NR + n % NR] |=
          uint32_t{Bf16CodeRne(b[static_cast<size_t>(k) * ldb + n])} << (16 * (k & 1));
    }
  }
  return nb;
}

void NativeBf16Gemm(int M, const float* a, int lda, const NativeBf16B& nb, float* c, int ldc,
                    int threads) {
  LMUL_CHECK(NativeBf16Available(kernels::KernelPlan::Host()),
             "NativeBf16Gemm: the CPU lacks AVX512-BF16");
  const int K = nb.K, N = nb.N, Kp = (K + 1) / 2, panels = (N + NR - 1) / NR;
  const int blocks = (M + MR - 1) / MR;
  std::vector<uint32_t> ap(static_cast<size_t>(blocks) * Kp * MR, 0u);
  for (int i = 0; i < M; ++i) {
    uint32_t* dst = ap.data() + static_cast<size_t>(i / MR) * Kp * MR + i % MR;
    const float* src = a + static_cast<size_t>(i) * lda;
    for (int k = 0; k < K; ++k)
      dst[static_cast<size_t>(k / 2) * MR] |= uint32_t{Bf16CodeRne(src[k])} << (16 * (k & 1));
  }
  DotJob j;
  j.M = M;
  j.N = N;
  j.K = K;
  j.Kp = Kp;
  j.a = ap.data();
  j.b = nb.b.data();
  j.c = c;
  j.ldc = ldc;
  j.native = true;
  kernels::internal::ParallelFor(
      threads, panels, [&](int pb, int pe) { kernels::internal::DotPanelsAvx512Bf16(j, pb, pe); });
}

}  // namespace lmul::bench
