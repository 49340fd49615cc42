#!/usr/bin/env bash
# The claims table's L-Mul-vs-fp8 rows re-run with the per-tensor scaled fp8 presets beside the
# unscaled ones (docs/results.md § Scaled fp8 beside L-Mul; issue 19), one shard at a time, every
# finished shard recorded IN the repository (gzipped JSON, bench/scaled_fp8_runs/) so the run
# outlives the machine it ran on and continues on any later checkout:
#
#   scripts/scaled_fp8_rerun.sh                  # ARC-Easy (16 shards), then WikiText-2 (16)
#   scripts/scaled_fp8_rerun.sh wikitext2        # one task
#   ONLY_MERGE=1 scripts/scaled_fp8_rerun.sh     # tables of what is recorded
#
# Working folder ${LMUL_RUNS:-$HOME/.cache/lmul/runs}/fp8s/TASK (scripts/eval_full.sh's shard
# files; recorded shards are restored into it first). When a task's 16 shards are all recorded,
# eval_full.sh merges them (TASK_full.json/.txt, copied into the record as well).
# Env: NICE (19), THREADS (nproc), LMUL_BIN (default build/release/lmul, built if missing),
# LMUL_MODEL, LMUL_DATA. Cost on 2 quiet cores: ARC-Easy ~80 min, WikiText-2 ~1.7 h.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
RECORD="${FP8S_RECORD:-$REPO/bench/scaled_fp8_runs}"
WORK="${LMUL_RUNS:-$HOME/.cache/lmul/runs}/fp8s"
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(arc_easy wikitext2)
SHARDS_PER_TASK=16
arith_of() {
  case "$1" in
    arc_easy) echo "fp32,fp8-e4m3-attn,fp8-e4m3-attn-scaled,fp8-e5m2-attn,fp8-e5m2-attn-scaled,lmul-attn-k3,lmul-attn-k4,lmul-attn" ;;
    # The unscaled presets and L-Mul ran on this split before (docs/results.md § Full splits;
    # KL against fp32 is deterministic): the scaled presets against fp32 are what is new.
    wikitext2) echo "fp32,fp8-e4m3-attn-scaled,fp8-e5m2-attn-scaled" ;;
    *) echo "scaled_fp8_rerun.sh: unknown task '$1' (expected arc_easy or wikitext2)" >&2; exit 2 ;;
  esac
}
for t in "${TASKS[@]}"; do arith_of "$t" > /dev/null; done
if [ -z "${LMUL_BIN:-}" ]; then
  LMUL_BIN="$REPO/build/release/lmul"
  if [ ! -x "$LMUL_BIN" ] && [ -z "${ONLY_MERGE:-}" ]; then
    scripts/setup.sh
    cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
    cmake --build build/release -j"$(nproc)" --target lmul
  fi
fi
export LMUL_BIN

MODEL="${LMUL_MODEL:-$(scripts/fetch_model.sh)}"
DATA="${LMUL_DATA:-$(scripts/data_dir.sh)}"
# A shard file as recorded: this machine's folders written as $LMUL_MODEL, $LMUL_DATA, $HOME.
portable() { sed -e "s|$MODEL|\$LMUL_MODEL|g" -e "s|$DATA|\$LMUL_DATA|g" -e "s|$HOME|~|g" "$1"; }
# Its inverse, for a recorded shard restored here: `lmul eval merge` checks that every shard
# names the same model file, so a restored shard must name this machine's.
local_paths() { sed -e "s|\$LMUL_MODEL|$MODEL|g" -e "s|\$LMUL_DATA|$DATA|g" -e "s|\"~/|\"$HOME/|g"; }

for task in "${TASKS[@]}"; do
  out="$WORK/$task" rec="$RECORD/$task"
  mkdir -p "$out" "$rec"
  for ((i = 0; i < SHARDS_PER_TASK; i++)); do
    name="${task}_s${i}of${SHARDS_PER_TASK}"
    if [ -s "$rec/$name.json.gz" ] && [ ! -s "$out/$name.json" ]; then
      gzip -dc "$rec/$name.json.gz" | local_paths > "$out/$name.json.tmp" && mv "$out/$name.json.tmp" "$out/$name.json"
    fi
    [ -s "$out/$name.json" ] || [ -n "${ONLY_MERGE:-}" ] || \
      ARITH="$(arith_of "$task")" TASKS="$task:$SHARDS_PER_TASK" SHARDS="$i" NICE="${NICE:-19}" JOBS=1 \
        THREADS="${THREADS:-$(nproc)}" scripts/eval_full.sh "$out" > /dev/null
    if [ -s "$out/$name.json" ] && [ ! -s "$rec/$name.json.gz" ]; then
      portable "$out/$name.json" | gzip -9 -n > "$rec/$name.json.gz.tmp" && mv "$rec/$name.json.gz.tmp" "$rec/$name.json.gz"
      for f in txt time; do if [ -s "$out/$name.$f" ]; then portable "$out/$name.$f" > "$rec/$name.$f"; fi; done
    fi
  done
  # Merge (all shards) or the partial table so far; the tables go into the record too.
  ARITH="$(arith_of "$task")" TASKS="$task:$SHARDS_PER_TASK" ONLY_MERGE=1 scripts/eval_full.sh "$out" || true
  for f in "${task}_full.txt" "${task}_partial.txt"; do if [ -s "$out/$f" ]; then portable "$out/$f" > "$rec/$f"; fi; done
  if [ -s "$out/${task}_full.json" ]; then portable "$out/${task}_full.json" | gzip -9 -n > "$rec/${task}_full.json.gz"; fi
done
