#!/usr/bin/env bash
# Creates (once per version of scripts/requirements-test.txt) the Python virtual environment
# the tests, benchmarks and Python tools use, and prints its folder. Cached under
# $LMUL_CACHE (default ~/.cache/lmul); the first run downloads ~5 GB (torch with its CUDA
# libraries) and takes a few minutes.
#
#   VENV="$(scripts/venv.sh)"; "$VENV/bin/python" -m pytest python/tests
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${LMUL_CACHE:-$HOME/.cache/lmul}"
REQ=scripts/requirements-test.txt
KEY=$(sha256sum "$REQ" | cut -c1-12)
VENV="$CACHE/venv-$KEY"
mkdir -p "$CACHE"
# One creator at a time (parallel test runs share the cache): the others wait for it.
exec 9>"$CACHE/venv.lock"
flock 9
if [ ! -f "$VENV/.complete" ]; then
  echo "venv: creating $VENV from $REQ (first time: a few minutes)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
  touch "$VENV/.complete"
fi
flock -u 9
echo "$VENV"
