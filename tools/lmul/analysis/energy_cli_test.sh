#!/usr/bin/env bash
# lmul energy: the reconstructed paper numbers, a user table, errors, --gates, --json.
set -euo pipefail
lmul=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$lmul" energy --gates --json "$tmp/e.json" >"$tmp/out"
grep -q 'fp32 mult vs int32 add = 97.3%' "$tmp/out" || fail "97.3%"
grep -q '(int32 add + fp32 add) = 78.3%' "$tmp/out" || fail "78.3%"
grep -q 'fp8 multiplication 325 gate operations, L-Mul 157' "$tmp/out" || fail "gates claim"
grep -q ' exact/e4m3 ' "$tmp/out" || fail "gate rows"
grep -q '^e4m3 *fp32 ' "$tmp/out" || fail "MAC energy row e4m3/fp32"
grep -q '^fp32 *fp32 ' "$tmp/out" || fail "MAC energy row fp32/fp32"
grep -q 'VUB' "$tmp/out" || fail "published figures"
# Ours beside each published figure (the paper's 80 %: the MAC and dot-unit savings).
grep -A1 'dot-product energy saving (derived, fp32): 80 %' "$tmp/out" | grep -q 'ours: NAND2-eq, MAC fp32->fp32 -[0-9.]* %.*units .*dot4 e4m3->fp32 -' || fail "ours beside 80 %"
grep -A1 'dot-product energy saving (derived, fp32): 80 %' "$tmp/out" | grep -q 'units .*dot8 e4m3->fp32 -' || fail "dot8 beside 80 %"
grep -A1 'mean relative error of L-Mul' "$tmp/out" | grep -q 'ours: formula: e4m3 0.0689, e5m2 0.1111' || fail "ours beside MRE"
python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['published']; assert all(x['ours'] not in ('', '-') for x in p), p" "$tmp/e.json" || fail "published json: ours"
# The synthesized dot units (the committed report has the 2-stage dot4 pair and the
# combinational dot8 pair).
grep -q '^dot4_lmul_e4m3_fp32_s2 *e4m3 *fp32 *4 *2 ' "$tmp/out" || fail "dot unit row"
grep -q '^dot8_lmul_e4m3_fp32 *e4m3 *fp32 *8 *0 ' "$tmp/out" || fail "dot8 unit row"
python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['gate_energy']['dot_units']; r=[x for x in d if x['exact_module']=='dot8_exact_e4m3_fp32'][0]; assert r['lanes']==8 and 0<r['saving_vs_exact_pct']<100 and r['lmul_pj_per_product']<r['exact_pj_per_product']" "$tmp/e.json" || fail "dot8 units json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1]))['gate_energy']['dot_units']; r=[x for x in d if x['exact_module']=='dot4_exact_e4m3_fp32_s2'][0]; assert r['lanes']==4 and 0<r['saving_vs_exact_pct']<100 and r['lmul_pj_per_product']<r['exact_pj_per_product']" "$tmp/e.json" || fail "dot units json"
grep -q '^lmul/e4m3 *0.0689 ' "$tmp/out" || fail "MRE formula e4m3"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); r=[x for x in j['gate_energy']['rows'] if x['operands']=='fp32' and x['acc']=='fp32'][0]; assert abs(r['exact_pj_per_step']-4.6)<1e-9 and 0<r['saving_vs_exact_pct']<100" "$tmp/e.json" || fail "gate energy json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert abs(j['paper_claims']['dot_80_fp32']-78.26)<0.01" "$tmp/e.json" || fail "json"
# A user table where every operation costs 1 pJ: every saving of a step is 0.
python3 - "$tmp/t.json" <<'PY'
import json, sys
keys = "fp32_mul fp32_add fp16_mul fp16_add int32_mul int32_add int16_add int8_mul int8_add dram_byte sram_byte".split()
json.dump({"name": "flat", "pj": {k: 1 for k in keys}}, open(sys.argv[1], "w"))
PY
"$lmul" energy --table "$tmp/t.json" >"$tmp/flat"
grep -q 'Energy table: flat' "$tmp/flat" || fail "user table"
grep -q 'fp32 mult vs int32 add = 0.0%' "$tmp/flat" || fail "flat saving"
echo '{"pj": {}}' >"$tmp/bad.json"
if "$lmul" energy --table "$tmp/bad.json" 2>"$tmp/err"; then fail "bad table accepted"; fi
grep -q "bad.json: field 'pj.fp32_mul'" "$tmp/err" || fail "error names file and field"
grep -q 'hint:' "$tmp/err" || fail "hint"
# One --policy: compared with the fp32 baseline (printed first), not with itself (was 0.0 %).
"$lmul" energy --policy lmul-all --json "$tmp/p.json" >"$tmp/pol"
grep -q '^fp32 .* 0.0% *0.0%$' "$tmp/pol" || fail "baseline row"
grep '^lmul-all ' "$tmp/pol" | grep -q ' 0.0%' && fail "lmul-all saving is 0.0%"
grep -q 'relative to the baseline policy, fp32' "$tmp/pol" || fail "baseline named"
python3 -c "import json,sys; j=json.load(open(sys.argv[1]))['token']; assert j['baseline']=='fp32'; assert [p['policy'] for p in j['policies']]==['fp32','lmul-all']; assert j['policies'][1]['arith_saving_pct_vs_baseline']>10" "$tmp/p.json" || fail "baseline json"
"$lmul" energy --baseline bf16 --policy lmul-all >"$tmp/pol16"
grep -q '^bf16 ' "$tmp/pol16" || fail "--baseline bf16"
if "$lmul" energy --baseline nope 2>"$tmp/err"; then fail "bad baseline accepted"; fi
grep -q "baseline policy 'nope'" "$tmp/err" || fail "bad baseline message"
echo ok
