#!/usr/bin/env bash
# The fine-tuning experiment of docs/results.md § "Fine-tuning under L-Mul" (issue 19): SmolLM2-135M-
# Instruct fine-tuned under each arithmetic with the same budget, then evaluated with `lmul eval`
# under its own arithmetic and under fp32, the base model beside, KL against the fp32-fine-tuned
# model. Resumable: every run skips what is recorded (below), resumes a checkpoint still here,
# and a run whose policy this build does not know yet is skipped (re-run the script after
# building one that has it). Working files OUTSIDE the repository:
#
#   ${LMUL_RUNS:-$HOME/.cache/lmul/runs}/finetune/TASK/ARITH-BACKWARD/{log.jsonl,checkpoint.pt,model.gguf,
#       eval.json,eval.txt,kl.json}, .../TASK/base/eval.json
#
# and the results (small: no weights) recorded IN the repository as each step finishes, so they
# outlive the machine and are committed with the docs (a development machine's home folder does
# not survive between sessions; the checkpoints and models are not kept):
#
#   ${FT_RECORD:-bench/finetune_runs}/TASK/ARITH-BACKWARD/{log.jsonl,run.json,summary.json,
#       eval.json.gz,eval.txt,kl.json}, .../TASK/base/{eval,kl}.ARITH.json[.gz]
#
# A recorded item counts as done. The fine-tuned fp32 model is the KL reference of the others:
# when it is needed and only its record exists, it is trained again (seeded, deterministic: the
# same weights; its log must match the record, else the driver stops).
#
#   scripts/finetune_experiment.sh [TASK...]        # default: arc_easy wikitext2
#   scripts/finetune_summary.py                     # tables + plot into docs/results.md, JSON in bench/
#
# Budget (same for every arithmetic; chosen from measured tokens/s, docs/results.md): one epoch of
# the training split. Environment: FT_THREADS (2), FT_NICE (10), FT_ARITHS (the run list below),
# FT_EVAL_LIMIT (full test splits by default; e.g. 0.25 for a quarter), FT_KEEP_CHECKPOINTS (set: keep
# OUT/checkpoint.pt of finished runs; by default deleted once the run is evaluated: 1.6 GB each).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
RUNS="${LMUL_RUNS:-$HOME/.cache/lmul/runs}/finetune"
MODEL="${LMUL_MODEL:-$(scripts/fetch_model.sh)}"
DATA="${LMUL_DATA:-$(scripts/data_dir.sh)}"
LMUL="${LMUL_CLI:-$REPO/build/release/lmul}"
VENV="${VENV:-$(scripts/venv.sh)}"
PY="$VENV/bin/python"
export PYTHONPATH="$REPO/build/python/site${PYTHONPATH:+:$PYTHONPATH}"
THREADS="${FT_THREADS:-2}"
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(arc_easy wikitext2)
# Claim (iii) first: fp32, lmul-all-k3 (ste), scaled e4m3; then the rest.
RUN_LIST="${FT_ARITHS:-fp32:ste lmul-all-k3:ste fp8-e4m3-all-scaled:ste bf16:ste lmul-all-k3:same lmul-all:ste lmul-attn:ste}"
RECORD="${FT_RECORD:-$REPO/bench/finetune_runs}"
mkdir -p "$RUNS" "$RECORD"
log() { echo "[$(date -u +%FT%TZ)] $*" | tee -a "$RUNS/driver.log" >&2; }

# Per task: training flags (one epoch), evaluation task and flags.
train_flags() {
  case "$1" in
    arc_easy) echo "--split train --seq-len 256 --batch-tokens 1024 --micro-tokens 512 --lr 3e-5 --epochs 1 --save-every 5" ;;
    wikitext2) echo "--split validation --seq-len 512 --batch-tokens 4096 --micro-tokens 512 --lr 3e-5 --epochs 1 --save-every 2" ;;
    gsm8k) echo "--split train --seq-len 512 --batch-tokens 4096 --micro-tokens 512 --lr 3e-5 --epochs 1 --save-every 2" ;;
  esac
}
limit_flag() { if [ -n "${FT_EVAL_LIMIT:-}" ]; then echo "--limit $FT_EVAL_LIMIT"; fi; }

base_list() {  # fp32 + every other known policy of RUN_LIST
  local base=fp32 a item
  for item in $RUN_LIST; do
    a="${item%%:*}"
    if [ "$a" != fp32 ] && known "$a" && [[ ",$base," != *",$a,"* ]]; then base="$base,$a"; fi
  done
  echo "$base"
}

known() {  # is POLICY known to this build (python package and CLI)?
  "$PY" -c "import lmul, sys; lmul.policy_sites(sys.argv[1])" "$1" 2>/dev/null
}

eval_model() {  # eval_model GGUF TASK ARITHS OUT_PREFIX
  local gguf="$1" task="$2" ariths="$3" out="$4"
  [ -s "$out.json" ] && return 0
  log "eval $task $ariths <- $gguf"
  # shellcheck disable=SC2046
  nice -n "${FT_NICE:-10}" "$LMUL" eval -m "$gguf" --tasks "$task" --arith "$ariths" --data-dir "$DATA" \
    --threads "$THREADS" $(limit_flag) --json "$out.json.tmp" > "$out.txt.tmp"
  mv "$out.txt.tmp" "$out.txt" && mv "$out.json.tmp" "$out.json"
}

# A run file as recorded: this machine's folders written as $LMUL_RUNS, $LMUL_MODEL, $LMUL_DATA.
portable() {
  sed -e "s|${RUNS%/finetune}|\$LMUL_RUNS|g" -e "s|$MODEL|\$LMUL_MODEL|g" -e "s|$DATA|\$LMUL_DATA|g" "$1"
}

record() {  # record TASK NAME: copy the run's small result files into the repository's record
  local src="$RUNS/$1/$2" dst="$RECORD/$1/$2" f
  mkdir -p "$dst"
  for f in log.jsonl run.json summary.json eval.txt kl.json; do
    if [ -s "$src/$f" ]; then portable "$src/$f" > "$dst/$f.tmp" && mv "$dst/$f.tmp" "$dst/$f"; fi
  done
  if [ -s "$src/eval.json" ] && [ "$src/eval.json" -nt "$dst/eval.json.gz" ]; then
    portable "$src/eval.json" | gzip -9 -n > "$dst/eval.json.gz.tmp" && mv "$dst/eval.json.gz.tmp" "$dst/eval.json.gz"
  fi
}

train_run() {  # train_run TASK ARITH BACKWARD [norecord]: train (or resume) until OUT/model.gguf exists
  local task="$1" arith="$2" backward="$3" dir="$RUNS/$1/$2-$3" norecord="${4:-}"
  mkdir -p "$RUNS/$task"
  [ -s "$dir/model.gguf" ] && return 0
  log "train $task $arith-$backward -> $dir"
  # shellcheck disable=SC2046
  nice -n "${FT_NICE:-10}" "$PY" -m lmul.finetune -m "$MODEL" --task "$task" --data-dir "$DATA" \
    --arith "$arith" --backward "$backward" $(train_flags "$task") --seed 0 --threads "$THREADS" \
    --out "$dir" --resume 2>> "$dir.stderr.log" || { log "train $task $arith-$backward failed (see $dir.stderr.log)"; return 1; }
  [ -n "$norecord" ] || record "$task" "$arith-$backward"
}

same_losses() {  # same_losses LOG1 LOG2: the same steps, every loss within 1e-4 (relative)
  # Bit-identical on the same CPU model; across CPUs torch's fp32 GEMMs round differently
  # (measured: Zen 3 record, Ice Lake re-run, at most 9e-6 relative over the 70 ARC steps).
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
a, b = ([(r["step"], r["loss"]) for r in map(json.loads, open(f))] for f in sys.argv[1:3])
if [s for s, _ in a] != [s for s, _ in b]:
    sys.exit("steps differ")
rel = max((abs(x - y) / abs(y) for (_, x), (_, y) in zip(a, b)), default=0.0)
print(f"re-trained reference: {len(a)} steps, max relative loss difference {rel:.3g}"
      + (" (bit-identical)" if a == b else ""), file=sys.stderr)
sys.exit(0 if rel <= 1e-4 else 1)
PYEOF
}

ensure_ref() {  # ensure_ref TASK: the fine-tuned fp32 model is here (trained again if only recorded)
  local task="$1" rec="$RECORD/$1/fp32-ste/log.jsonl" dir="$RUNS/$1/fp32-ste"
  [ -s "$dir/model.gguf" ] && return 0
  [ -s "$rec" ] || { train_run "$task" fp32 ste; return; }
  log "$task fp32-ste: recorded, its model is not here: training it again as the KL reference"
  train_run "$task" fp32 ste norecord || return 1  # the record keeps the original run
  same_losses "$dir/log.jsonl" "$rec" 2>> "$RUNS/driver.log" || {
    log "$task fp32-ste: the re-trained reference's losses differ from $rec: stopping"; exit 1; }
}

kl_run() {  # kl_run TASK GGUF ARITHS OUT.json: KL/top-1 against the fine-tuned fp32 model
  [ -s "$4" ] && return 0
  ensure_ref "$1" || return 1
  log "kl $1 $3 <- $2"
  nice -n "${FT_NICE:-10}" "$PY" scripts/finetune_kl.py --ref "$RUNS/$1/fp32-ste/model.gguf" --model "$2" \
    --arith "$3" --task "$1" --data-dir "$DATA" --threads "$THREADS" --json "$4.tmp" && mv "$4.tmp" "$4"
}

run_item() {  # run_item TASK ARITH BACKWARD: train (or resume), evaluate, KL; 0 when all recorded
  local task="$1" arith="$2" backward="$3" name="$2-$3"
  local dir="$RUNS/$task/$name" rec="$RECORD/$task/$name" ariths="fp32"
  [ "$arith" = fp32 ] || ariths="fp32,$arith"
  if [ ! -s "$rec/summary.json" ] || [ ! -s "$rec/eval.json.gz" ]; then
    train_run "$task" "$arith" "$backward" || return 1
    eval_model "$dir/model.gguf" "$task" "$ariths" "$dir/eval" || { log "eval $task $name failed"; return 1; }
    record "$task" "$name"
  fi
  if [ "$name" != fp32-ste ] && [ ! -s "$rec/kl.json" ]; then
    train_run "$task" "$arith" "$backward" || return 1  # again, when only its record is here
    kl_run "$task" "$dir/model.gguf" "$ariths" "$dir/kl.json" 2>> "$dir.stderr.log" || {
      log "kl $task $name failed"; return 1; }
    record "$task" "$name"
  fi
  item_done "$task" "$arith" "$backward" || { log "$task $name: not complete"; return 1; }
  # Done and recorded: the 1.6 GB checkpoint (weights + AdamW state) is no longer needed.
  [ -n "${FT_KEEP_CHECKPOINTS:-}" ] || rm -f "$dir/checkpoint.pt"
}

item_done() {  # fine-tuned, evaluated and (unless it is the reference) compared: recorded
  local rec="$RECORD/$1/$2-$3"
  [ -s "$rec/summary.json" ] && [ -s "$rec/eval.json.gz" ] && { [ "$2-$3" = fp32-ste ] || [ -s "$rec/kl.json" ]; }
}

base_missing() {  # base_missing TASK: the arithmetics of base_list without a recorded eval and KL
  local a out=""
  for a in ${1:+$(base_list | tr , ' ')}; do
    [ -s "$RECORD/$1/base/eval.$a.json.gz" ] && [ -s "$RECORD/$1/base/kl.$a.json" ] || out="$out $a"
  done
  echo $out
}

run_base() {  # the base model, one arithmetic at a time (each recorded on its own), every known one
  local task="$1" a src="$RUNS/$1/base" dst="$RECORD/$1/base"
  mkdir -p "$src" "$dst"
  for a in $(base_missing "$task"); do
    if [ ! -s "$dst/eval.$a.json.gz" ]; then
      eval_model "$MODEL" "$task" "$a" "$src/eval.$a" || { log "eval $task base $a failed"; return 1; }
      portable "$src/eval.$a.json" | gzip -9 -n > "$dst/eval.$a.json.gz.tmp" && mv "$dst/eval.$a.json.gz.tmp" "$dst/eval.$a.json.gz"
      portable "$src/eval.$a.txt" > "$dst/eval.$a.txt"
    fi
    kl_run "$task" "$MODEL" "$a" "$src/kl.$a.json" || { log "kl $task base $a failed"; return 1; }
    portable "$src/kl.$a.json" > "$dst/kl.$a.json"
  done
}

# Always the first unfinished item in priority order (tasks in order, then RUN_LIST), so a policy
# that becomes known (a rebuild with new presets) while an earlier item runs is taken next.
declare -A failed=()
while :; do
  picked=""
  for task in "${TASKS[@]}"; do
    for item in $RUN_LIST; do
      arith="${item%%:*}" backward="${item##*:}"
      item_done "$task" "$arith" "$backward" && continue
      [ "${failed[$task/$item]:-0}" -ge "${FT_RETRIES:-5}" ] && continue
      known "$arith" || continue
      picked="$task $arith $backward"
      break 2
    done
    # Every known item of this task done: the base model under each known arithmetic.
    if [ -n "$(base_missing "$task")" ]; then
      if [ "${failed[$task/base]:-0}" -lt "${FT_RETRIES:-5}" ]; then picked="$task base"; break; fi
    fi
  done
  [ -n "$picked" ] || break
  set -- $picked
  # A failure (e.g. the OOM killer on a shared machine) is retried, resuming the checkpoint, up
  # to FT_RETRIES times (5) after a pause; then the item is left for the next driver run.
  if [ "$2" = base ]; then
    run_base "$1" || { failed[$1/base]=$(( ${failed[$1/base]:-0} + 1 )); sleep "${FT_RETRY_PAUSE:-120}"; }
  else
    run_item "$1" "$2" "$3" || { failed[$1/$2:$3]=$(( ${failed[$1/$2:$3]:-0} + 1 )); sleep "${FT_RETRY_PAUSE:-120}"; }
  fi
done
for task in "${TASKS[@]}"; do
  for item in $RUN_LIST; do
    known "${item%%:*}" || log "not run: $task ${item/:/-} (policy unknown to this build; re-run after building it)"
  done
done
log "done: ${TASKS[*]} (failed: ${!failed[*]})"
