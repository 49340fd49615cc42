// lmul_cuda_bench: the CUDA kernels against cuBLAS and a plain multiply, measured in the
// same run (bench/RESULTS.md § CUDA).
//
//   lmul_cuda_bench [--json FILE] [--reps N]
//
// GEMM: C = A . B, row-major, B not transposed, for square and LLM shapes; baseline
// cublasSgemm in CUBLAS_PEDANTIC_MATH (true fp32: no TF32, no reduced-precision
// shortcuts), timed with CUDA events, median of --reps launches after a warm-up.
// Elementwise: 64 Mi fp32 pairs, GB/s counted as 12 bytes per element, against
// y = a * b (MulElementwisePlain) in the same run.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/lmul_cuda.h"

namespace {

using lmul::Arith;
namespace cu = lmul::kernels::cuda;

#define CHECK_CUDA(expr)                                                                \
  do {                                                                                  \
    const cudaError_t e_ = (expr);                                                      \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "lmul_cuda_bench: %s: %s\n", #expr, cudaGetErrorString(e_)); \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

// Median milliseconds of `reps` timed calls of f (after one warm-up call).
template <typename F>
double MedianMs(int reps, F f) {
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  f();
  cudaDeviceSynchronize();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(t0);
    f();
    cudaEventRecord(t1);
    cudaEventSynchronize(t1);
    float x = 0;
    cudaEventElapsedTime(&x, t0, t1);
    ms.push_back(x);
  }
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Shape {
  int M, N, K;
  const char* what;
};

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  int reps = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: lmul_cuda_bench [--json FILE] [--reps N]\n");
      return 2;
    }
  }
  const auto info = cu::DeviceInfo();
  if (!info.ok()) {
    std::fprintf(stderr, "lmul_cuda_bench: %s\n  hint: needs an NVIDIA GPU and driver\n",
                 info.error().c_str());
    return 1;
  }
  std::printf("device: %s\n", info->c_str());
  cublasHandle_t handle;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "lmul_cuda_bench: cublasCreate failed\n");
    return 1;
  }
  cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH);

  std::string json = "{\"device\": \"" + *info + "\", \"gemm\": [";
  const Shape shapes[] = {{1024, 1024, 1024, "square"},
                          {2048, 2048, 2048, "square"},
                          {4096, 4096, 4096, "square"},
                          {2048, 1536, 576, "SmolLM2 MLP up, 2048 tokens"},
                          {2048, 576, 1536, "SmolLM2 MLP down, 2048 tokens"},
                          {2048, 2048, 64, "attention QK^T, one head, 2048 tokens"}};
  const char* ariths[] = {"lmul/bf16", "lmul/fp32", "lmul/e4m3", "mitchell/bf16", "exact/fp32"};
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::printf("\nGEMM (ratio = cuBLAS SGEMM time / lmul time; both true fp32 accumulation)\n");
  std::printf("%-40s %-14s %10s %10s %8s\n", "shape M x N x K", "arith", "ms", "TFLOP/s", "ratio");
  bool first = true;
  for (const Shape& s : shapes) {
    const size_t na = static_cast<size_t>(s.M) * s.K, nb = static_cast<size_t>(s.K) * s.N,
                 nc = static_cast<size_t>(s.M) * s.N;
    std::vector<float> ha(na), hb(nb);
    for (float& v : ha) v = nd(rng);
    for (float& v : hb) v = nd(rng);
    float *a, *b, *c;
    CHECK_CUDA(cudaMalloc(&a, na * 4));
    CHECK_CUDA(cudaMalloc(&b, nb * 4));
    CHECK_CUDA(cudaMalloc(&c, nc * 4));
    CHECK_CUDA(cudaMemcpy(a, ha.data(), na * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b, hb.data(), nb * 4, cudaMemcpyHostToDevice));
    const double flop = 2.0 * s.M * s.N * s.K;
    // Row-major C = A.B is column-major C^T = B^T.A^T: cuBLAS gets (N, M, K) with B first.
    const float one = 1.0f, zero = 0.0f;
    const double base_ms = MedianMs(reps, [&] {
      cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, s.N, s.M, s.K, &one, b, s.N, a, s.K, &zero, c,
                  s.N);
    });
    char label[80];
    std::snprintf(label, sizeof label, "%d x %d x %d", s.M, s.N, s.K);
    std::printf("%-40s %-14s %10.3f %10.2f %8s\n", label, "cuBLAS sgemm", base_ms,
                flop / base_ms / 1e9, "1.00");
    for (const char* spec : ariths) {
      const Arith ar = *Arith::Parse(spec);
      const lmul::Status st = cu::Gemm(ar, s.M, s.N, s.K, a, s.K, b, s.N, false, c, s.N);
      if (!st.ok()) {
        std::fprintf(stderr, "lmul_cuda_bench: %s\n", st.error().c_str());
        return 1;
      }
      const double ms =
          MedianMs(reps, [&] { (void)cu::Gemm(ar, s.M, s.N, s.K, a, s.K, b, s.N, false, c, s.N); });
      std::printf("%-40s %-14s %10.3f %10.2f %8.3f\n", "", spec, ms, flop / ms / 1e9, base_ms / ms);
      char rec[400];
      std::snprintf(rec, sizeof rec,
                    "%s{\"M\": %d, \"N\": %d, \"K\": %d, \"shape\": \"%s\", \"arith\": \"%s\", "
                    "\"ms\": %.4f, \"tflops\": %.3f, \"baseline\": \"cublasSgemm pedantic\", "
                    "\"baseline_ms\": %.4f, \"ratio\": %.4f}",
                    first ? "" : ", ", s.M, s.N, s.K, s.what, spec, ms, flop / ms / 1e9, base_ms,
                    base_ms / ms);
      json += rec;
      first = false;
    }
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
  }
  json += "], \"elementwise\": [";

  const size_t n = size_t{64} << 20;
  float *x, *y, *z;
  CHECK_CUDA(cudaMalloc(&x, n * 4));
  CHECK_CUDA(cudaMalloc(&y, n * 4));
  CHECK_CUDA(cudaMalloc(&z, n * 4));
  {
    std::vector<float> hx(n), hy(n);
    for (size_t i = 0; i < n; ++i) {
      hx[i] = nd(rng);
      hy[i] = nd(rng);
    }
    CHECK_CUDA(cudaMemcpy(x, hx.data(), n * 4, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(y, hy.data(), n * 4, cudaMemcpyHostToDevice));
  }
  const double plain_ms = MedianMs(reps, [&] { (void)cu::MulElementwisePlain(x, y, z, n); });
  std::printf("\nElementwise, %zu Mi N(0,1) pairs (ratio = plain multiply time / lmul time)\n",
              n >> 20);
  std::printf("%-16s %10s %10s %8s\n", "arith", "ms", "GB/s", "ratio");
  std::printf("%-16s %10.3f %10.1f %8s\n", "plain a*b", plain_ms, 12.0 * n / plain_ms / 1e6,
              "1.00");
  first = true;
  for (const char* spec : {"lmul/fp32", "lmul/bf16", "lmul/e8m4", "lmul/fp16", "lmul/e5m2",
                           "lmul/e4m3", "mitchell/bf16", "exact/bf16", "exact/e4m3"}) {
    const Arith ar = *Arith::Parse(spec);
    const double ms = MedianMs(reps, [&] { (void)cu::MulElementwise(ar, x, y, z, n); });
    std::printf("%-16s %10.3f %10.1f %8.3f\n", spec, ms, 12.0 * n / ms / 1e6, plain_ms / ms);
    char rec[300];
    std::snprintf(rec, sizeof rec,
                  "%s{\"arith\": \"%s\", \"n\": %zu, \"ms\": %.4f, \"gbps\": %.2f, "
                  "\"baseline\": \"plain fp32 multiply\", \"baseline_ms\": %.4f, \"ratio\": %.4f}",
                  first ? "" : ", ", spec, n, ms, 12.0 * n / ms / 1e6, plain_ms, plain_ms / ms);
    json += rec;
    first = false;
  }
  json += "]}\n";
  cudaFree(x);
  cudaFree(y);
  cudaFree(z);
  cublasDestroy(handle);
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "lmul_cuda_bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::fputs(json.c_str(), f);
    std::fclose(f);
  }
  return 0;
}
