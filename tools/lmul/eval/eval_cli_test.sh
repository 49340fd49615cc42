#!/usr/bin/env bash
# End-to-end checks of `lmul eval` (errors always; with LMUL_MODEL and the shared data:
# a tiny sharded run merged equals the unsharded run).
# Usage: eval_cli_test.sh path/to/lmul
set -u
LMUL="$1"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Errors: one line + hint, non-zero exit; data problems are found before the model loads.
check() {  # name, expected substring, args...
  local name="$1" want="$2"
  shift 2
  local err rc
  err=$("$LMUL" eval "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -ne 0 ] && [[ "$err" == *"$want"* ]] && [[ "$err" == *"hint:"* || "$name" == nohint* ]] \
    && ok "$name" || bad "$name: rc=$rc $err"
}
mkdir -p "$TMP/data/arc-easy" "$TMP/data2/piqa"
printf '%s\n' '{"goal":"g","sol1":"a","sol2":"b"}' > "$TMP/data2/piqa/valid.jsonl"
echo 0 > "$TMP/data2/piqa/valid-labels.lst"
printf '%s\n' '{"id":"a","question":{"stem":"s","choices":[{"text":"x","label":"A"},{"text":"y","label":"B"}]},"answerKey":"A"}' \
  '{"id":"b","question":{"stem":"s","choices":[{"text":"x","label":"A"}]},"answerKey":"Z"' > "$TMP/data/arc-easy/ARC-Easy-Test.jsonl"
check "unknown task" "unknown task 'arc'" -m /nonexistent.gguf --tasks arc --arith fp32
check "bad preset" "unknown policy 'lmul-atn'" -m /nonexistent.gguf --tasks arc_easy --arith fp32,lmul-atn
check "bad inline" "--arith 'attn=lmul/zz9" -m /nonexistent.gguf --tasks arc_easy --arith "fp32;attn=lmul/zz9,*=exact/fp32"
check "duplicate arith" "'fp32' given twice" -m /nonexistent.gguf --tasks arc_easy --arith fp32 --arith fp32
check "bad shard" "--shard '2/2'" -m /nonexistent.gguf --tasks arc_easy --shard 2/2
check "bad limit" "--limit 'x'" -m /nonexistent.gguf --tasks arc_easy --limit x
check "limit 1.5" "--limit '1.5'" -m /nonexistent.gguf --tasks arc_easy --limit 1.5
check "nohint num_fewshot range" "--num_fewshot" -m /nonexistent.gguf --tasks arc_easy --num_fewshot -1
check "num_fewshot without split" "task piqa has no few-shot split" -m /nonexistent.gguf --tasks piqa \
  --num_fewshot 2 --data-dir "$TMP/data2"
check "hostile line" "ARC-Easy-Test.jsonl:2: expected a JSON object, found invalid JSON" \
  -m /nonexistent.gguf --tasks arc_easy --data-dir "$TMP/data"
check "missing folder" "no folder $TMP/data/piqa" -m /nonexistent.gguf --tasks piqa --data-dir "$TMP/data"
mkdir -p "$TMP/good/arc-easy"
head -n 1 "$TMP/data/arc-easy/ARC-Easy-Test.jsonl" > "$TMP/good/arc-easy/ARC-Easy-Test.jsonl"
check "missing model" "/nonexistent.gguf" -m /nonexistent.gguf --tasks arc_easy --data-dir "$TMP/good"
echo '{"model": 1}' > "$TMP/bad.json"
err=$("$LMUL" eval merge "$TMP/bad.json" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"bad.json: field model"* ]] && ok "merge hostile json" || bad "merge hostile json: $err"

DATA="${LMUL_DATA:-}"
if [ -z "${LMUL_MODEL:-}" ] || [ ! -f "$DATA/arc-easy/ARC-Easy-Test.jsonl" ]; then
  echo "skip model checks: LMUL_MODEL or LMUL_DATA not set"
  exit $fail
fi
run() { "$LMUL" eval -m "$LMUL_MODEL" --tasks arc_easy,lambada --limit 3 --arith "fp32;attn.qk=lmul/e8m4,*=exact/fp32" --quiet "$@"; }
run --threads 2 --json "$TMP/all.json" > "$TMP/all.txt" || bad "unsharded run"
run --shard 0/2 --json "$TMP/s0.json" > /dev/null || bad "shard 0"
run --shard 1/2 --json "$TMP/s1.json" > /dev/null || bad "shard 1"
"$LMUL" eval merge "$TMP/s1.json" "$TMP/s0.json" --json "$TMP/merged.json" > "$TMP/merged.txt" || bad "merge"
cmp -s "$TMP/all.txt" "$TMP/merged.txt" && ok "merged table == unsharded table" \
  || bad "merged table differs: $(diff "$TMP/all.txt" "$TMP/merged.txt")"
grep -q "attn.qk=lmul/e8m4" "$TMP/all.txt" && grep -q "arc_easy  *acc " "$TMP/all.txt" \
  && grep -q "lambada  *perplexity" "$TMP/all.txt" && ok "table rows and inline column" \
  || bad "table: $(cat "$TMP/all.txt")"
same=$(python3 - "$TMP/all.json" "$TMP/merged.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print(a["results"] == b["results"] and a["examples"] == b["examples"])
PY
)
[ "$same" == "True" ] && ok "merged JSON results and examples == unsharded" || bad "merged JSON differs"
err=$("$LMUL" eval merge "$TMP/s0.json" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"missing shard(s) 1 of 2"* ]] && ok "merge missing shard" || bad "merge missing shard: $err"

# lm-eval conventions: its task names, a fractional --limit, --num_fewshot, gsm8k
# (generative), and --output_path files checked with lm-eval's own code.
"$LMUL" eval -m "$LMUL_MODEL" --tasks gsm8k,arc_easy --limit 1,arc_easy=0.001 --num_fewshot 1 \
  --arith fp32,lmul-attn --threads 2 --quiet --output_path "$TMP/lm" > "$TMP/lm.txt" 2>&1 \
  && ok "fractional limit, few-shot, gsm8k" || bad "lm-eval run: $(cat "$TMP/lm.txt")"
"$LMUL" eval -m "$LMUL_MODEL" --tasks lambada_openai,wikitext --limit 0.0002,wikitext=1 --quiet \
  --output_path "$TMP/lm2/r.json" > "$TMP/lm2.txt" 2>&1 && [ -f "$TMP/lm2/r.json" ] \
  && [ -f "$TMP/lm2/r.lmul.json" ] && ok "lm-eval task names, FILE.json output" \
  || bad "lm-eval names run: $(cat "$TMP/lm2.txt")"
for f in results_fp32.json results_lmul-attn.json lmul_results.json; do
  [ -f "$TMP/lm/$f" ] || bad "--output_path: no $f"
done
grep -q "gsm8k  *exact_match_strict" "$TMP/lm.txt" && grep -q "arc_easy  *acc_norm" "$TMP/lm.txt" \
  && ok "gsm8k and arc_easy rows" || bad "table: $(cat "$TMP/lm.txt")"
# Python with lm-eval: $LMUL_PYTHON, else the shared venv if it exists (scripts/venv.sh's
# folder; this test never creates it).
PY="${LMUL_PYTHON:-}"
REQ="$(dirname "$0")/../../../scripts/requirements-test.txt"
if [ -z "$PY" ] && [ -f "$REQ" ]; then
  VENV="${LMUL_CACHE:-$HOME/.cache/lmul}/venv-$(sha256sum "$REQ" | cut -c1-12)"
  [ -f "$VENV/.complete" ] && PY="$VENV/bin/python"
fi
if [ -x "$PY" ] && "$PY" -c "import lm_eval" 2>/dev/null; then
  "$PY" "$(dirname "$0")/../../../eval/lm_eval_results_check.py" "$TMP/lm/lmul_results.json" \
    "$TMP/lm/results_fp32.json" "$TMP/lm/results_lmul-attn.json" > "$TMP/check.txt" 2>&1 \
    && "$PY" "$(dirname "$0")/../../../eval/lm_eval_results_check.py" "$TMP/lm2/r.lmul.json" \
    "$TMP/lm2/r.json" >> "$TMP/check.txt" 2>&1 \
    && ok "lm-eval's make_table and schema accept --output_path" \
    || bad "lm_eval_results_check: $(cat "$TMP/check.txt")"
else
  echo "skip lm-eval check: no Python with lm_eval (scripts/venv.sh)"
fi
# 3 ARC questions (ceil(2376 * 0.001)), 1-shot; gsm8k 1-shot: the JSON says so.
python3 - "$TMP/lm/lmul_results.json" <<'PY' && ok "n_selected and n_shot in the JSON" || bad "n_selected/n_shot"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["n_selected"] == {"gsm8k": 1, "arc_easy": 3}, j["n_selected"]
assert j["n_shot"] == {"gsm8k": 1, "arc_easy": 1}, j["n_shot"]
g = [e for e in j["examples"] if e["task"] == "gsm8k"][0]
assert "#### " in g["target"] and "generation" in g["scores"]["fp32"], g
PY
exit $fail
