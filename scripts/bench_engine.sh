#!/usr/bin/env bash
# Prefill and decode tokens/s of `lmul run` per policy and thread count (best of
# REPEATS runs), on the default model. Prints a markdown table and one JSON line per row.
#
#   scripts/bench_engine.sh [LMUL_BINARY] [PROMPT_TOKENS] [DECODE_TOKENS]
# Env: POLICIES (default "fp32 lmul-attn lmul-all"), THREADS ("1 2"), REPEATS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
LMUL="${1:-build/release/lmul}"
N_PROMPT="${2:-128}"
N_DECODE="${3:-64}"
POLICIES="${POLICIES:-fp32 lmul-attn lmul-all}"
THREADS="${THREADS:-1 2}"
REPEATS="${REPEATS:-3}"
MODEL="${LMUL_MODEL:-$(scripts/fetch_model.sh)}"
# A fixed prompt: the golden prompts' token ids, repeated to N_PROMPT tokens.
base=$(awk '$1=="prompt" {for (i=4;i<=NF;i++) printf "%s ", $i}' tests/testdata/engine/smollm2_goldens.txt)
prompt=""
count=0
while [ "$count" -lt "$N_PROMPT" ]; do
  for t in $base; do
    [ "$count" -ge "$N_PROMPT" ] && break
    prompt="$prompt$t "
    count=$((count + 1))
  done
done
echo "| policy | threads | prefill tokens/s | decode tokens/s |"
echo "|---|---|---|---|"
json=()
for policy in $POLICIES; do
  for th in $THREADS; do
    best_p=0
    best_d=0
    for _ in $(seq "$REPEATS"); do
      err=$("$LMUL" run -m "$MODEL" --tokens "$prompt" -n "$N_DECODE" --ids --arith "$policy" \
        --threads "$th" 2>&1 >/dev/null)
      p=$(echo "$err" | sed -n 's/^prefill: .* = \([0-9.]*\) tokens\/s/\1/p')
      d=$(echo "$err" | sed -n 's/^decode: .* = \([0-9.]*\) tokens\/s/\1/p')
      best_p=$(awk -v a="$best_p" -v b="$p" 'BEGIN {print (b > a) ? b : a}')
      best_d=$(awk -v a="$best_d" -v b="$d" 'BEGIN {print (b > a) ? b : a}')
    done
    echo "| $policy | $th | $best_p | $best_d |"
    json+=("{\"policy\": \"$policy\", \"threads\": $th, \"prompt_tokens\": $N_PROMPT, \"decode_tokens\": $N_DECODE, \"prefill_tok_s\": $best_p, \"decode_tok_s\": $best_d}")
  done
done
echo
printf '%s\n' "${json[@]}"
