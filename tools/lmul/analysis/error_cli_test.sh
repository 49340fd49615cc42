#!/usr/bin/env bash
# End-to-end checks of the `lmul error` interface: CSV header and rows, table,
# JSON, SVG, reproducibility, activations input, errors.
# Usage: error_cli_test.sh path/to/lmul
set -u
LMUL="$1"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
HEADER='arith,dist,samples,mean_rel,bias,rms_rel,max_rel,zero_frac,overflow_frac,theory_mean_rel'

"$LMUL" error --ops 'lmul/e8m4,rne;exact/e4m3;exact/fp32' --samples 5000 --seed 3 --no-progress \
  --csv "$T/a.csv" --json "$T/a.json" --plot "$T/a.svg" > "$T/a.txt" 2> "$T/a.err"
[ $? -eq 0 ] && ok "runs" || { bad "runs: $(cat "$T/a.err")"; }
[ "$(head -1 "$T/a.csv")" = "$HEADER" ] && ok "csv header" || bad "csv header: $(head -1 "$T/a.csv")"
[ "$(wc -l < "$T/a.csv" | tr -d ' ')" = 4 ] && ok "csv rows" || bad "csv rows"
grep -q '^"lmul/e8m4,rne",uniform,5000,' "$T/a.csv" && ok "csv quoted spec" || bad "csv quoted spec"
grep -q '^exact/fp32,uniform,5000,.*,$' "$T/a.csv" && ok "csv empty theory" || bad "csv empty theory"
# Every row has 10 fields (the quoted spec counts as one).
n=$(sed 1d "$T/a.csv" | sed 's/"[^"]*"/X/' | awk -F, '{print NF}' | sort -u | tr -d '\n')
[ "$n" = 10 ] && ok "csv field count" || bad "csv field count: $n"
grep -q 'mean_rel%' "$T/a.txt" && grep -q 'lmul/e8m4,rne' "$T/a.txt" && ok "table" || bad "table"
grep -q '"arith": "exact/e4m3"' "$T/a.json" && grep -q '"theory": null' "$T/a.json" && ok "json" || bad "json"
head -c 4 "$T/a.svg" | grep -q '<svg' && grep -q '</svg>' "$T/a.svg" && ok "svg" || bad "svg"
# Reproducible: same seed, same CSV (any thread count); another seed differs.
"$LMUL" error --ops 'lmul/e8m4,rne;exact/e4m3;exact/fp32' --samples 5000 --seed 3 --threads 3 \
  --no-progress --csv "$T/b.csv" > /dev/null
cmp -s "$T/a.csv" "$T/b.csv" && ok "same seed" || bad "same seed"
"$LMUL" error --ops 'lmul/e8m4,rne;exact/e4m3;exact/fp32' --samples 5000 --seed 4 \
  --no-progress --csv "$T/c.csv" > /dev/null
cmp -s "$T/a.csv" "$T/c.csv" && bad "other seed differs" || ok "other seed differs"
# Exhaustive e4m3: deterministic exact numbers; lmul/e4m3 has 252^2 pairs.
"$LMUL" error --ops lmul/e4m3 --dist exhaustive:e4m3 --no-progress --csv "$T/e.csv" > /dev/null
grep -q '^lmul/e4m3,exhaustive:e4m3,63504,' "$T/e.csv" && ok "exhaustive" || bad "exhaustive: $(cat "$T/e.csv")"
# Activations: an NPY (2, 2) float32 file written by hand: (1.5, 2) and (0, 3) (skipped).
{
  printf '\x93NUMPY\x01\x00\x76\x00'
  h="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
  printf '%s' "$h"; printf '%*s' $((117 - ${#h})) ''; printf '\n'
  printf '\x00\x00\xc0\x3f\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x40\x40'
} > "$T/p.npy"
out=$("$LMUL" error --ops lmul/fp32 --dist "activations:$T/p.npy" --no-progress --csv "$T/p.csv" 2>&1)
# 1.5 * 2 with L-Mul fp32: fields add to 1.0625 * 2^1... (1 + 0.5 + 0 + 1/16) * 2 = 3.125: e = 1/24.
grep -q '^lmul/fp32,activations:p.npy,1,0.0416666667,0.0416666667,' "$T/p.csv" && ok "activations" \
  || bad "activations: $out $(cat "$T/p.csv")"
echo "$out" | grep -q 'skipped' && ok "activations skipped count" || bad "activations skipped"
# Errors: one line + hint, non-zero exit.
err=$("$LMUL" error --ops lmul/fp9 --no-progress 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"fp9"* ]] && ok "bad op" || bad "bad op: $err"
err=$("$LMUL" error --dist normal --no-progress 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"normal"* ]] && ok "bad dist" || bad "bad dist: $err"
err=$("$LMUL" error --dist activations:/nonexistent.npy --no-progress 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"/nonexistent.npy"* ]] && ok "missing file" || bad "missing file: $err"
printf 'not an npy' > "$T/bad.npy"
err=$("$LMUL" error --dist "activations:$T/bad.npy" --no-progress 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"magic"* ]] && ok "bad npy" || bad "bad npy: $err"
err=$("$LMUL" error --samples 10 --plot "$T/x.png" --no-progress 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"SVG"* ]] && ok "png refused" || bad "png refused: $err"
"$LMUL" error --help > /dev/null && ok "help" || bad "help"
exit $fail
