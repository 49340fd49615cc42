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
echo "ok"
