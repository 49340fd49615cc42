#!/usr/bin/env bash
# The main job (README's first command): set up, fetch the default model, build, and
# evaluate SmolLM2-135M-Instruct under fp32, bf16, fp8-e4m3-attn, lmul-attn and lmul-all
# side by side (ARC-Easy first 200 questions + the first WikiText-2 test article).
# See scripts/eval_demo.sh for the details and docs/results.md for measured figures.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/eval_demo.sh "$@"
