#!/usr/bin/env bash
# lmul rtl / lmul vectors: interface (ports, module name, header) and errors.
set -euo pipefail
lmul=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$lmul" rtl --arith lmul/e4m3 --module my_mul --out "$tmp/m.v"
grep -q '^module my_mul (' "$tmp/m.v" || fail "module name"
grep -q 'input \[7:0\] a,' "$tmp/m.v" || fail "port a"
grep -q 'output \[7:0\] y' "$tmp/m.v" || fail "port y"
[[ $(grep -c '^module ' "$tmp/m.v") == 1 ]] || fail "exactly one module"
"$lmul" rtl --arith exact/e8m5 --module e --out "$tmp/e.v"
grep -q 'input \[13:0\] a,' "$tmp/e.v" || fail "e8m5 width 14"
if "$lmul" rtl --arith exact/e4m3,wide --module w --out "$tmp/w.v" 2>"$tmp/err"; then fail "wide accepted"; fi
grep -q 'hint:' "$tmp/err" || fail "no hint"
"$lmul" vectors --arith lmul/e4m3 --exhaustive --out "$tmp/v.txt"
head -1 "$tmp/v.txt" | grep -q '^// lmul vectors (lmul .*): lmul/e4m3, 65536 pairs' || fail "header"
[[ $(grep -vc '^//' "$tmp/v.txt") == 65536 ]] || fail "65536 lines"
# 1.5 (0x3C) x 1.5 -> lmul/e4m3 2.25 (0x41); 300 rounds/truncates to 288 (0x7C): 448 (0x7E).
grep -q '^3C 3C 41$' "$tmp/v.txt" || fail "1.5*1.5"
grep -q '^7C 7C 7E$' "$tmp/v.txt" || fail "saturation"
[[ $("$lmul" vectors --arith exact/bf16 --count 10 | grep -vc '^//') == 10 ]] || fail "count"
if "$lmul" vectors --arith lmul/bf16 --exhaustive 2>/dev/null >/dev/null; then fail "exhaustive bf16"; fi
# Units: a pipelined 4-lane dot unit, its vectors and self-checking testbench.
"$lmul" rtl --unit dot --arith lmul/e4m3 --lanes 4 --acc fp32 --stages 2 --module d4 --out "$tmp/d4.v"
grep -q '^module d4 ($' "$tmp/d4.v" || fail "dot module"
grep -q 'input \[31:0\] a,' "$tmp/d4.v" || fail "4 lanes x 8 bits"
grep -q 'latency 2 cycles' "$tmp/d4.v" || fail "latency documented"
"$lmul" vectors --unit dot --arith lmul/e4m3 --lanes 4 --acc fp32 --stages 2 --count 50 \
  --module d4 --testbench "$tmp/tb.v" --out "$tmp/d4.hex"
[[ $(grep -vc '^//' "$tmp/d4.hex") == 50 ]] || fail "50 unit vectors"
[[ $(grep -v '^//' "$tmp/d4.hex" | head -1 | wc -w) == 10 ]] || fail "4+4+acc+y words"
grep -q 'MISMATCHES' "$tmp/tb.v" || fail "testbench"
if command -v iverilog >/dev/null; then
  iverilog -o "$tmp/sim" "$tmp/d4.v" "$tmp/tb.v"
  vvp -n "$tmp/sim" +vectors="$tmp/d4.hex" | grep -q '^MISMATCHES 0 of 50$' || fail "testbench run"
fi
"$lmul" vectors --unit mac --arith lmul/e4m3 --acc bf16 --exhaustive --out "$tmp/mac.hex"
[[ $(grep -vc '^//' "$tmp/mac.hex") == $((65536 * 16)) ]] || fail "exhaustive mac vectors"
for bad in "--unit dot --arith lmul/e4m3 --fused" "--unit mac --arith lmul/fp16 --acc bf16" \
           "--unit dot --arith lmul/e4m3 --lanes 2 --stages 9" "--arith lmul/e4m3 --stages 2"; do
  # shellcheck disable=SC2086
  if "$lmul" rtl $bad --module m --out "$tmp/x.v" 2>"$tmp/err"; then fail "accepted: $bad"; fi
  grep -q 'hint:' "$tmp/err" || fail "no hint: $bad"
done
if "$lmul" rtl --unit dot --arith lmul/e4m3 --lanes 0 --module m --out "$tmp/x.v" 2>/dev/null; then
  fail "lanes 0"
fi
echo "ok"
