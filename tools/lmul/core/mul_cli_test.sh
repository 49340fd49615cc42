#!/usr/bin/env bash
# End-to-end checks of the `lmul mul` interface (exact output format, errors).
# Usage: mul_cli_test.sh path/to/lmul
set -u
LMUL="$1"
fail=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]"; fail=1; else echo "ok   $1"; fi
}
first() { awk '{print $1}'; }
check "lmul/fp32 1.5*1.5" 0x40080000 "$(echo '1.5 1.5' | "$LMUL" mul --arith lmul/fp32 | first)"
check "lmul/fp32 1*1 hex input" 0x3F880000 "$(echo '0x3F800000 0x3f800000' | "$LMUL" mul --arith lmul/fp32 | first)"
check "lmul/e8m3" 0x40100000 "$(echo '1.5 1.5' | "$LMUL" mul --arith lmul/e8m3 | first)"
check "lmul/e4m3 sat" 0x43E00000 "$(echo '300 300' | "$LMUL" mul --arith lmul/e4m3 | first)"
check "exact/e4m3" 0x43E00000 "$(echo '300 300' | "$LMUL" mul --arith exact/e4m3 | first)"
check "exact/e4m3,wide" 0x47A20000 "$(echo '300 300' | "$LMUL" mul --arith exact/e4m3,wide | first)"
check "mitchell/bf16" 0x40000000 "$(echo '1.5 1.5' | "$LMUL" mul --arith mitchell/bf16 | first)"
check "lmul/e5m2 inf" 0x7F800000 "$(echo '300 300' | "$LMUL" mul --arith lmul/e5m2 | first)"
check "negative zero" 0x80000000 "$(echo '-0 5' | "$LMUL" mul --arith lmul/bf16 | first)"
check "several lines + tabs" "2" "$(printf '1 1\n\n2\t3\n' | "$LMUL" mul --arith lmul/fp32 | wc -l | tr -d ' ')"
nan=$(echo 'nan 1' | "$LMUL" mul --arith lmul/fp32 | first)
case "$nan" in 0x7F[C-F]?????|0xFF[C-F]?????|0x7F8?????|0xFF8?????) echo "ok   nan";; *) echo "FAIL nan: $nan"; fail=1;; esac
# Errors: bad line -> non-zero exit and the line number on stderr.
err=$(printf '1 1\n1 x\n' | "$LMUL" mul --arith lmul/fp32 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"line 2"* ]] && echo "ok   bad line" || { echo "FAIL bad line: rc=$rc err=$err"; fail=1; }
err=$(printf '1 2 3\n' | "$LMUL" mul --arith lmul/fp32 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"line 1"* ]] && echo "ok   three tokens" || { echo "FAIL three tokens"; fail=1; }
err=$(echo '1 1' | "$LMUL" mul --arith lmul/fp9 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *"e8m1..e8m23"* ]] && [[ "$err" == *"mitchell"* ]] && echo "ok   bad spec" || { echo "FAIL bad spec: $err"; fail=1; }
"$LMUL" --help >/dev/null && "$LMUL" mul --help >/dev/null && echo "ok   help" || { echo "FAIL help"; fail=1; }
exit $fail
