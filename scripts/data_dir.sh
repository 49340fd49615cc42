#!/usr/bin/env bash
# Prints the shared datasets folder (never copied into the repo): $LMUL_DATA if set,
# else ../shared/data beside the checkout, else shared/data beside the main checkout (from a
# worktree); nothing if none exists.
#
#   LMUL_DATA="$(scripts/data_dir.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${LMUL_DATA:-}" ]; then
  echo "$LMUL_DATA"
  exit 0
fi
common="$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
for d in ../shared/data ${common:+"$common/../../shared/data"}; do
  if [ -d "$d" ]; then
    (cd "$d" && pwd)
    exit 0
  fi
done
