#!/usr/bin/env bash
# The full-split evaluation of docs/results.md, shard by shard and resumable: every task of
# the shared data under the eight arithmetics of the results table, each task cut into
# shards (`lmul eval --shard I/N`) whose JSON is kept in OUT_DIR. A shard whose JSON exists
# is skipped, so the script can be stopped at any time (only the running shards are lost) and
# started again later, on this machine or on others that share OUT_DIR (shards are
# deterministic: any split gives the same merged result). A task whose shards are all
# there is merged (`lmul eval merge`) into OUT_DIR/TASK_full.json and its table printed;
# an incomplete one prints the table of its shards so far (`lmul eval merge --partial`).
#
#   scripts/eval_full.sh OUT_DIR            # all tasks, in the order below
#   TASKS="lambada:8 hellaswag:16" scripts/eval_full.sh OUT_DIR
#   ONLY_MERGE=1 scripts/eval_full.sh OUT_DIR   # merge and print what is complete
#   SHARDS="0-7" scripts/eval_full.sh OUT_DIR   # this machine: shards 0..7 of each task
#
# Env: TASKS (task:shards ...), SHARDS (the shard indices to run, e.g. "4", "0-7" or
# "0 2 9-11": split a task over machines without a shared OUT_DIR, then copy the JSONs
# together and merge; default all), ARITH (default: the eight of docs/results.md), JOBS (shards
# run at once, default 1), THREADS (workers per shard, default nproc / JOBS), NICE (default
# 0), LMUL_BUILD_DIR, LMUL_DATA, LMUL_MODEL, LMUL_BIN (an lmul binary to use as it is: no
# setup or build). Workers share a shard's examples, so a shard of a few long documents
# (WikiText-2: 7-8 articles of 1k-20k tokens) leaves workers idle at its end; JOBS=nproc
# THREADS=1 keeps every core busy until the last shard.
# Cost on 2 cores (SmolLM2-135M, 8 arithmetics): ~2.5 h LAMBADA, ~3-5 h WikiText-2,
# ~7.7 h HellaSwag (measured: ~3,460 s per 628-question shard, two shards at a time,
# JOBS=2 THREADS=1), 1.3 h ARC-Easy, 0.8 h PIQA.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: scripts/eval_full.sh OUT_DIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
TASKS="${TASKS:-arc_easy:2 piqa:2 lambada:8 wikitext2:8 hellaswag:16}"
ARITH="${ARITH:-fp32,bf16,fp8-e4m3-attn,fp8-e5m2-attn,lmul-attn-k3,lmul-attn-k4,lmul-attn,lmul-all}"
JOBS="${JOBS:-1}"
THREADS="${THREADS:-$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))}"
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

# SHARDS as a set: want[i] = 1 for each index to run (all when SHARDS is unset).
declare -A want=()
if [ -n "${SHARDS:-}" ]; then
  for r in ${SHARDS//,/ }; do
    if [[ "$r" =~ ^([0-9]+)-([0-9]+)$ ]]; then
      for ((i = BASH_REMATCH[1]; i <= BASH_REMATCH[2]; i++)); do want[$i]=1; done
    elif [[ "$r" =~ ^[0-9]+$ ]]; then
      want[$((10#$r))]=1
    else
      echo "SHARDS: expected indices or ranges like \"4\", \"0-7\" or \"0 2 9-11\", found '$r'" >&2
      exit 2
    fi
  done
fi

# One shard: its JSON appears (renamed from .tmp) only when lmul succeeded.
run_shard() {  # task i n file
  local start
  echo "== $1 shard $2/$3 -> $4" >&2
  start=$(date +%s)
  if nice -n "${NICE:-0}" "$LMUL" eval -m "$MODEL" --tasks "$1" --arith "$ARITH" \
      --shard "$2/$3" --threads "$THREADS" --json "$4.tmp" > "${4%.json}.txt"; then
    mv "$4.tmp" "$4"
    # The binary's own version (the commit it was built from), then the checkout it ran in.
    echo "$(( $(date +%s) - start )) s wall, $THREADS threads, $LMUL" \
      "($("$LMUL" --version 2>/dev/null | head -n 1 || echo 'version ?'))," \
      "checkout $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ)" > "${4%.json}.time"
  else
    echo "$1 shard $2/$3 failed: see ${4%.json}.txt and the messages above" >&2
    return 1
  fi
}

# Every missing shard of every task, JOBS at a time; then the merges.
failed=0
for item in $TASKS; do
  task="${item%%:*}"
  n="${item##*:}"
  for ((i = 0; i < n; i++)); do
    f="$OUT/${task}_s${i}of${n}.json"
    [ -s "$f" ] && continue
    [ -n "${ONLY_MERGE:-}" ] && continue
    [ -n "${SHARDS:-}" ] && [ -z "${want[$i]:-}" ] && continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
    run_shard "$task" "$i" "$n" "$f" &
  done
done
while [ -n "$(jobs -rp)" ]; do wait -n || failed=1; done

for item in $TASKS; do
  task="${item%%:*}"
  n="${item##*:}"
  shards=()
  for ((i = 0; i < n; i++)); do shards+=("$OUT/${task}_s${i}of${n}.json"); done
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
exit "$failed"
