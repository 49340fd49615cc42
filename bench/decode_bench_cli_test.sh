#!/usr/bin/env bash
# CLI test of `lmul bench decode` on a tiny GGUF (checks the interface, not speed):
#   decode_bench_cli_test.sh LMUL TINY.gguf
set -euo pipefail
LMUL="$1"
MODEL="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$("$LMUL" bench decode -m "$MODEL" --arith 'fp32,attn=lmul/e8m3,*=exact/fp32,accum=bf16,lmul-all' \
        --threads 1,2 --weights compact,packed --prompt 8 -n 4 --no-llama --json 2>/dev/null)"
[[ "$out" == \[* ]] || fail "--json does not print a JSON array: $out"
for key in engine policy weights threads prompt_tokens decode_tokens prefill_tok_s decode_tok_s \
           load_to_first_token_s peak_rss_bytes weight_bytes_per_token effective_gb_s note; do
  [[ "$out" == *"\"$key\":"* ]] || fail "record lacks \"$key\": $out"
done
n_records="$(grep -o '"engine": "lmul"' <<<"$out" | wc -l)"
[[ "$n_records" == 12 ]] || fail "expected 12 records (3 policies x 2 storages x 2 threads): $out"
[[ "$out" == *'"policy": "attn.qk=lmul/e8m3,attn.av=lmul/e8m3,*=exact/fp32,accum=bf16"'* ]] ||
  fail "inline policy split or renamed: $out"
[[ "$out" == *'"weights": "packed"'* ]] || fail "packed storage missing: $out"
[[ "$out" != *'"peak_rss_bytes": 0,'* ]] || fail "a record without peak RSS: $out"
[[ "$out" != *'"decode_tok_s": 0.00,'* ]] || fail "a record without decode speed: $out"
[[ "$out" != *'died'* ]] || fail "a measuring process died: $out"
# Compact weights read fewer bytes per token than fp32 packs (the tiny model is F32: equal).
grep -q '"weight_bytes_per_token": [1-9]' <<<"$out" || fail "no weight bytes: $out"

# The llama.cpp baseline is optional: an interpreter without llama_cpp is a skip, not an error.
out="$("$LMUL" bench decode -m "$MODEL" --arith fp32 --threads 1 --prompt 4 -n 2 \
        --python /nonexistent/python 2>/dev/null)"
grep -q "^llama.cpp .*skipped" <<<"$out" || fail "llama.cpp baseline not reported as skipped: $out"

# Usage errors: exit 2 with the flag named.
set +e
"$LMUL" bench decode -m "$MODEL" --arith nope -n 1 >/dev/null 2>err.txt
rc=$?
set -e
[[ $rc == 2 ]] || fail "bad --arith: exit $rc, expected 2"
grep -q -- "--arith 'nope'" err.txt || fail "bad --arith message: $(cat err.txt)"
set +e
"$LMUL" bench decode -m "$MODEL" --weights fp16 -n 1 >/dev/null 2>err.txt
rc=$?
set -e
[[ $rc == 2 ]] || fail "bad --weights: exit $rc"
grep -q "expected compact, packed or auto" err.txt || fail "bad --weights message: $(cat err.txt)"
set +e
"$LMUL" bench decode -m /nonexistent.gguf -n 1 >/dev/null 2>err.txt
rc=$?
set -e
[[ $rc != 0 ]] || fail "missing model accepted"
grep -q "nonexistent.gguf" err.txt || fail "missing model not named: $(cat err.txt)"
echo "decode bench CLI: ok"
