#!/usr/bin/env bash
# Builds lmul and runs the whole test suite: the release build (all labels),
# then the numeric core's tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Installs what it needs (scripts/setup.sh) and fetches the default model for the
# model tests. Idempotent: re-running reuses the builds and the model cache.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
LMUL_MODEL="$(scripts/fetch_model.sh)"
export LMUL_MODEL
JOBS="$(nproc)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS"
ctest --test-dir build/release --output-on-failure -j"$JOBS" --timeout 1500
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUL_SANITIZE=ON -DLMUL_CORE_ONLY=ON >/dev/null
cmake --build build/asan -j"$JOBS"
ctest --test-dir build/asan --output-on-failure -j"$JOBS" --timeout 1500
