#!/usr/bin/env bash
# Synthesizes the generated multipliers and MAC / dot-product units (lmul rtl)
# with Yosys (and places & routes the small ones with nextpnr-ice40) and writes
# the gate report (JSON) and its markdown rendering (scripts/synth_report.py).
#
#   scripts/synth_report.sh [LMUL_BINARY] [OUT_JSON] [OUT_MD]
#   defaults: build/release/lmul, analysis/energy/gates_report.json, docs/hw_synth.md
#   LMUL_SYNTH_JOBS=N     parallel Yosys runs (default 2)
#   LMUL_SYNTH_ONLY=RE    only the modules whose name matches the extended regex RE
#   LMUL_SYNTH_FLOWS=gx.. only these flows (letters below) of each module's list
#   LMUL_SYNTH_NOTE=TEXT  a note recorded with this run (e.g. "nice 10, shared machine")
# Results are merged into OUT_JSON: a (module, flow) that this run synthesized
# replaces the old figure, every other figure stays, and each figure names the
# run (Yosys/nextpnr version, lmul commit, date, seconds) that produced it.
#
# Flows (all flattened; letters as in the job list):
#  g generic: synth -flatten -top NAME; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat
#    NAND2-equivalent weights (typical static-CMOS transistor-count ratios, stated here and
#    in docs/energy.md, not calibrated to a cell library): NOT 0.5, NAND 1, NOR 1, AND 1.5,
#    OR 1.5, XOR 2.5, XNOR 2.5, MUX 2.5; flip-flops (pipelined units) 4.5.
#  x xilinx: synth_xilinx -family xcup -nodsp -flatten -top NAME; stat
#    (AMD UltraScale+, VUB's device family; no DSP blocks, so multipliers are in LUTs
#    as in VUB's comparison). LUT = LUT1..LUT6, carry = CARRY4/CARRY8, ff = FD*.
#  i ice40: synth_ice40 -top NAME; stat (Lattice iCE40, LUT4; no DSP: SB_MAC16 only with -dsp)
#    lut = SB_LUT4, carry = SB_CARRY (in the same logic cell as a LUT), ff = SB_DFF*.
#  e ecp5: synth_ecp5 -nodsp -top NAME; stat (Lattice ECP5, LUT4)
#    lut = LUT4 + 2 x CCU2C (a CCU2C is the two LUT4s of a slice in carry mode), carry =
#    CCU2C, ff = TRELLIS_FF, muxf = PFUMX + L6MUX21.
#  p nextpnr-ice40 --hx8k --package ct256 (after flow i): place & route on an iCE40HX8K,
#    seed 1; fmax (clocked units) or the longest combinational path (multipliers), and
#    the logic cells used. Skipped (and said so) where nextpnr-ice40 is not installed.
# No openly licensed standard-cell liberty with timing is installable here
# (docs/energy.md §6.5); the sky130 area flow is scripts/sky130_area.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lmul=${1:-}
if [[ -z "$lmul" ]]; then
  for c in "$root/build/release/lmul" "$root/build/energy/lmul" "$root/build/lmul"; do
    [[ -x "$c" ]] && { lmul=$c; break; }
  done
fi
out=${2:-$root/analysis/energy/gates_report.json}
md=${3:-$root/docs/hw_synth.md}
jobs=${LMUL_SYNTH_JOBS:-2}
only=${LMUL_SYNTH_ONLY:-}
flows_only=${LMUL_SYNTH_FLOWS:-gxiep}
command -v yosys >/dev/null || { echo "synth_report: yosys not found; hint: apt-get install yosys" >&2; exit 1; }
[[ -x "$lmul" ]] || { echo "synth_report: lmul binary not found; hint: pass it as the first argument" >&2; exit 1; }
[[ "$jobs" =~ ^[1-9][0-9]?$ ]] || { echo "synth_report: LMUL_SYNTH_JOBS: expected 1..99, got '$jobs'" >&2; exit 2; }
[[ "$flows_only" =~ ^[gxiep]+$ ]] || { echo "synth_report: LMUL_SYNTH_FLOWS: expected letters of gxiep, got '$flows_only'" >&2; exit 2; }
have_pnr=0
command -v nextpnr-ice40 >/dev/null && have_pnr=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name|flows|lmul rtl arguments (after --module/--out)
cat >"$tmp/all_jobs" <<'EOF'
lmul_e4m3|gxiep|--arith lmul/e4m3
mitchell_e4m3|g|--arith mitchell/e4m3
exact_e4m3|gxiep|--arith exact/e4m3
lmul_e5m2|gxiep|--arith lmul/e5m2
mitchell_e5m2|g|--arith mitchell/e5m2
exact_e5m2|gxiep|--arith exact/e5m2
lmul_bf16|gxiep|--arith lmul/bf16
mitchell_bf16|g|--arith mitchell/bf16
exact_bf16|gxiep|--arith exact/bf16
lmul_fp16|g|--arith lmul/fp16
mitchell_fp16|g|--arith mitchell/fp16
exact_fp16|g|--arith exact/fp16
lmul_e8m3|g|--arith lmul/e8m3
exact_e8m3|g|--arith exact/e8m3
lmul_fp32|gxie|--arith lmul/fp32
exact_fp32|gxie|--arith exact/fp32
mac_lmul_e4m3_fp32|gxiep|--unit mac --arith lmul/e4m3 --acc fp32
mac_exact_e4m3_fp32|gxiep|--unit mac --arith exact/e4m3 --acc fp32
mac_fused_e4m3_fp32|gxie|--unit mac --arith exact/e4m3 --acc fp32 --fused
mac_lmul_e4m3_bf16|gxie|--unit mac --arith lmul/e4m3 --acc bf16
mac_exact_e4m3_bf16|gxie|--unit mac --arith exact/e4m3 --acc bf16
mac_lmul_bf16_fp32|gxie|--unit mac --arith lmul/bf16 --acc fp32
mac_exact_bf16_fp32|gxie|--unit mac --arith exact/bf16 --acc fp32
mac_fused_bf16_fp32|gxie|--unit mac --arith exact/bf16 --acc fp32 --fused
mac_lmul_bf16_bf16|gxie|--unit mac --arith lmul/bf16 --acc bf16
mac_exact_bf16_bf16|gxie|--unit mac --arith exact/bf16 --acc bf16
mac_lmul_fp32_fp32|gxie|--unit mac --arith lmul/fp32 --acc fp32
mac_exact_fp32_fp32|gxie|--unit mac --arith exact/fp32 --acc fp32
dot8_lmul_e4m3_fp32|gxie|--unit dot --lanes 8 --arith lmul/e4m3 --acc fp32
dot4_lmul_e4m3_fp32_s2|gxie|--unit dot --lanes 4 --arith lmul/e4m3 --acc fp32 --stages 2
dot4_exact_e4m3_fp32_s2|gxie|--unit dot --lanes 4 --arith exact/e4m3 --acc fp32 --stages 2
dot8_exact_e4m3_fp32|gxie|--unit dot --lanes 8 --arith exact/e4m3 --acc fp32
EOF
# This run's jobs: the modules LMUL_SYNTH_ONLY selects, their flows cut to LMUL_SYNTH_FLOWS.
while IFS='|' read -r name flows args; do
  [[ -z "$only" || "$name" =~ $only ]] || continue
  f=""
  for ((k = 0; k < ${#flows}; k++)); do
    c=${flows:k:1}
    [[ $flows_only == *"$c"* ]] || continue
    [[ $c == p && $have_pnr == 0 ]] && continue
    f+=$c
  done
  [[ -n "$f" ]] && echo "$name|$f|$args"
done <"$tmp/all_jobs" >"$tmp/jobs"
[[ -s "$tmp/jobs" ]] || { echo "synth_report: no module/flow selected (LMUL_SYNTH_ONLY='$only', LMUL_SYNTH_FLOWS='$flows_only')" >&2; exit 2; }
echo "synth_report: $(wc -l <"$tmp/jobs") modules, $jobs in parallel$([[ $have_pnr == 1 ]] || echo '; nextpnr-ice40 not installed: no place & route')" >&2

# Runs one Yosys script, recording its wall seconds in $tmp/NAME.F.secs.
yosys_flow() {
  local name=$1 f=$2 script=$3 t0
  t0=$(date +%s)
  if yosys -q -p "$script" >"$tmp/$name.$f.log" 2>&1; then
    echo $(($(date +%s) - t0)) >"$tmp/$name.$f.secs"
  else
    echo "synth_report: $name: flow $f failed (Yosys log tail follows)" >&2
    tail -5 "$tmp/$name.$f.log" >&2
  fi
}
synth_one() {
  local line=$1 name flows args v t0
  IFS='|' read -r name flows args <<<"$line"
  v=$tmp/$name.v
  # shellcheck disable=SC2086
  "$lmul" rtl $args --module "$name" --out "$v"
  [[ $flows == *g* ]] && yosys_flow "$name" g "read_verilog $v; synth -flatten -top $name; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; tee -o $tmp/$name.gstat stat"
  [[ $flows == *x* ]] && yosys_flow "$name" x "read_verilog $v; synth_xilinx -family xcup -nodsp -flatten -top $name; tee -o $tmp/$name.xstat stat"
  if [[ $flows == *i* || $flows == *p* ]]; then
    yosys_flow "$name" i "read_verilog $v; synth_ice40 -top $name -json $tmp/$name.ice40.json; tee -o $tmp/$name.istat stat"
  fi
  [[ $flows == *e* ]] && yosys_flow "$name" e "read_verilog $v; synth_ecp5 -nodsp -top $name; tee -o $tmp/$name.estat stat"
  if [[ $flows == *p* && -f "$tmp/$name.ice40.json" ]]; then
    t0=$(date +%s)
    if nextpnr-ice40 --hx8k --package ct256 --seed 1 --timing-allow-fail --json "$tmp/$name.ice40.json" \
      --report "$tmp/$name.pnr.json" >"$tmp/$name.pnr.log" 2>&1; then
      echo $(($(date +%s) - t0)) >"$tmp/$name.p.secs"
    else
      echo "synth_report: $name: nextpnr-ice40 failed (log tail follows)" >&2
      tail -5 "$tmp/$name.pnr.log" >&2
    fi
  fi
  echo "synth_report: $name ($flows) done" >&2
}
export -f synth_one yosys_flow
export lmul tmp
# The commit and binary this run synthesizes (taken before it starts: a run takes long).
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$root" status --porcelain -- hw 2>/dev/null)" ]] || commit+="+uncommitted-hw"
lmul_v="$("$lmul" --version 2>/dev/null | head -1 || echo lmul)"
start=$(date +%s)
xargs -P "$jobs" -I{} bash -c 'synth_one "$@"' _ {} <"$tmp/jobs"

pnr_v=""
[[ $have_pnr == 1 ]] && pnr_v="$(nextpnr-ice40 --version 2>&1 | head -1)"
# The merge holds a lock on OUT_JSON's folder: partial runs may run concurrently.
flock "$(dirname "$out")" python3 "$root/scripts/synth_report.py" --tmp "$tmp" --out "$out" --md "$md" \
  --all-jobs "$tmp/all_jobs" --jobs "$tmp/jobs" --yosys "$(yosys -V | head -1)" --nextpnr "$pnr_v" \
  --lmul "$lmul_v" --commit "$commit" --seconds "$(($(date +%s) - start))" --nice "$(nice)" \
  --note "${LMUL_SYNTH_NOTE:-}" --selection "LMUL_SYNTH_ONLY='$only' LMUL_SYNTH_FLOWS=$flows_only"
echo "synth_report: wrote $out and $md" >&2
