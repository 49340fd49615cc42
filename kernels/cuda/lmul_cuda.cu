// CUDA kernels of the spec (lmul_cuda.h). Layout of the GEMM (docs/kernels.md §7):
//   a block computes a kBM x kBN tile of C with 256 threads, each a 4 x 4 sub-tile held in
//   registers; K is walked in steps of kBK through shared memory, each operand reduced to
//   the format as it is loaded (Arith::Reduce; no reduced copy of A or B in global memory);
//   every output is one thread's sum over k = 0..K-1 in order, so C is the canonical-order
//   result of kernels/reference.h whatever the grid.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/cuda/arith_device.cuh"
#include "kernels/cuda/lmul_cuda.h"

namespace lmul::kernels::cuda {

namespace dev {

DevArith MakeDevArith(const Arith& a) {
  DevArith d{};
  d.fmt = ToFmt(a.format);
  d.out = ToFmt(a.OutputFormat());
  d.op = a.op;
  d.rne = a.reduce == Rounding::kRne;
  d.offset = a.Offset();
  const int m = a.format.man_bits;
  d.carrier_offset = (d.offset << (23 - m)) + (static_cast<uint32_t>(127 - a.format.bias) << 23);
  d.min_normal_bits = static_cast<uint32_t>(1 - a.format.bias + 127) << 23;
  d.underflow_sum = d.carrier_offset + d.min_normal_bits;
  d.max_finite_bits = FloatBits(lmul::Decode(a.format, a.format.MaxFiniteField()));
  d.overflow_bits = a.format.has_inf ? 0x7F800000u : d.max_finite_bits;
  d.clamp_overflow = a.format.exp_bits == 8 || !a.format.has_inf;
  const int emin = a.format.MinNormalExp();
  d.sub_scale = std::ldexp(1.0f, m - emin);
  d.sub_quantum = std::ldexp(1.0f, emin - m);
  return d;
}

}  // namespace dev

namespace {

using dev::DevArith;

constexpr int kThreads = 256;
constexpr int kBM = 64, kBN = 64, kBK = 16;  // block tile; 16 x 16 threads of 4 x 4
constexpr int kPad = 4;                      // keeps float4 rows aligned, fewer conflicts

int KindOf(const Arith& a) {
  if (a.op != Op::kExact) return dev::kLMulFast;
  const Format out = a.OutputFormat();
  if (out.exp_bits == 8 && out.man_bits == 23) return dev::kExactWide;
  return dev::kGeneral;
}

Status LaunchStatus(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return Status::Ok();
  return MakeError(std::string("cuda: ") + what + ": " + cudaGetErrorString(e));
}

template <int kKind>
__global__ void MulElementwiseKernel(DevArith ar, const float* __restrict__ a,
                                     const float* __restrict__ b, float* __restrict__ y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] = dev::MulReduced<kKind>(ar, dev::Reduce(ar, a[i]), dev::Reduce(ar, b[i]));
  }
}

__global__ void ReduceKernel(DevArith ar, const float* __restrict__ x, float* __restrict__ y,
                             size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] = dev::Reduce(ar, x[i]);
  }
}

__global__ void MulPlainKernel(const float* __restrict__ a, const float* __restrict__ b,
                               float* __restrict__ y, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] = __fmul_rn(a[i], b[i]);
  }
}

int GridFor(size_t n) {
  const size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<int>(std::min<size_t>(blocks, 132 * 16));
}

// One step of the canonical accumulation (kernels/gemm.h) for kFp32 and kBf16.
template <int kAccum>
__device__ __forceinline__ float AccumulateStep(float acc, float p) {
  const float s = __fadd_rn(acc, p);
  if constexpr (kAccum == static_cast<int>(Accum::kBf16)) return dev::RoundBf16Rne(s);
  return s;
}

// The product of two reduced operands, in one of three forms:
//   kFull: the whole spec (Inf/NaN operands possible; exact products rounded to a format);
//   kFinite / kFiniteClamp: the tile holds no Inf or NaN, so L-Mul takes its finite form
//   (LMulReducedFinite<clamp_overflow>) and the exact fp32 product is the IEEE one.
enum Form : int { kFull = 0, kFinite = 1, kFiniteClamp = 2 };

template <int kKind, int kForm>
__device__ __forceinline__ float Product(const DevArith& ar, float x, float y) {
  if constexpr (kForm != kFull && kKind == dev::kLMulFast) {
    return dev::LMulReducedFinite<kForm == kFiniteClamp>(ar, x, y);
  } else if constexpr (kForm != kFull && kKind == dev::kExactWide) {
    return __fmul_rn(x, y);
  } else {
    return dev::MulReduced<kKind>(ar, x, y);
  }
}

// acc[i][j] += the products of k = k0 .. k0 + kmax - 1, in order, for one thread's 4 x 4.
template <int kKind, int kAccum, int kForm>
__device__ __forceinline__ void AccumulateTile(const DevArith& ar, const float (*as)[kBM + kPad],
                                               const float (*bs)[kBN + kPad], int kmax, int tx,
                                               int ty, float (&acc)[4][4]) {
  if constexpr (kAccum == static_cast<int>(Accum::kBf16Dot)) {
    // Pairs (k, k+1), odd k first, DAZ on products and FTZ on sums; kBK is even, so a
    // pair never straddles two tiles.
    for (int kk = 0; kk < kmax; kk += 2) {
      const float4 a0 = *reinterpret_cast<const float4*>(&as[kk][ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&bs[kk][tx * 4]);
      const float av0[4] = {a0.x, a0.y, a0.z, a0.w}, bv0[4] = {b0.x, b0.y, b0.z, b0.w};
      const bool odd = kk + 1 < kmax;
      float4 a1 = a0, b1 = b0;
      if (odd) {
        a1 = *reinterpret_cast<const float4*>(&as[kk + 1][ty * 4]);
        b1 = *reinterpret_cast<const float4*>(&bs[kk + 1][tx * 4]);
      }
      const float av1[4] = {a1.x, a1.y, a1.z, a1.w}, bv1[4] = {b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          float s = acc[i][j];
          if (odd) {
            s = dev::FlushSubnormal(
                __fadd_rn(s, dev::FlushSubnormal(Product<kKind, kForm>(ar, av1[i], bv1[j]))));
          }
          acc[i][j] = dev::FlushSubnormal(
              __fadd_rn(s, dev::FlushSubnormal(Product<kKind, kForm>(ar, av0[i], bv0[j]))));
        }
      }
    }
  } else {
#pragma unroll 4
    for (int kk = 0; kk < kmax; ++kk) {
      const float4 a4 = *reinterpret_cast<const float4*>(&as[kk][ty * 4]);
      const float4 b4 = *reinterpret_cast<const float4*>(&bs[kk][tx * 4]);
      const float av[4] = {a4.x, a4.y, a4.z, a4.w}, bv[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          acc[i][j] = AccumulateStep<kAccum>(acc[i][j], Product<kKind, kForm>(ar, av[i], bv[j]));
        }
      }
    }
  }
}

template <int kKind, int kAccum>
__global__ void __launch_bounds__(kThreads)
    GemmKernel(DevArith ar, int M, int N, int K, const float* __restrict__ a, int lda,
               const float* __restrict__ b, int ldb, bool b_trans, float* __restrict__ c, int ldc) {
  __shared__ __align__(16) float as[kBK][kBM + kPad];  // as[k][m]: A(m, k), reduced
  __shared__ __align__(16) float bs[kBK][kBN + kPad];  // bs[k][n]: B(k, n), reduced
  const int t = threadIdx.x;
  const int tx = t % 16, ty = t / 16;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  }
  for (int k0 = 0; k0 < K; k0 += kBK) {
    int special = 0;  // an Inf or NaN among this thread's loads
#pragma unroll
    for (int r = 0; r < kBM * kBK / kThreads; ++r) {  // A: consecutive threads along k
      const int idx = t + r * kThreads;
      const int m = idx / kBK, kk = idx % kBK;
      const int gm = m0 + m, gk = k0 + kk;
      const float v =
          (gm < M && gk < K) ? dev::Reduce(ar, a[static_cast<size_t>(gm) * lda + gk]) : 0.0f;
      special |= (__float_as_uint(v) & 0x7FFFFFFFu) >= 0x7F800000u;
      as[kk][m] = v;
    }
#pragma unroll
    for (int r = 0; r < kBN * kBK / kThreads; ++r) {  // B: consecutive threads along memory
      const int idx = t + r * kThreads;
      int n, kk;
      if (b_trans) {
        n = idx / kBK;
        kk = idx % kBK;
      } else {
        kk = idx / kBN;
        n = idx % kBN;
      }
      const int gn = n0 + n, gk = k0 + kk;
      float v = 0.0f;
      if (gn < N && gk < K) {
        v = b_trans ? b[static_cast<size_t>(gn) * ldb + gk] : b[static_cast<size_t>(gk) * ldb + gn];
        v = dev::Reduce(ar, v);
      }
      special |= (__float_as_uint(v) & 0x7FFFFFFFu) >= 0x7F800000u;
      bs[kk][n] = v;
    }
    const bool tile_special = __syncthreads_or(special) != 0;  // also the load barrier
    const int kmax = min(kBK, K - k0);
    if (kKind == dev::kGeneral || tile_special) {
      AccumulateTile<kKind, kAccum, kFull>(ar, as, bs, kmax, tx, ty, acc);
    } else if (kKind == dev::kLMulFast && ar.clamp_overflow) {
      AccumulateTile<kKind, kAccum, kFiniteClamp>(ar, as, bs, kmax, tx, ty, acc);
    } else {
      AccumulateTile<kKind, kAccum, kFinite>(ar, as, bs, kmax, tx, ty, acc);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int gm = m0 + ty * 4 + i;
    if (gm >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int gn = n0 + tx * 4 + j;
      if (gn < N) c[static_cast<size_t>(gm) * ldc + gn] = acc[i][j];
    }
  }
}

template <int kKind>
void LaunchGemm(Accum accum, dim3 grid, cudaStream_t s, const DevArith& ar, int M, int N, int K,
                const float* a, int lda, const float* b, int ldb, bool b_trans, float* c, int ldc) {
  switch (accum) {
    case Accum::kFp32:
      GemmKernel<kKind, static_cast<int>(Accum::kFp32)>
          <<<grid, kThreads, 0, s>>>(ar, M, N, K, a, lda, b, ldb, b_trans, c, ldc);
      break;
    case Accum::kBf16:
      GemmKernel<kKind, static_cast<int>(Accum::kBf16)>
          <<<grid, kThreads, 0, s>>>(ar, M, N, K, a, lda, b, ldb, b_trans, c, ldc);
      break;
    case Accum::kBf16Dot:
      GemmKernel<kKind, static_cast<int>(Accum::kBf16Dot)>
          <<<grid, kThreads, 0, s>>>(ar, M, N, K, a, lda, b, ldb, b_trans, c, ldc);
      break;
  }
}

}  // namespace

Result<std::string> DeviceInfo() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return MakeError(std::string("cuda: no device: ") + cudaGetErrorString(e));
  if (count == 0) return MakeError("cuda: no device: cudaGetDeviceCount found none");
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess)
    return MakeError("cuda: cudaGetDeviceProperties failed");
  return std::string(p.name) + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs";
}

Status MulElementwise(const Arith& arith, const float* a, const float* b, float* y, size_t n,
                      void* stream) {
  if (n == 0) return Status::Ok();
  if (!a || !b || !y) return MakeError("cuda::MulElementwise: null pointer with n > 0");
  const DevArith ar = dev::MakeDevArith(arith);
  auto s = static_cast<cudaStream_t>(stream);
  const int grid = GridFor(n);
  switch (KindOf(arith)) {
    case dev::kLMulFast:
      MulElementwiseKernel<dev::kLMulFast><<<grid, kThreads, 0, s>>>(ar, a, b, y, n);
      break;
    case dev::kExactWide:
      MulElementwiseKernel<dev::kExactWide><<<grid, kThreads, 0, s>>>(ar, a, b, y, n);
      break;
    default:
      MulElementwiseKernel<dev::kGeneral><<<grid, kThreads, 0, s>>>(ar, a, b, y, n);
  }
  return LaunchStatus("MulElementwise launch");
}

Status Reduce(const Arith& arith, const float* x, float* y, size_t n, void* stream) {
  if (n == 0) return Status::Ok();
  if (!x || !y) return MakeError("cuda::Reduce: null pointer with n > 0");
  ReduceKernel<<<GridFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      dev::MakeDevArith(arith), x, y, n);
  return LaunchStatus("Reduce launch");
}

Status MulElementwisePlain(const float* a, const float* b, float* y, size_t n, void* stream) {
  if (n == 0) return Status::Ok();
  if (!a || !b || !y) return MakeError("cuda::MulElementwisePlain: null pointer with n > 0");
  MulPlainKernel<<<GridFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(a, b, y, n);
  return LaunchStatus("MulElementwisePlain launch");
}

Status Gemm(const Arith& arith, int M, int N, int K, const float* a, int lda, const float* b,
            int ldb, bool b_trans, float* c, int ldc, Accum accum, void* stream) {
  auto bad = [&](const std::string& what) {
    return MakeError("cuda::Gemm(M=" + std::to_string(M) + ", N=" + std::to_string(N) +
                     ", K=" + std::to_string(K) + "): " + what);
  };
  if (M < 0 || N < 0 || K < 0) return bad("negative size");
  if (M == 0 || N == 0) return Status::Ok();
  if (ldc < N) return bad("ldc " + std::to_string(ldc) + " < N");
  if (!c) return bad("null C");
  if (K > 0) {
    if (!a || !b) return bad("null A or B");
    if (lda < K) return bad("lda " + std::to_string(lda) + " < K");
    const int need = b_trans ? K : N;
    if (ldb < need) return bad("ldb " + std::to_string(ldb) + " < " + (b_trans ? "K" : "N"));
  }
  const DevArith ar = dev::MakeDevArith(arith);
  const dim3 grid((N + kBN - 1) / kBN, (M + kBM - 1) / kBM);
  if (grid.y > 65535) return bad("M too large for one launch (grid.y > 65535)");
  auto s = static_cast<cudaStream_t>(stream);
  switch (KindOf(arith)) {
    case dev::kLMulFast:
      LaunchGemm<dev::kLMulFast>(accum, grid, s, ar, M, N, K, a, lda, b, ldb, b_trans, c, ldc);
      break;
    case dev::kExactWide:
      LaunchGemm<dev::kExactWide>(accum, grid, s, ar, M, N, K, a, lda, b, ldb, b_trans, c, ldc);
      break;
    default:
      LaunchGemm<dev::kGeneral>(accum, grid, s, ar, M, N, K, a, lda, b, ldb, b_trans, c, ldc);
  }
  return LaunchStatus("Gemm launch");
}

}  // namespace lmul::kernels::cuda
