// The one CPU feature probe of the kernels (x86-64; kernels/no_x86.cc elsewhere).
// Built without ISA flags: it only asks the CPU.
#include <cpuid.h>

#include "kernels/plan.h"

namespace lmul::kernels {
namespace {

// F16C (CPUID leaf 1, ECX bit 29). Asked by CPUID because clang 14's __builtin_cpu_supports has
// no "f16c" (GCC's has); the OS's saving of the ymm state is covered by the avx2 probe beside it.
bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & bit_F16C) != 0;
}

}  // namespace

CpuFeatures HostCpuFeatures() {
  static const CpuFeatures features = [] {
    __builtin_cpu_init();
    CpuFeatures f = 0;
    if (__builtin_cpu_supports("avx2")) f |= kCpuAvx2;
    if (__builtin_cpu_supports("fma")) f |= kCpuFma;
    if (CpuHasF16c()) f |= kCpuF16c;
    if (__builtin_cpu_supports("avx512f")) f |= kCpuAvx512F;
    if (__builtin_cpu_supports("avx512bw")) f |= kCpuAvx512Bw;
    if (__builtin_cpu_supports("avx512vl")) f |= kCpuAvx512Vl;
    if (__builtin_cpu_supports("avx512bf16")) f |= kCpuAvx512Bf16;
    return f;
  }();
  return features;
}

}  // namespace lmul::kernels
