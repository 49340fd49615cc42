#!/usr/bin/env bash
# The main job: set up, build, and run the default demonstration.
# (Replaced by a model evaluation once the engine and eval layers land.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target lmul
for spec in exact/fp32 lmul/fp32 lmul/bf16 lmul/e8m3 lmul/e4m3 exact/e4m3 exact/e4m3,wide mitchell/bf16 lmul/e5m2; do
  printf '%-16s ' "$spec"
  printf '1.5 1.5\n1 1\n300 300\n' | build/release/lmul mul --arith "$spec" | awk '{printf "%s (%s)  ", $1, $2} END {print ""}'
done
