#!/usr/bin/env bash
# End-to-end checks of `lmul run` (errors always; generation when LMUL_MODEL is set).
# Usage: run_cli_test.sh path/to/lmul path/to/tests/testdata/engine
set -u
LMUL="$1"
GOLDENS="$2/smollm2_goldens.txt"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# Errors: one line + hint, non-zero exit.
err=$("$LMUL" run -m /nonexistent.gguf --tokens "1 2" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"/nonexistent.gguf"* ]] && ok "missing model" || bad "missing model: rc=$rc $err"
err=$("$LMUL" run -m /nonexistent.gguf --tokens "1" --arith lmul-atn 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"unknown policy 'lmul-atn'"* ]] && ok "bad policy" || bad "bad policy: $err"
err=$("$LMUL" run -m /nonexistent.gguf 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"exactly one of -p and --tokens"* ]] && ok "no prompt" || bad "no prompt: $err"

if [ -z "${LMUL_MODEL:-}" ]; then
  echo "skip generation checks: LMUL_MODEL not set"
  exit $fail
fi
# Greedy fp32 continuation of the golden prompt "capital" == the NumPy float64 reference's.
prompt=$(awk '$1=="prompt" && $2=="capital" {for (i=4;i<=NF;i++) printf "%s ", $i}' "$GOLDENS")
want=$(awk '$1=="ref_greedy" && $2=="capital" {for (i=4;i<=11;i++) printf "%s ", $i}' "$GOLDENS")
got=$("$LMUL" run -m "$LMUL_MODEL" --tokens "$prompt" -n 8 --ids --threads 2 2>/tmp/lmul_run_err.$$ | tr '\n' ' ')
[ "$got" == "$want" ] && ok "greedy fp32 ids" || bad "greedy fp32 ids: got [$got] want [$want]"
grep -q "prefill: 5 tokens" /tmp/lmul_run_err.$$ && grep -q "decode: 7 tokens" /tmp/lmul_run_err.$$ \
  && ok "tokens/s report" || bad "tokens/s report: $(cat /tmp/lmul_run_err.$$)"
rm -f /tmp/lmul_run_err.$$
# Same ids with 1 thread; an approximate policy still runs and gives 8 ids.
got1=$("$LMUL" run -m "$LMUL_MODEL" --tokens "$prompt" -n 8 --ids --threads 1 2>/dev/null | tr '\n' ' ')
[ "$got1" == "$got" ] && ok "threads invariant" || bad "threads: [$got1] vs [$got]"
n=$("$LMUL" run -m "$LMUL_MODEL" --tokens "$prompt" -n 8 --ids --arith attn=lmul/e8m3,*=exact/fp32 \
  2>/dev/null | wc -l | tr -d ' ')
[ "$n" == "8" ] && ok "inline policy" || bad "inline policy: $n lines"
# Sampling is reproducible for a seed.
s1=$("$LMUL" run -m "$LMUL_MODEL" --tokens "$prompt" -n 6 --ids --temp 0.8 --seed 5 2>/dev/null | tr '\n' ' ')
s2=$("$LMUL" run -m "$LMUL_MODEL" --tokens "$prompt" -n 6 --ids --temp 0.8 --seed 5 2>/dev/null | tr '\n' ' ')
[ "$s1" == "$s2" ] && [ -n "$s1" ] && ok "seeded sampling" || bad "seeded sampling: [$s1] [$s2]"
# Text prompt through the tokenizer (when this build has one).
out=$("$LMUL" run -m "$LMUL_MODEL" -p "The capital of France is" -n 4 2>/tmp/lmul_run_err.$$)
if grep -q "no tokenizer" /tmp/lmul_run_err.$$; then
  echo "skip text prompt: built without engine/tokenizer"
else
  [[ "$out" == " Paris."* ]] && ok "text prompt" || bad "text prompt: [$out] $(cat /tmp/lmul_run_err.$$)"
  chat=$("$LMUL" run -m "$LMUL_MODEL" -p "What is the tallest mountain in the world?" --chat -n 16 2>/dev/null)
  [[ "$chat" == *"Everest"* ]] && ok "chat" || bad "chat: [$chat]"
fi
rm -f /tmp/lmul_run_err.$$
exit $fail
