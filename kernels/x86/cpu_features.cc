// The one CPU feature probe of the kernels (x86-64; kernels/no_x86.cc elsewhere).
// Built without ISA flags: it only asks the CPU.
#include "kernels/plan.h"

namespace lmul::kernels {

CpuFeatures HostCpuFeatures() {
  static const CpuFeatures features = [] {
    __builtin_cpu_init();
    CpuFeatures f = 0;
    if (__builtin_cpu_supports("avx2")) f |= kCpuAvx2;
    if (__builtin_cpu_supports("fma")) f |= kCpuFma;
    if (__builtin_cpu_supports("f16c")) f |= kCpuF16c;
    if (__builtin_cpu_supports("avx512f")) f |= kCpuAvx512F;
    if (__builtin_cpu_supports("avx512bw")) f |= kCpuAvx512Bw;
    if (__builtin_cpu_supports("avx512vl")) f |= kCpuAvx512Vl;
    if (__builtin_cpu_supports("avx512bf16")) f |= kCpuAvx512Bf16;
    return f;
  }();
  return features;
}

}  // namespace lmul::kernels
