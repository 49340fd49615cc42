#!/usr/bin/env bash
# The fine-tuning experiment of docs/results.md § "Fine-tuning under L-Mul" (issue 19): SmolLM2-135M-
# Instruct fine-tuned under each arithmetic with the same budget, then evaluated with `lmul eval`
# under its own arithmetic and under fp32, the base model beside, KL against the fp32-fine-tuned
# model. Resumable: every run skips what is done (model.gguf, eval JSON), resumes a checkpoint,
# and a run whose policy this build does not know yet is skipped (re-run the script after
# building one that has it). Outputs OUTSIDE the repository:
#
#   ${LMUL_RUNS:-$HOME/.cache/lmul/runs}/finetune/TASK/ARITH-BACKWARD/{log.jsonl,checkpoint.pt,model.gguf,
#       eval.json,eval.txt,kl.json}, .../TASK/base/eval.json
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
mkdir -p "$RUNS"
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

run_item() {  # run_item TASK ARITH BACKWARD: train (or resume), evaluate, KL; 0 when all done
  local task="$1" arith="$2" backward="$3"
  local dir="$RUNS/$task/$arith-$backward" ariths="fp32" ref="$RUNS/$task/fp32-ste/model.gguf"
  mkdir -p "$RUNS/$task"
  if [ ! -s "$dir/model.gguf" ]; then
    log "train $task $arith-$backward -> $dir"
    # shellcheck disable=SC2046
    nice -n "${FT_NICE:-10}" "$PY" -m lmul.finetune -m "$MODEL" --task "$task" --data-dir "$DATA" \
      --arith "$arith" --backward "$backward" $(train_flags "$task") --seed 0 --threads "$THREADS" \
      --out "$dir" --resume 2>> "$dir.stderr.log" || { log "train $task $arith-$backward failed (see $dir.stderr.log)"; return 1; }
  fi
  [ "$arith" = fp32 ] || ariths="fp32,$arith"
  eval_model "$dir/model.gguf" "$task" "$ariths" "$dir/eval" || { log "eval $task $arith-$backward failed"; return 1; }
  if [ "$arith-$backward" != fp32-ste ] && [ -s "$ref" ] && [ ! -s "$dir/kl.json" ]; then
    log "kl $task $arith-$backward vs fp32-ste"
    nice -n "${FT_NICE:-10}" "$PY" scripts/finetune_kl.py --ref "$ref" --model "$dir/model.gguf" \
      --arith "$ariths" --task "$task" --data-dir "$DATA" --threads "$THREADS" --json "$dir/kl.json.tmp" \
      2>> "$dir.stderr.log" && mv "$dir/kl.json.tmp" "$dir/kl.json" || { log "kl $task $arith-$backward failed"; return 1; }
  fi
  item_done "$task" "$arith" "$backward" || { log "$task $arith-$backward: not complete (no fp32-ste reference?)"; return 1; }
  # Done: the 1.6 GB checkpoint (weights + AdamW state) is no longer needed.
  [ -n "${FT_KEEP_CHECKPOINTS:-}" ] || rm -f "$dir/checkpoint.pt"
}

item_done() {  # fine-tuned, evaluated and (unless it is the reference) compared
  local dir="$RUNS/$1/$2-$3"
  [ -s "$dir/model.gguf" ] && [ -s "$dir/eval.json" ] && { [ "$2-$3" = fp32-ste ] || [ -s "$dir/kl.json" ]; }
}

run_base() {  # the base model under every arithmetic of the list this build knows
  local task="$1" base ref="$RUNS/$1/fp32-ste/model.gguf"
  base="$(base_list)"
  mkdir -p "$RUNS/$task/base"
  if [ -s "$RUNS/$task/base/eval.json" ] && [ "$(cat "$RUNS/$task/base/ariths" 2>/dev/null)" != "$base" ]; then
    mv "$RUNS/$task/base/eval.json" "$RUNS/$task/base/eval.$(date +%s).json"  # policies added: redo
    rm -f "$RUNS/$task/base/kl.json"
  fi
  echo "$base" > "$RUNS/$task/base/ariths"
  eval_model "$MODEL" "$task" "$base" "$RUNS/$task/base/eval" || { log "eval $task base failed"; return 1; }
  if [ -s "$ref" ] && [ ! -s "$RUNS/$task/base/kl.json" ]; then
    log "kl $task base vs fp32-ste"
    nice -n "${FT_NICE:-10}" "$PY" scripts/finetune_kl.py --ref "$ref" --model "$MODEL" --arith "$base" \
      --task "$task" --data-dir "$DATA" --threads "$THREADS" --json "$RUNS/$task/base/kl.json.tmp" \
      && mv "$RUNS/$task/base/kl.json.tmp" "$RUNS/$task/base/kl.json" || { log "kl $task base failed"; return 1; }
  fi
  [ -s "$RUNS/$task/base/kl.json" ] || { log "$task base: no KL (no fp32-ste reference)"; return 1; }
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
    # Every known item of this task done: the base model (re-done when policies were added).
    if [ ! -s "$RUNS/$task/base/kl.json" ] || [ ! -s "$RUNS/$task/base/eval.json" ] || \
       [ "$(cat "$RUNS/$task/base/ariths" 2>/dev/null)" != "$(base_list)" ]; then
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
