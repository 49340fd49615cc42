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
mkdir -p "$TMP/data/arc-easy"
printf '%s\n' '{"id":"a","question":{"stem":"s","choices":[{"text":"x","label":"A"},{"text":"y","label":"B"}]},"answerKey":"A"}' \
  '{"id":"b","question":{"stem":"s","choices":[{"text":"x","label":"A"}]},"answerKey":"Z"' > "$TMP/data/arc-easy/ARC-Easy-Test.jsonl"
check "unknown task" "unknown task 'arc'" -m /nonexistent.gguf --tasks arc --arith fp32
check "bad preset" "unknown policy 'lmul-atn'" -m /nonexistent.gguf --tasks arc_easy --arith fp32,lmul-atn
check "bad inline" "--arith 'attn=lmul/zz9" -m /nonexistent.gguf --tasks arc_easy --arith "fp32;attn=lmul/zz9,*=exact/fp32"
check "duplicate arith" "'fp32' given twice" -m /nonexistent.gguf --tasks arc_easy --arith fp32 --arith fp32
check "bad shard" "--shard '2/2'" -m /nonexistent.gguf --tasks arc_easy --shard 2/2
check "bad limit" "--limit 'x'" -m /nonexistent.gguf --tasks arc_easy --limit x
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
exit $fail
