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
[ $rc -ne 0 ] && [[ "$err" == *"exactly one of -p, -f and --tokens"* ]] && ok "no prompt" || bad "no prompt: $err"
# llama.cpp flags: range checks and source conflicts are usage errors, before the model loads.
for args in "--top-p 1.5" "--min-p -0.1" "--top-k -3" "--repeat-penalty 0" "-t -1" "-s -2" "-c -5"; do
  err=$("$LMUL" run -m /nonexistent.gguf -p x $args 2>&1 >/dev/null); rc=$?
  [ $rc -ne 0 ] && [[ "$err" == *"${args%% *}"* ]] && ok "range $args" || bad "range $args: rc=$rc $err"
done
err=$("$LMUL" run -m /nonexistent.gguf -p x -f /dev/null 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"exactly one of -p, -f and --tokens"* ]] && ok "-p and -f" || bad "-p and -f: $err"
err=$("$LMUL" run -m /nonexistent.gguf -cnv --tokens "1 2" 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"-cnv takes"* ]] && ok "-cnv --tokens" || bad "-cnv --tokens: $err"
err=$("$LMUL" run -m /nonexistent.gguf -f /nonexistent.txt 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"-f /nonexistent.txt: cannot open"* ]] && ok "-f missing" || bad "-f missing: $err"

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
  # -f reads the prompt from a file: same greedy text as -p; llama.cpp spellings accepted.
  printf 'The capital of France is' > /tmp/lmul_run_prompt.$$
  outf=$("$LMUL" run -m "$LMUL_MODEL" -f /tmp/lmul_run_prompt.$$ -n 4 -t 2 -c 64 -s 3 2>/dev/null)
  rm -f /tmp/lmul_run_prompt.$$
  [ "$outf" == "$out" ] && ok "-f prompt file" || bad "-f: [$outf] vs [$out]"
  # Sampling flags: top-k 1 is greedy whatever the temperature; a seed reproduces a run.
  k1=$("$LMUL" run -m "$LMUL_MODEL" -p "The capital of France is" -n 4 --temp 1.5 --top-k 1 -s 9 2>/dev/null)
  [ "$k1" == "$out" ] && ok "--top-k 1 = greedy" || bad "--top-k 1: [$k1] vs [$out]"
  a=$("$LMUL" run -m "$LMUL_MODEL" -p "Once upon a time" -n 12 --temp 0.9 --top-p 0.9 --min-p 0.02 \
      --repeat-penalty 1.1 --repeat-last-n 32 -s 11 2>/dev/null)
  b=$("$LMUL" run -m "$LMUL_MODEL" -p "Once upon a time" -n 12 --temp 0.9 --top-p 0.9 --min-p 0.02 \
      --repeat-penalty 1.1 --repeat-last-n 32 -s 11 2>/dev/null)
  [ -n "$a" ] && [ "$a" == "$b" ] && ok "sampling flags, seeded" || bad "sampling flags: [$a] [$b]"
  # -cnv: two user turns from stdin; the second reuses the KV cache of the first.
  cnv=$(printf 'What is the capital of France?\nAnd of Italy?\n' | \
        "$LMUL" run -m "$LMUL_MODEL" -cnv -sys "You are terse." -n 24 2>/tmp/lmul_run_err.$$)
  [[ "$cnv" == *"Paris"* ]] && [[ "$cnv" == *"Rome"* ]] && ok "-cnv two turns" \
    || bad "-cnv: [$cnv] $(cat /tmp/lmul_run_err.$$)"
  reused=$(grep -c "turn: .* (0 reused)" /tmp/lmul_run_err.$$)
  turns=$(grep -c "^turn: " /tmp/lmul_run_err.$$)
  [ "$turns" == "2" ] && [ "$reused" == "1" ] && ok "-cnv keeps the KV cache" \
    || bad "-cnv cache: $(grep turn: /tmp/lmul_run_err.$$)"
  empty=$("$LMUL" run -m "$LMUL_MODEL" -cnv < /dev/null 2>/dev/null); rc=$?
  [ $rc -eq 0 ] && [ -z "$empty" ] && ok "-cnv EOF" || bad "-cnv EOF: rc=$rc [$empty]"
fi
rm -f /tmp/lmul_run_err.$$
exit $fail
