#!/usr/bin/env bash
# CLI test of `lmul bench gemm|elementwise` (tiny sizes: checks the interface, not speed).
set -euo pipefail
LMUL="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$("$LMUL" bench gemm --arith lmul/bf16,lmul/e8m4,rne --shape 16x24x40 --shape 3x5x7 \
        --threads 1 --repeats 1 --json 2>/dev/null)"
[[ "$out" == \[* ]] || fail "gemm --json does not print a JSON array: $out"
for key in arith m n k threads gflops baseline baseline_gflops ratio; do
  [[ "$out" == *"\"$key\":"* ]] || fail "gemm record lacks \"$key\": $out"
done
n_records="$(grep -o '"arith"' <<<"$out" | wc -l)"
[[ "$n_records" == 4 ]] || fail "expected 4 records (2 ariths x 2 shapes), got $n_records"
[[ "$out" == *'"arith": "lmul/e8m4,rne"'* ]] || fail "arith option not kept: $out"
[[ "$out" == *'"m": 16, "n": 24, "k": 40'* ]] || fail "shape not reported: $out"
[[ "$out" == *'"baseline": "openblas-sgemm:'* ]] || fail "baseline not named: $out"

# The accumulation suffix: the 16-bit-lane path (Accum::kBf16Dot), kept in the record.
out="$("$LMUL" bench gemm --arith lmul/bf16@bf16dot,lmul/e8m4,rne@bf16dot --shape 13x40x9 \
        --threads 1 --repeats 1 --json 2>/dev/null)"
[[ "$out" == *'"arith": "lmul/bf16@bf16dot"'* ]] || fail "@bf16dot not kept: $out"
[[ "$out" == *'"arith": "lmul/e8m4,rne@bf16dot"'* ]] || fail "option + @bf16dot not kept: $out"
if "$LMUL" bench gemm --arith lmul/fp32@bf16dot --shape 4x4x4 >/dev/null 2>err.txt; then
  fail "@bf16dot accepted for lmul/fp32"
fi
if "$LMUL" bench gemm --arith lmul/bf16@nope --shape 4x4x4 >/dev/null 2>err.txt; then
  fail "bad accumulation accepted"
fi
grep -q "bad accumulation '@nope'" err.txt || fail "bad accumulation message: $(cat err.txt)"
# Every record says which accumulation ran; bare lmul/bf16 is the 16-bit-lane path
# where the CPU has AVX512-BF16 (else fp32), lmul/bf16@fp32 the canonical order.
out="$("$LMUL" bench gemm --arith lmul/bf16,lmul/bf16@fp32,lmul/e8m4 --shape 8x8x8 \
        --threads 1 --repeats 1 --json 2>/dev/null)"
[[ "$out" == *'"arith": "lmul/bf16", "accum": "bf16dot"'* ||
   "$out" == *'"arith": "lmul/bf16", "accum": "fp32"'* ]] || fail "bare lmul/bf16 accum: $out"
[[ "$out" == *'"arith": "lmul/bf16@fp32", "accum": "fp32"'* ]] || fail "lmul/bf16@fp32: $out"
[[ "$out" == *'"arith": "lmul/e8m4", "accum": "fp32"'* ]] || fail "lmul/e8m4 accum: $out"

# --isa avx2 emulates an AVX2-only CPU: Haswell OpenBLAS baseline, no 16-bit-lane path.
if grep -q avx2 /proc/cpuinfo 2>/dev/null; then
  out="$("$LMUL" bench gemm --isa avx2 --arith lmul/bf16 --shape 8x8x8 --threads 1 --repeats 1 \
          --json 2>err.txt)" || fail "--isa avx2: $(cat err.txt)"
  [[ "$out" == *'"accum": "fp32"'* ]] || fail "--isa avx2 kept the 16-bit path: $out"
  grep -q "kernels target: AVX2" err.txt || fail "--isa avx2 target: $(cat err.txt)"
fi
if "$LMUL" bench gemm --isa avx9 --shape 4x4x4 >/dev/null 2>err.txt; then fail "bad isa accepted"; fi
grep -q "unknown --isa 'avx9'" err.txt || fail "bad isa message: $(cat err.txt)"
if "$LMUL" bench gemm --shape 12x3 --repeats 1 >/dev/null 2>err.txt; then fail "bad shape accepted"; fi
grep -q "bad shape '12x3'" err.txt || fail "bad shape message: $(cat err.txt)"
if "$LMUL" bench gemm --arith lmul/nope --shape 4x4x4 >/dev/null 2>err.txt; then fail "bad arith accepted"; fi
rm -f err.txt

out="$("$LMUL" bench elementwise --arith lmul/bf16 --n 100 --repeats 1 --json 2>/dev/null)"
for key in arith n gelems gbps baseline baseline_gelems ratio; do
  [[ "$out" == *"\"$key\":"* ]] || fail "elementwise record lacks \"$key\": $out"
done
# --n takes the K/M suffixes its --help documents (16K = 16384); bad counts are usage errors.
out="$("$LMUL" bench elementwise --arith lmul/bf16 --n 1K --repeats 1 --json 2>/dev/null)"
[[ "$out" == *'"n": 1024'* || "$out" == *'"n":1024'* ]] || fail "--n 1K is not 1024: $out"
"$LMUL" bench elementwise --help | grep -q -- "--n 16K" || fail "help lacks the 16K example"
for bad in 16Q 2G 0 99999999999999999999999K; do
  if "$LMUL" bench elementwise --n "$bad" >/dev/null 2>err.txt; then fail "--n $bad accepted"; fi
  grep -q "bad count '$bad'" err.txt || fail "--n $bad message: $(cat err.txt)"
done
rm -f err.txt
echo "PASS"
