// `lmul bench gemm` / `lmul bench elementwise`: timings of the kernels against
// a native baseline measured in the same process (ratios are what count on a
// shared, noisy machine).
#ifndef LMUL_BENCH_KERNEL_BENCH_H_
#define LMUL_BENCH_KERNEL_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernels/gemm.h"
#include "numeric/arith.h"

namespace lmul::bench {

struct GemmShape {
  int m, n, k;
};

// "MxNxK" -> shape (each 1 .. 65536).
Result<GemmShape> ParseShape(const std::string& text);

// An element count: decimal digits with an optional binary suffix K (2^10), M (2^20) or
// G (2^30), e.g. "2048", "16K", "16M"; 1 .. max, else an error naming the text and the range.
Result<size_t> ParseCount(const std::string& text, size_t max);

struct GemmBenchOptions {
  std::vector<std::string> ariths;  // Arith specs
  std::vector<GemmShape> shapes;
  std::vector<int> threads;  // 0 = all cores
  int repeats = 5;           // best of
};

struct GemmRecord {
  std::string arith;
  std::string accum;  // accumulation of the kernel: fp32 (canonical order), bf16, bf16dot
  int m = 0, n = 0, k = 0, threads = 0;
  double gflops = 0;            // Gemm (B packed inside the call), best of repeats
  double prepacked_gflops = 0;  // GemmPacked with B packed once beforehand
  std::string baseline;         // e.g. openblas-sgemm:SkylakeX
  double baseline_gflops = 0;
  double ratio = 0;  // gflops / baseline_gflops
  double prepacked_ratio = 0;
  double native_bf16_gflops = 0;  // native bf16 GEMM (vdpbf16ps, B prepacked); 0 if no AVX512-BF16
};

std::vector<std::string> DefaultGemmAriths();
// "ARITH[@ACCUM]": an arith spec, optionally with the accumulation: @fp32, @bf16,
// or @bf16dot (Accum::kBf16Dot: the 16-bit-lane vdpbf16ps path). Without @ the
// accumulation is fp32 in the canonical order, except bare "lmul/bf16": the
// 16-bit-lane path where the CPU has AVX512-BF16 (issue 3 names it the 16-bit
// path), fp32 elsewhere; "lmul/bf16@fp32" is its canonical-order kernel.
Result<std::pair<Arith, kernels::Accum>> ParseGemmArith(const std::string& spec);
std::vector<GemmShape> DefaultGemmShapes();

// Progress (one line per measurement) on stderr.
Result<std::vector<GemmRecord>> RunGemmBench(const GemmBenchOptions& opts);
std::string GemmRecordsJson(const std::vector<GemmRecord>& records);
std::string GemmRecordsTable(const std::vector<GemmRecord>& records);

struct ElementwiseRecord {
  std::string arith;
  size_t n = 0;
  double gelems = 0;  // 1e9 elements per second, best of repeats
  double gbps = 0;    // 12 bytes per element (2 loads, 1 store)
  std::string baseline = "fp32-multiply-loop";
  double baseline_gelems = 0;
  double ratio = 0;  // gelems / baseline_gelems
};

Result<std::vector<ElementwiseRecord>> RunElementwiseBench(const std::vector<std::string>& ariths,
                                                           const std::vector<size_t>& sizes,
                                                           int repeats);
std::string ElementwiseRecordsJson(const std::vector<ElementwiseRecord>& records);
std::string ElementwiseRecordsTable(const std::vector<ElementwiseRecord>& records);

// ---- The harness's workloads, shared by `lmul bench` and the Google Benchmark suite
// (bench/kernels_benchmark.cc), so that both measure the same data and baselines ----
// n values drawn from N(0, 1) (std::mt19937 seeded with `seed`).
std::vector<float> RandomMatrix(size_t n, uint32_t seed);
// The bf16 codes (top 16 bits) of RandomMatrix(n, seed).
std::vector<uint16_t> RandomBf16(size_t n, uint32_t seed);
// The elementwise baselines: y[i] = a[i] * b[i] in fp32, and in bf16 storage (widen,
// fp32 multiply, round to bf16 rne: what a bf16 elementwise multiply costs natively).
void PlainMultiply(const float* a, const float* b, float* y, size_t n);
void PlainMultiplyBf16(const uint16_t* a, const uint16_t* b, uint16_t* y, size_t n);

// Name of the SIMD target the kernels dispatch to (e.g. "AVX3").
std::string KernelTargetName();

// Emulates a CPU with fewer instruction sets, for the whole process, before any
// benchmark runs: "native" (no change) or "avx2" (Highway's AVX2 target, no raw
// AVX-512 kernels, no AVX512-BF16 path, and OpenBLAS's Haswell kernels as the
// baseline unless LMUL_OPENBLAS_CORETYPE says otherwise). Error if the CPU lacks it.
Result<bool> RestrictIsa(const std::string& isa);

}  // namespace lmul::bench

#endif  // LMUL_BENCH_KERNEL_BENCH_H_
