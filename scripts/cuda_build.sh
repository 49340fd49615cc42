#!/usr/bin/env bash
# Builds the CUDA kernels (kernels/cuda), their bit-exactness tests and the cuBLAS
# benchmark into build/cuda (numeric core + CUDA only; the CPU layers are not needed).
# Needs nvcc (CUDA 12 or later) and libgtest-dev; no GPU is needed to build. Then, on a
# machine with an NVIDIA GPU (sm_90 by default: CUDA_ARCH=80 scripts/cuda_build.sh for A100):
#
#   build/cuda/kernels/cuda/lmul_cuda_tests                     # bit-exact vs the reference
#   build/cuda/kernels/cuda/lmul_cuda_bench --json cuda.json    # against cuBLAS, same run
#
# The CUDA runtime and gtest are linked statically and cuBLAS dynamically (the benchmark
# needs libcublas.so.N there), so the binaries can be built here and copied to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [ ! -x "$NVCC" ]; then
  echo "cuda_build.sh: no nvcc found" >&2
  echo "  hint: install the CUDA toolkit or set NVCC=/path/to/nvcc" >&2
  exit 1
fi
BUILD="${LMUL_CUDA_BUILD_DIR:-build/cuda}"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLMUL_CORE_ONLY=ON -DLMUL_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" ${CUDA_ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH} >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target lmul_cuda_tests lmul_cuda_bench
echo "built: $BUILD/kernels/cuda/lmul_cuda_tests $BUILD/kernels/cuda/lmul_cuda_bench"
