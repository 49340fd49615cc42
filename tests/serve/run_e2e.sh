#!/usr/bin/env bash
# ctest driver of tests/serve/test_serve.py: `lmul serve` end to end on loopback with the real
# openai client and lm-eval (the shared venv, scripts/venv.sh) and the default model.
# Usage: run_e2e.sh path/to/lmul. Skips (77) without LMUL_MODEL or without a complete venv
# (LMUL_VENV, else the cached one scripts/venv.sh would print; never created here: 5 GB).
set -euo pipefail
LMUL="$(realpath "$1")"
cd "$(dirname "$0")/../.."
if [ -z "${LMUL_MODEL:-}" ] || [ ! -f "$LMUL_MODEL" ]; then
  echo "skip: LMUL_MODEL unset (scripts/fetch_model.sh)"; exit 77
fi
VENV="${LMUL_VENV:-}"
if [ -z "$VENV" ]; then
  KEY=$(sha256sum scripts/requirements-test.txt | cut -c1-12)
  VENV="${LMUL_CACHE:-$HOME/.cache/lmul}/venv-$KEY"
fi
if [ ! -x "$VENV/bin/python" ] || { [ -z "${LMUL_VENV:-}" ] && [ ! -f "$VENV/.complete" ]; }; then
  echo "skip: no complete venv at $VENV (scripts/venv.sh creates it)"; exit 77
fi
export LMUL_BIN="$LMUL" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec timeout -k 10 840 "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/serve/test_serve.py "${@:2}"
