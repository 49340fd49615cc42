#!/usr/bin/env bash
# Synthesizes each generated multiplier (lmul rtl) with Yosys to a fixed generic
# gate library and writes a JSON gate report (cells and NAND2-equivalent area).
#
#   scripts/synth_report.sh [LMUL_BINARY] [OUT_JSON]
#   defaults: build/energy/lmul (else build/release/lmul), analysis/energy/gates_report.json
#
# Flow (per module): read_verilog; synth -flatten -top NAME;
#   abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat
# NAND2-equivalent weights (typical static-CMOS transistor-count ratios, stated
# here and in docs/energy.md): NOT 0.5, NAND 1, NOR 1, AND 1.5, OR 1.5,
# XOR 2.5, XNOR 2.5, MUX 2.5.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lmul=${1:-}
if [[ -z "$lmul" ]]; then
  for c in "$root/build/energy/lmul" "$root/build/release/lmul" "$root/build/lmul"; do
    [[ -x "$c" ]] && { lmul=$c; break; }
  done
fi
out=${2:-$root/analysis/energy/gates_report.json}
command -v yosys >/dev/null || { echo "synth_report: yosys not found; hint: apt-get install yosys" >&2; exit 1; }
[[ -x "$lmul" ]] || { echo "synth_report: lmul binary not found; hint: pass it as the first argument" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
specs="lmul/e4m3 mitchell/e4m3 exact/e4m3 lmul/e5m2 mitchell/e5m2 exact/e5m2 lmul/bf16 mitchell/bf16 exact/bf16 lmul/fp16 mitchell/fp16 exact/fp16 lmul/e8m3 exact/e8m3"
ysv=$(yosys -V | head -1)
{
  echo "{"
  echo "  \"tool\": \"scripts/synth_report.sh\","
  echo "  \"yosys\": \"$ysv\","
  echo "  \"lmul_commit\": \"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -z "$(git -C "$root" status --porcelain -- hw 2>/dev/null)" ]] || echo +uncommitted-hw)\","
  echo "  \"date_utc\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"flow\": \"synth -flatten -top NAME; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat\","
  echo "  \"nand2_weights\": {\"NOT\": 0.5, \"NAND\": 1, \"NOR\": 1, \"AND\": 1.5, \"OR\": 1.5, \"XOR\": 2.5, \"XNOR\": 2.5, \"MUX\": 2.5},"
  echo "  \"modules\": ["
  first=1
  for s in $specs; do
    name=$(echo "$s" | tr '/,' '__')
    "$lmul" rtl --arith "$s" --module "$name" --out "$tmp/$name.v"
    yosys -q -p "read_verilog $tmp/$name.v; synth -flatten -top $name; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; tee -o $tmp/$name.stat stat" >/dev/null
    line=$(awk -v spec="$s" '
      /\$_[A-Z]+_/ { g=$0; gsub(/.*\$_/, "", g); gsub(/_.*/, "", g); n=$NF; if (n ~ /^[0-9]+$/) c[g]+=n }
      END {
        w["NOT"]=0.5; w["NAND"]=1; w["NOR"]=1; w["AND"]=1.5; w["OR"]=1.5; w["XOR"]=2.5; w["XNOR"]=2.5; w["MUX"]=2.5;
        tot=0; ge=0; s="";
        for (k in c) { tot+=c[k]; ge+=c[k]*w[k]; s=s sprintf("%s\"%s\": %d", (s==""?"":", "), k, c[k]) }
        printf "{\"arith\": \"%s\", \"cells\": %d, \"nand2_eq\": %.1f, \"by_type\": {%s}}", spec, tot, ge, s
      }' "$tmp/$name.stat")
    [[ $first == 1 ]] || echo ","
    first=0
    printf '    %s' "$line"
    echo "synth_report: $line" >&2
  done
  echo
  echo "  ]"
  echo "}"
} >"$tmp/report.json"
cp "$tmp/report.json" "$out"
echo "synth_report: wrote $out" >&2
