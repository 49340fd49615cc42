#!/usr/bin/env bash
# Runs tests/robustness/cli_cases.tsv (format in its header) against an lmul binary.
# Usage: cli_cases.sh LMUL MAKE_FIXTURES CASES.tsv
set -u
LMUL="$1"
MAKE_FIXTURES="$2"
CASES="$3"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
F="$work/fixtures"
"$MAKE_FIXTURES" fixtures "$F" || { echo "FAIL: lmul_make_fixtures"; exit 1; }
export LMUL F
fail=0 n=0
while IFS=$'\t' read -r want frag cmd; do
  [[ -z "$want" || "$want" == \#* ]] && continue
  n=$((n + 1))
  T="$work/t$n"
  mkdir -p "$T"
  export T
  out="$(timeout 60 bash -c "$cmd" 2>&1 </dev/null)"
  rc=$?
  why=""
  if ((rc == 124)); then
    why="timed out (hang)"
  elif ((rc >= 128)); then
    why="status $rc (crash)"
  elif [[ "$rc" != "$want" ]]; then
    why="status $rc, expected $want"
  elif [[ "$frag" != "-" && "$out" != *"$frag"* ]]; then
    why="output lacks '$frag'"
  elif [[ "$out" == *$'\x1b'* ]]; then
    why="raw ESC byte in the output"
  elif [[ "$want" != 0 && "$out" != *"error:"* ]]; then
    why="no 'error:' line"
  fi
  if [[ -n "$why" ]]; then
    fail=$((fail + 1))
    echo "FAIL [$cmd]: $why"
    printf '%s\n' "$out" | head -5 | cat -v | sed 's/^/    /'
  else
    echo "ok   [$cmd]"
  fi
done <"$CASES"
echo "$n cases, $fail failed"
((fail == 0))
