#!/usr/bin/env bash
# Synthesizes the generated multipliers and MAC / dot-product units (lmul rtl)
# with Yosys and writes the gate report (JSON) and its markdown rendering.
#
#   scripts/synth_report.sh [LMUL_BINARY] [OUT_JSON] [OUT_MD]
#   defaults: build/release/lmul, analysis/energy/gates_report.json, docs/hw_synth.md
#   LMUL_SYNTH_JOBS=N parallel Yosys runs (default 2)
#
# Two flows per module (both flattened):
#  generic: synth -flatten -top NAME; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat
#    NAND2-equivalent weights (typical static-CMOS transistor-count ratios, stated here and
#    in docs/energy.md, not calibrated to a cell library): NOT 0.5, NAND 1, NOR 1, AND 1.5,
#    OR 1.5, XOR 2.5, XNOR 2.5, MUX 2.5; flip-flops (pipelined units) 4.5.
#  xilinx:  synth_xilinx -family xcup -nodsp -flatten -top NAME; stat
#    (AMD UltraScale+, VUB's device family; no DSP blocks, so multipliers are in LUTs
#    as in VUB's comparison). LUT = LUT1..LUT6, carry = CARRY4/CARRY8, ff = FD*.
# No openly licensed standard-cell liberty is installable here (docs/energy.md §6), so
# there is no abc -liberty / µm² flow.
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
command -v yosys >/dev/null || { echo "synth_report: yosys not found; hint: apt-get install yosys" >&2; exit 1; }
[[ -x "$lmul" ]] || { echo "synth_report: lmul binary not found; hint: pass it as the first argument" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name|flows|lmul rtl arguments (after --module/--out)
cat >"$tmp/jobs" <<'EOF'
lmul_e4m3|gx|--arith lmul/e4m3
mitchell_e4m3|g|--arith mitchell/e4m3
exact_e4m3|gx|--arith exact/e4m3
lmul_e5m2|gx|--arith lmul/e5m2
mitchell_e5m2|g|--arith mitchell/e5m2
exact_e5m2|gx|--arith exact/e5m2
lmul_bf16|gx|--arith lmul/bf16
mitchell_bf16|g|--arith mitchell/bf16
exact_bf16|gx|--arith exact/bf16
lmul_fp16|g|--arith lmul/fp16
mitchell_fp16|g|--arith mitchell/fp16
exact_fp16|g|--arith exact/fp16
lmul_e8m3|g|--arith lmul/e8m3
exact_e8m3|g|--arith exact/e8m3
lmul_fp32|gx|--arith lmul/fp32
exact_fp32|gx|--arith exact/fp32
mac_lmul_e4m3_fp32|gx|--unit mac --arith lmul/e4m3 --acc fp32
mac_exact_e4m3_fp32|gx|--unit mac --arith exact/e4m3 --acc fp32
mac_fused_e4m3_fp32|gx|--unit mac --arith exact/e4m3 --acc fp32 --fused
mac_lmul_e4m3_bf16|gx|--unit mac --arith lmul/e4m3 --acc bf16
mac_exact_e4m3_bf16|gx|--unit mac --arith exact/e4m3 --acc bf16
mac_lmul_bf16_fp32|gx|--unit mac --arith lmul/bf16 --acc fp32
mac_exact_bf16_fp32|gx|--unit mac --arith exact/bf16 --acc fp32
mac_fused_bf16_fp32|gx|--unit mac --arith exact/bf16 --acc fp32 --fused
mac_lmul_bf16_bf16|gx|--unit mac --arith lmul/bf16 --acc bf16
mac_exact_bf16_bf16|gx|--unit mac --arith exact/bf16 --acc bf16
mac_lmul_fp32_fp32|gx|--unit mac --arith lmul/fp32 --acc fp32
mac_exact_fp32_fp32|gx|--unit mac --arith exact/fp32 --acc fp32
dot8_lmul_e4m3_fp32|g|--unit dot --lanes 8 --arith lmul/e4m3 --acc fp32
dot4_lmul_e4m3_fp32_s2|x|--unit dot --lanes 4 --arith lmul/e4m3 --acc fp32 --stages 2
EOF

synth_one() {
  local line=$1 name flows args
  IFS='|' read -r name flows args <<<"$line"
  # shellcheck disable=SC2086
  "$lmul" rtl $args --module "$name" --out "$tmp/$name.v"
  if [[ $flows == *g* ]]; then
    yosys -q -p "read_verilog $tmp/$name.v; synth -flatten -top $name; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; tee -o $tmp/$name.gstat stat" >/dev/null
  fi
  if [[ $flows == *x* ]]; then
    yosys -q -p "read_verilog $tmp/$name.v; synth_xilinx -family xcup -nodsp -flatten -top $name; tee -o $tmp/$name.xstat stat" >/dev/null
  fi
  echo "synth_report: $name done" >&2
}
export -f synth_one
export lmul tmp
start=$(date +%s)
xargs -P "$jobs" -I{} bash -c 'synth_one "$@"' _ {} <"$tmp/jobs"

python3 - "$tmp" "$out" "$md" "$(yosys -V | head -1)" \
  "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -z "$(git -C "$root" status --porcelain -- hw 2>/dev/null)" ]] || echo +uncommitted-hw)" \
  "$(grep -o -m1 'lmul [0-9][0-9.]*' "$tmp/lmul_e4m3.v" || echo lmul)" "$(( $(date +%s) - start ))" <<'PY'
import datetime, json, os, re, sys
tmp, out, md, yosys_v, commit, lmul_v, secs = sys.argv[1:8]
W = {"NOT": 0.5, "NAND": 1, "NOR": 1, "AND": 1.5, "OR": 1.5, "XOR": 2.5, "XNOR": 2.5, "MUX": 2.5, "FF": 4.5}
def cells(path):
    c = {}
    for line in open(path):
        m = re.match(r"\s+(\S+)\s+(\d+)\s*$", line)
        if m: c[m.group(1)] = c.get(m.group(1), 0) + int(m.group(2))
    return c
mods, missing = [], []
for line in open(f"{tmp}/jobs"):
    name, flows, args = line.rstrip("\n").split("|")
    if any(not os.path.exists(f"{tmp}/{name}.{f}stat") for f in flows):
        missing.append(name)  # a Yosys run failed or was not run
        continue
    e = {"name": name, "rtl": args}
    a = re.search(r"--arith (\S+)", args).group(1)
    e["arith"] = a
    if "--unit" in args:
        e["unit"] = re.search(r"--unit (\S+)", args).group(1)
        e["acc"] = (re.search(r"--acc (\S+)", args) or [None, "fp32"])[1]
        e["lanes"] = int((re.search(r"--lanes (\d+)", args) or [None, "1"])[1])
        e["fused"] = "--fused" in args
        e["stages"] = int((re.search(r"--stages (\d+)", args) or [None, "0"])[1])
    if "g" in flows:
        c = cells(f"{tmp}/{name}.gstat")
        by = {}
        for k, n in c.items():
            m = re.match(r"\$_(\w+?)_$", k)
            if m: by[m.group(1)] = by.get(m.group(1), 0) + n
            elif k.startswith("$_DFF") or k.startswith("$_SDFF"): by["FF"] = by.get("FF", 0) + n
        e["cells"] = sum(by.values())
        e["nand2_eq"] = round(sum(n * W.get(k, 2.5) for k, n in by.items()), 1)
        e["by_type"] = by
    if "x" in flows:
        c = cells(f"{tmp}/{name}.xstat")
        e["xilinx"] = {
            "lut": sum(n for k, n in c.items() if re.fullmatch(r"LUT[1-6]", k)),
            "carry": sum(n for k, n in c.items() if k.startswith("CARRY")),
            "ff": sum(n for k, n in c.items() if k.startswith("FD")),
            "muxf": sum(n for k, n in c.items() if k.startswith("MUXF")),
            "by_type": {k: n for k, n in c.items() if not k.startswith("$") and k not in ("IBUF", "OBUF")},
        }
    mods.append(e)
rep = {
    "tool": "scripts/synth_report.sh",
    "yosys": yosys_v,
    "lmul": lmul_v,
    "lmul_commit": commit,
    "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "seconds": int(secs),
    "flow": "generic: synth -flatten -top NAME; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat. "
            "xilinx: synth_xilinx -family xcup -nodsp -flatten -top NAME; stat",
    "nand2_weights": W,
    "modules": mods,
    "not_synthesized": missing,
}
json.dump(rep, open(out, "w"), indent=1)
open(out, "a").write("\n")
L = [f"# Synthesis report (generated by scripts/synth_report.sh; do not edit)\n",
     f"{yosys_v}; {lmul_v}; lmul commit {commit}; {rep['date_utc']}; {secs} s.\n",
     f"Flows: {rep['flow']}.\n",
     "NAND2-eq weights: " + ", ".join(f"{k} {v}" for k, v in W.items()) + " (not calibrated to a cell library).\n",
     ("Not synthesized in this run: " + ", ".join(missing) + ".\n" if missing else ""),
     "| module | lmul rtl arguments | generic cells | NAND2-eq | xcup LUT | CARRY | FF | MUXF |",
     "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for e in mods:
    x = e.get("xilinx", {})
    L.append(f"| {e['name']} | `{e['rtl']}` | {e.get('cells', '—')} | {e.get('nand2_eq', '—')} | "
             f"{x.get('lut', '—')} | {x.get('carry', '—')} | {x.get('ff', '—')} | {x.get('muxf', '—')} |")
open(md, "w").write("\n".join(L) + "\n")
PY
echo "synth_report: wrote $out and $md" >&2
