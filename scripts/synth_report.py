#!/usr/bin/env python3
"""Merges one scripts/synth_report.sh run into the gate report and renders it.

Reads the Yosys `stat` outputs (NAME.{g,x,i,e}stat) and nextpnr-ice40 logs
(NAME.pnr.log) of the run's temporary folder, replaces those (module, flow)
figures in OUT_JSON (keeping every other figure and the run that produced it)
and writes OUT_JSON and its markdown table OUT_MD.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from typing import Any

W = {"NOT": 0.5, "NAND": 1, "NOR": 1, "AND": 1.5, "OR": 1.5, "XOR": 2.5, "XNOR": 2.5,
     "MUX": 2.5, "FF": 4.5}
FLOWS = {
    "g": ("generic", "synth -flatten -top NAME; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; "
                     "opt_clean; stat"),
    "x": ("xilinx", "synth_xilinx -family xcup -nodsp -flatten -top NAME; stat"),
    "i": ("ice40", "synth_ice40 -top NAME; stat"),
    "e": ("ecp5", "synth_ecp5 -nodsp -top NAME; stat"),
    "p": ("ice40_pnr", "nextpnr-ice40 --hx8k --package ct256 --seed 1 --timing-allow-fail"),
}


def cells(path: str) -> dict[str, int]:
    c: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s+(\S+)\s+(\d+)\s*$", line)
            if m:
                c[m.group(1)] = c.get(m.group(1), 0) + int(m.group(2))
    return c


def prims(c: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in c.items() if not k.startswith("$") and k not in ("IBUF", "OBUF")}


def generic(path: str) -> dict[str, Any]:
    by: dict[str, int] = {}
    for k, n in cells(path).items():
        m = re.match(r"\$_(\w+?)_$", k)
        if k.startswith("$_DFF") or k.startswith("$_SDFF"):
            by["FF"] = by.get("FF", 0) + n
        elif m:
            by[m.group(1)] = by.get(m.group(1), 0) + n
    return {"cells": sum(by.values()),
            "nand2_eq": round(sum(n * W.get(k, 2.5) for k, n in by.items()), 1), "by_type": by}


def xilinx(path: str) -> dict[str, Any]:
    c = cells(path)
    return {"lut": sum(n for k, n in c.items() if re.fullmatch(r"LUT[1-6]", k)),
            "carry": sum(n for k, n in c.items() if k.startswith("CARRY")),
            "ff": sum(n for k, n in c.items() if k.startswith("FD")),
            "muxf": sum(n for k, n in c.items() if k.startswith("MUXF")), "by_type": prims(c)}


def ice40(path: str) -> dict[str, Any]:
    c = cells(path)
    return {"lut": c.get("SB_LUT4", 0), "carry": c.get("SB_CARRY", 0),
            "ff": sum(n for k, n in c.items() if k.startswith("SB_DFF")), "by_type": prims(c)}


def ecp5(path: str) -> dict[str, Any]:
    c = cells(path)
    return {"lut": c.get("LUT4", 0) + 2 * c.get("CCU2C", 0), "lut4": c.get("LUT4", 0),
            "carry": c.get("CCU2C", 0), "ff": c.get("TRELLIS_FF", 0),
            "muxf": c.get("PFUMX", 0) + c.get("L6MUX21", 0), "by_type": prims(c)}


def pnr(log_path: str) -> dict[str, Any] | None:
    """Logic cells, fmax or the longest combinational path from a nextpnr-ice40 log."""
    r: dict[str, Any] = {}
    text = open(log_path).read()
    m = re.findall(r"ICESTORM_LC:\s+(\d+)/\s*(\d+)", text)
    if m:
        r["lc"], r["lc_available"] = int(m[-1][0]), int(m[-1][1])
    f = re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", text)
    if f:
        r["fmax_mhz"] = float(f[-1])
    d = re.findall(r"Max delay <async> -> <async>\s*:\s+([\d.]+) ns", text)
    if d:
        r["comb_delay_ns"] = float(d[-1])
    return r or None


def read_jobs(path: str) -> list[tuple[str, str, str]]:
    with open(path) as f:
        return [tuple(line.rstrip("\n").split("|")) for line in f if line.strip()]  # type: ignore


def describe(name: str, args: str) -> dict[str, Any]:
    e: dict[str, Any] = {"name": name, "rtl": args,
                         "arith": re.search(r"--arith (\S+)", args).group(1)}  # type: ignore
    if "--unit" in args:
        e["unit"] = re.search(r"--unit (\S+)", args).group(1)  # type: ignore
        e["acc"] = (re.search(r"--acc (\S+)", args) or [None, "fp32"])[1]
        e["lanes"] = int((re.search(r"--lanes (\d+)", args) or [None, "1"])[1])
        e["fused"] = "--fused" in args
        e["stages"] = int((re.search(r"--stages (\d+)", args) or [None, "0"])[1])
    return e


def legacy_run(old: dict[str, Any]) -> dict[str, Any]:
    """A report written before runs were recorded: its header becomes run r1."""
    run = {k: old[k] for k in ("yosys", "lmul", "lmul_commit", "date_utc", "seconds", "note")
           if k in old}
    run["id"] = "r1"
    run["flows"] = "gx"
    return run


def main() -> int:
    p = argparse.ArgumentParser()
    for a in ("tmp", "out", "md", "all-jobs", "jobs", "yosys", "nextpnr", "lmul", "commit",
              "note", "nice", "selection"):
        p.add_argument("--" + a, default="")
    p.add_argument("--seconds", type=int, default=0)
    a = p.parse_args()

    old: dict[str, Any] = {}
    if os.path.exists(a.out):
        try:
            old = json.load(open(a.out))
        except (OSError, json.JSONDecodeError) as err:
            print(f"synth_report: {a.out}: not JSON ({err}); starting a new report",
                  file=sys.stderr)
    runs: list[dict[str, Any]] = list(old.get("runs", []))
    old_mods = {m["name"]: m for m in old.get("modules", []) if isinstance(m, dict) and "name" in m}
    if old_mods and not runs:
        runs = [legacy_run(old)]
        for m in old_mods.values():
            m["runs"] = {f: "r1" for f in ("generic", "xilinx")
                         if (f == "generic" and "cells" in m) or (f == "xilinx" and f in m)}
    run_id = f"r{len(runs) + 1}"
    this = read_jobs(a.jobs)
    run = {"id": run_id, "yosys": a.yosys, "lmul": a.lmul, "lmul_commit": a.commit,
           "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "seconds": a.seconds, "nice": int(a.nice or 0),
           "modules": [f"{n}:{f}" for n, f, _ in this]}
    if a.nextpnr:
        run["nextpnr"] = a.nextpnr
    if a.note:
        run["note"] = a.note
    if a.selection:
        run["selection"] = a.selection
    runs.append(run)

    mods: list[dict[str, Any]] = []
    missing: list[str] = []
    for name, flows, args in read_jobs(a.all_jobs):
        e = describe(name, args)
        prev = old_mods.get(name, {})
        if prev.get("rtl") == args:  # keep the figures of flows not rerun
            for k, v in prev.items():
                if k not in e:
                    e[k] = v
        e.setdefault("runs", {})
        e.setdefault("seconds", {})
        for n, f_run, _ in this:
            if n != name:
                continue
            for f in sorted(set(f_run) | ({"i"} if "p" in f_run else set())):
                key = FLOWS[f][0]
                t = f"{a.tmp}/{name}"
                got: dict[str, Any] | None = None
                if f == "p":
                    got = pnr(t + ".pnr.log") if os.path.exists(t + ".p.secs") else None
                    secs = t + ".p.secs"
                else:
                    stat = f"{t}.{f}stat"
                    secs = f"{t}.{f}.secs"
                    if os.path.exists(stat) and os.path.exists(secs):
                        got = {"g": generic, "x": xilinx, "i": ice40, "e": ecp5}[f](stat)
                if got is None:
                    missing.append(f"{name}:{key}")
                    continue
                if f == "g":
                    e.update(got)
                else:
                    e[key] = got
                e["runs"][key] = run_id
                e["seconds"][key] = int(open(secs).read().strip() or 0)
        for f in flows:
            key = FLOWS[f][0]
            if key not in e["runs"] and f"{name}:{key}" not in missing:
                missing.append(f"{name}:{key}")
        mods.append(e)

    rep = {"tool": "scripts/synth_report.sh", "yosys": a.yosys, "lmul_commit": a.commit,
           "date_utc": run["date_utc"],
           "flow": "; ".join(f"{k}: {v}" for k, v in FLOWS.values()),
           "flows": {k: v for k, v in FLOWS.values()}, "nand2_weights": W, "runs": runs,
           "modules": mods, "not_synthesized": missing}
    with open(a.out, "w") as f:
        json.dump(rep, f, indent=1)
        f.write("\n")
    write_md(a.md, rep)
    return 0


def cell(e: dict[str, Any], key: str, field: str) -> str:
    v = e.get(key, {}).get(field) if key else e.get(field)
    return "—" if v is None else str(v)


def write_md(path: str, rep: dict[str, Any]) -> None:
    L = ["# Synthesis report (generated by scripts/synth_report.sh; do not edit)", "",
         "Every figure names the run that produced it (column *runs*: generic, xilinx, ice40, "
         "ecp5, pnr); the runs, with tool versions and dates:", "",
         "| run | tools | lmul commit | date (UTC) | seconds | nice | note |",
         "| --- | --- | --- | --- | ---: | ---: | --- |"]
    for r in rep["runs"]:
        tools = r.get("yosys", "") + ("; " + r["nextpnr"] if r.get("nextpnr") else "")
        L.append(f"| {r['id']} | {tools} | {r.get('lmul_commit', '')} | {r.get('date_utc', '')} | "
                 f"{r.get('seconds', '')} | {r.get('nice', '—')} | {r.get('note', '')} |")
    L += ["", "Flows (all flattened):", ""]
    L += [f"- {k}: `{v}`" for k, v in rep["flows"].items()]
    L += ["", "NAND2-eq weights: " + ", ".join(f"{k} {v}" for k, v in rep["nand2_weights"].items())
          + " (not calibrated to a cell library). ice40 LUT = SB_LUT4 (SB_CARRY shares the "
          "logic cell); ecp5 LUT = LUT4 + 2 × CCU2C; xcup LUT = LUT1..LUT6.", ""]
    if rep["not_synthesized"]:
        L += ["Not synthesized (module:flow): " + ", ".join(rep["not_synthesized"]) + ".", ""]
    L += ["| module | lmul rtl arguments | generic cells | NAND2-eq | xcup LUT | CARRY | FF | MUXF "
          "| ice40 LUT4 | CARRY | FF | ecp5 LUT | CCU2C | FF | ice40 P&R LC | fmax MHz / comb ns "
          "| runs |",
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: | ---: | --- |"]
    for e in rep["modules"]:
        pr = e.get("ice40_pnr", {})
        timing = (f"{pr['fmax_mhz']} MHz" if "fmax_mhz" in pr else
                  f"{pr['comb_delay_ns']} ns" if "comb_delay_ns" in pr else "—")
        runs = ",".join(e.get("runs", {}).get(k, "-")
                        for k in ("generic", "xilinx", "ice40", "ecp5", "ice40_pnr"))
        L.append(
            f"| {e['name']} | `{e['rtl']}` | {cell(e, '', 'cells')} | {cell(e, '', 'nand2_eq')} | "
            + " | ".join(cell(e, "xilinx", f) for f in ("lut", "carry", "ff", "muxf")) + " | "
            + " | ".join(cell(e, "ice40", f) for f in ("lut", "carry", "ff")) + " | "
            + " | ".join(cell(e, "ecp5", f) for f in ("lut", "carry", "ff")) + " | "
            + f"{cell(e, 'ice40_pnr', 'lc')} | {timing} | {runs} |")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
