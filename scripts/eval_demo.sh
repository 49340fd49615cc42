#!/usr/bin/env bash
# The README main job: set up, fetch the default model (SmolLM2-135M-Instruct, Q4_1),
# build `lmul`, and evaluate it under five arithmetics side by side:
#   ARC-Easy, first 200 questions (acc, acc_norm) and the first WikiText-2 test article
#   (rolling perplexity, 2048-token windows), for fp32 (the reference), bf16,
#   fp8-e4m3-attn, lmul-attn, lmul-all; plus KL / top-1 agreement / |delta loglik| /
#   flips against fp32.
# Prints the table on stdout; the JSON with every example goes to $LMUL_EVAL_JSON
# (default build/eval_demo.json). Measured: see docs/results.md (under 15 min on 2 cores,
# build included).
#
#   scripts/eval_demo.sh                 # LMUL_BUILD_DIR (default build/release),
#                                        # LMUL_DATA (default ../shared/data, else
#                                        # downloaded by scripts/fetch_data.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
MODEL="$(scripts/fetch_model.sh)"
# The datasets: a local copy ($LMUL_DATA, ../shared/data) or downloaded (scripts/fetch_data.sh).
LMUL_DATA="$(scripts/fetch_data.sh)"
export LMUL_DATA
BUILD="${LMUL_BUILD_DIR:-build/release}"
JOBS="$(nproc)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target lmul
"$BUILD/lmul" eval -m "$MODEL" --tasks arc_easy,wikitext2 --limit 200,wikitext2=1 \
  --arith fp32,bf16,fp8-e4m3-attn,lmul-attn,lmul-all --threads "$JOBS" \
  --json "${LMUL_EVAL_JSON:-$BUILD/eval_demo.json}"
