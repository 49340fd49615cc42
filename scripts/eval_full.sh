#!/usr/bin/env bash
# The full-split evaluation of docs/results.md, shard by shard and resumable: every task of
# the shared data under the eight arithmetics of the results table, each task cut into
# shards (`lmul eval --shard I/N`) whose JSON is kept in OUT_DIR. A shard whose JSON exists
# is skipped, so the script can be stopped at any time (only the running shard is lost) and
# started again later, on this machine or on others that share OUT_DIR (shards are
# deterministic: any split gives the same merged result). A task whose shards are all
# there is merged (`lmul eval merge`) into OUT_DIR/TASK_full.json and its table printed;
# an incomplete one prints the table of its shards so far (`lmul eval merge --partial`).
#
#   scripts/eval_full.sh OUT_DIR            # all tasks, in the order below
#   TASKS="lambada:8 hellaswag:16" scripts/eval_full.sh OUT_DIR
#   ONLY_MERGE=1 scripts/eval_full.sh OUT_DIR   # merge and print what is complete
#
# Env: TASKS (task:shards ...), ARITH (default: the eight of docs/results.md), THREADS
# (workers, default nproc), NICE (default 0), LMUL_BUILD_DIR, LMUL_DATA, LMUL_MODEL,
# LMUL_BIN (an lmul binary to use as it is: no setup or build).
# Cost on 2 cores (SmolLM2-135M, 8 arithmetics): ~2.5 h LAMBADA, ~4 h WikiText-2,
# ~9 h HellaSwag, 1.3 h ARC-Easy, 0.8 h PIQA.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: scripts/eval_full.sh OUT_DIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
TASKS="${TASKS:-arc_easy:2 piqa:2 lambada:8 wikitext2:8 hellaswag:16}"
ARITH="${ARITH:-fp32,bf16,fp8-e4m3-attn,fp8-e5m2-attn,lmul-attn-k3,lmul-attn-k4,lmul-attn,lmul-all}"
THREADS="${THREADS:-$(nproc)}"
BUILD="${LMUL_BUILD_DIR:-build/release}"
if [ -z "${ONLY_MERGE:-}" ] && [ -z "${LMUL_BIN:-}" ]; then
  scripts/setup.sh
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target lmul
fi
MODEL="${LMUL_MODEL:-$(scripts/fetch_model.sh)}"
LMUL_DATA="$(scripts/data_dir.sh)"
export LMUL_DATA="${LMUL_DATA:?set LMUL_DATA to the shared data folder}"
LMUL="${LMUL_BIN:-$BUILD/lmul}"

for item in $TASKS; do
  task="${item%%:*}"
  n="${item##*:}"
  shards=()
  for ((i = 0; i < n; i++)); do
    f="$OUT/${task}_s${i}of${n}.json"
    shards+=("$f")
    [ -s "$f" ] && continue
    [ -n "${ONLY_MERGE:-}" ] && continue
    echo "== $task shard $i/$n -> $f" >&2
    start=$(date +%s)
    nice -n "${NICE:-0}" "$LMUL" eval -m "$MODEL" --tasks "$task" --arith "$ARITH" \
      --shard "$i/$n" --threads "$THREADS" --json "$f.tmp" > "${f%.json}.txt"
    mv "$f.tmp" "$f"
    echo "$(( $(date +%s) - start )) s wall, $LMUL at $(git rev-parse --short HEAD), $(date -u +%FT%TZ)" \
      > "${f%.json}.time"
  done
  complete=1
  for f in "${shards[@]}"; do [ -s "$f" ] || complete=0; done
  if [ "$complete" = 1 ]; then
    "$LMUL" eval merge --json "$OUT/${task}_full.json" "${shards[@]}" | tee "$OUT/${task}_full.txt"
  else
    have=()
    for f in "${shards[@]}"; do [ -s "$f" ] && have+=("$f"); done
    echo "$task: ${#have[@]} of $n shards in $OUT" >&2
    if [ "${#have[@]}" -gt 0 ]; then  # the results so far
      "$LMUL" eval merge --partial "${have[@]}" | tee "$OUT/${task}_partial.txt"
    fi
  fi
done
