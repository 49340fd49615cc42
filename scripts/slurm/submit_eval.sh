#!/usr/bin/env bash
# Submits an `lmul eval` run to Slurm as a job array of N shards plus a merge job that starts
# when every shard succeeded (afterok). Prints "ARRAY_JOB_ID MERGE_JOB_ID".
#
#   scripts/slurm/submit_eval.sh N OUT_DIR [--lmul BIN] [--sbatch "OPTS"] -- EVAL_ARGS...
#
#   scripts/slurm/submit_eval.sh 16 runs/hellaswag --sbatch "--cpus-per-task=4 --time=2:00:00" \
#     -- -m "$MODEL" --tasks hellaswag --arith fp32,lmul-attn
#
# OUT_DIR must be on a file system every node sees; results: OUT_DIR/merged.json and
# OUT_DIR/merged.txt (the table), per shard OUT_DIR/shard-I.{json,txt}, logs
# OUT_DIR/slurm-*.out. --lmul: the lmul binary (default: build/release/lmul of this checkout,
# which must also be visible on the nodes). --sbatch: extra sbatch options for both jobs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
usage() { echo "usage: submit_eval.sh N OUT_DIR [--lmul BIN] [--sbatch OPTS] -- EVAL_ARGS..." >&2; exit 2; }
[ $# -ge 3 ] || usage
N="$1" OUT="$2"
shift 2
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "submit_eval: N: expected a positive integer, got '$N'" >&2; exit 2; }
LMUL="$HERE/../../build/release/lmul" EXTRA=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --lmul) LMUL="$2"; shift 2 ;;
    --sbatch) EXTRA="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[ "${1:-}" = "--" ] || usage
shift
for a in "$@"; do
  case "$a" in --shard|--shard=*|--json|--json=*)
    echo "submit_eval: $a: the array sets --shard and --json itself" >&2; exit 2 ;;
  esac
done
[ -x "$LMUL" ] || { echo "submit_eval: --lmul: $LMUL is not executable (build it, or pass --lmul)" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)" LMUL="$(cd "$(dirname "$LMUL")" && pwd)/$(basename "$LMUL")"
# shellcheck disable=SC2086  # EXTRA is a list of options
ARRAY=$(sbatch --parsable $EXTRA --array=0-$((N - 1)) --output="$OUT/slurm-%A_%a.out" \
        "$HERE/eval_array.sbatch" "$OUT" "$LMUL" -- "$@")
ARRAY="${ARRAY%%;*}"
# shellcheck disable=SC2086
MERGE=$(sbatch --parsable $EXTRA --dependency=afterok:"$ARRAY" --output="$OUT/slurm-%j-merge.out" \
        "$HERE/eval_merge.sbatch" "$OUT" "$LMUL" "$N")
echo "${ARRAY} ${MERGE%%;*}"
