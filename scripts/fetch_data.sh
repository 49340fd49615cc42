#!/usr/bin/env bash
# Gets the evaluation datasets and prints their folder (the layout of ../shared/data/README.md:
# wikitext-2-raw/, arc-easy/, piqa/, hellaswag/, lambada-openai/, gsm8k/; 11 files, ~19 MB).
#   1. A local copy is used when present: $LMUL_DATA if set, else ../shared/data beside the
#      checkout. Every file's sha256 is checked against ../shared/data/README.md's; a
#      complete copy is used in place, a partial one is completed in the cache.
#   2. Otherwise each file is downloaded from the upstream source its PROVENANCE.md names
#      (GitHub at pinned commits; WikiText-2 from llama.cpp's mirror of wikitext-2-raw-v1.zip),
#      converted as PROVENANCE says (bunzip2 for HellaSwag; AI2 JSONL from the HF rows for
#      ARC-Easy train), checked against the same sha256 and kept in $LMUL_CACHE/data
#      (default ~/.cache/lmul/data).
# A wrong digest is an error (exit 1), never silently used. Idempotent.
#
#   LMUL_DATA="$(scripts/fetch_data.sh)"
set -euo pipefail
exec python3 "$(dirname "$0")/fetch_data.py" "$@"
