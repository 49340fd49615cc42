#!/usr/bin/env bash
# Prints the shared datasets folder (never copied into the repo): $LMUL_DATA if set,
# else ../shared/data beside the checkout, else /work/shared/data; nothing if none exists.
#
#   LMUL_DATA="$(scripts/data_dir.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${LMUL_DATA:-}" ]; then
  echo "$LMUL_DATA"
  exit 0
fi
for d in ../shared/data /work/shared/data; do
  if [ -d "$d" ]; then
    (cd "$d" && pwd)
    exit 0
  fi
done
