// Built instead of kernels/x86/ on other architectures (kernels/CMakeLists.txt):
// no x86 features, so the plan never chooses an x86 kernel; their entry points
// exist only for the linker.
#include "base/check.h"
#include "kernels/plan.h"
#include "kernels/x86/avx512.h"
#include "kernels/x86/gemv_avx2.h"
#include "kernels/x86/gemv_avx512.h"
#include "kernels/x86/gemv_reduced_avx2.h"

namespace lmul::kernels {

CpuFeatures HostCpuFeatures() { return 0; }

namespace internal {
void Fp32PanelsAvx512(const Fp32Job&, int, int) {
  LMUL_CHECK(false, "Fp32PanelsAvx512: not an x86-64 build");
}
void DotPanelsAvx512Bf16(const DotJob&, int, int) {
  LMUL_CHECK(false, "DotPanelsAvx512Bf16: not an x86-64 build");
}
void TransposeRowsAvx2(const float*, int, int, float*, int) {
  LMUL_CHECK(false, "TransposeRowsAvx2: not an x86-64 build");
}
bool GemvInterleavedAvx2(const InterleavedRows&, int, int, int, const float*, int, float*, int) {
  LMUL_CHECK(false, "GemvInterleavedAvx2: not an x86-64 build");
  return false;
}
bool GemvInterleavedAvx512(const InterleavedRows&, int, int, int, const float*, int, float*, int) {
  LMUL_CHECK(false, "GemvInterleavedAvx512: not an x86-64 build");
  return false;
}
void HalfToFloat16Avx512(const uint16_t*, float*) {
  LMUL_CHECK(false, "HalfToFloat16Avx512: not an x86-64 build");
}
void HalfToFloat8Avx2(const uint16_t*, float*) {
  LMUL_CHECK(false, "HalfToFloat8Avx2: not an x86-64 build");
}
bool DecodeTileAvx2(const RowRun&, int, float*) {
  LMUL_CHECK(false, "DecodeTileAvx2: not an x86-64 build");
  return false;
}
bool DecodeRowsAvx2(const RowRun&, int, int, float*) {
  LMUL_CHECK(false, "DecodeRowsAvx2: not an x86-64 build");
  return false;
}
void GemvExactFp32BlockAvx2(int, int, const float*, const float*, int, float*) {
  LMUL_CHECK(false, "GemvExactFp32BlockAvx2: not an x86-64 build");
}
void PrepareGemvReducedA(GemvKind, const Arith&, int, int, const float*, int, GemvReducedA*) {
  LMUL_CHECK(false, "PrepareGemvReducedA: not an x86-64 build");
}
bool GemvReducedBlock(const GemvReducedA&, const float*, uint32_t*, float*) {
  LMUL_CHECK(false, "GemvReducedBlock: not an x86-64 build");
  return false;
}
bool GemvReducedRun(const GemvReducedA&, const uint32_t*, const RunStats&, float*) {
  LMUL_CHECK(false, "GemvReducedRun: not an x86-64 build");
  return false;
}
bool DecodeTileReducedAvx2(const GemvReducedA&, const RowRun&, int, float*, RunStats*) {
  LMUL_CHECK(false, "DecodeTileReducedAvx2: not an x86-64 build");
  return false;
}
}  // namespace internal

}  // namespace lmul::kernels
