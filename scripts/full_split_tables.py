#!/usr/bin/env python3
"""Markdown tables of the full-split evaluation (scripts/eval_full.sh) for docs/results.md.

For each TASK:SHARDS, a task whose shard JSONs are all in OUT_DIR is merged with
`lmul eval merge --json` into OUT_DIR/TASK_full.json and printed as a markdown table (one
column per arithmetic, deltas to the first); an incomplete one is merged with `lmul eval
merge --partial --json` into OUT_DIR/TASK_partial.json (a JSON marked "partial", which merge
refuses as input) and printed the same way, as the results of the shards so far (each shard
the systematic sample index % N == I). Shard wall times come from the .time files
eval_full.sh writes.

  scripts/full_split_tables.py "$LMUL_RUNS"/evalruns                       # print
  scripts/full_split_tables.py "$LMUL_RUNS"/evalruns --update docs/results.md

--update replaces the text between the lines `<!-- full-splits:tables:begin -->` and
`<!-- full-splits:tables:end -->` of the given file (the prose around them is written by hand).
Standard library only.
"""
import argparse
import json
import os
import re
import subprocess
import sys

BEGIN = "<!-- full-splits:tables:begin -->"
END = "<!-- full-splits:tables:end -->"


def fmt(x):
    if abs(x) >= 10:
        return f"{x:.2f}"
    if abs(x) >= 1:
        return f"{x:.3f}"
    return f"{x:.3g}" if abs(x) < 0.01 else f"{x:.4f}"


def markdown_table(results, task):
    rows = [r for r in results if r["task"] == task]
    ariths, metrics = [], []
    for r in rows:
        if r["arith"] not in ariths:
            ariths.append(r["arith"])
        if r["metric"] not in metrics:
            metrics.append(r["metric"])
    val = {(r["arith"], r["metric"]): r for r in rows}
    out = ["| task | metric | " + " | ".join(ariths) + " |",
           "| --- | --- | " + " | ".join(["---:"] * len(ariths)) + " |"]
    for m in metrics:
        cells = []
        ref = val.get((ariths[0], m))
        for a in ariths:
            r = val.get((a, m))
            if r is None:
                cells.append("–")
                continue
            v = r["value"]
            if m in ("acc", "acc_norm"):
                cells.append(f"{v:.4f} ± {r['stderr']:.4f}" if a == ariths[0]
                             else f"{v:.4f} ({v - ref['value']:+.4f})")
            elif "flips_" in m:
                cells.append(str(int(v)))
            elif m in ("kl", "top1_agree") or m.endswith("mcnemar_p") or m.startswith("mean_abs"):
                cells.append(fmt(v))
            elif a == ariths[0] or ref is None:
                cells.append(fmt(v))
            else:
                cells.append(f"{fmt(v)} ({v - ref['value']:+.3f})")
        out.append(f"| {task} | {m} | " + " | ".join(cells) + " |")
    # n per metric of the reference column (words, bytes, tokens or examples).
    ns = {r["metric"]: r["n"] for r in rows if r["arith"] == ariths[0]}
    if len(set(ns.values())) == 1:
        count = f"{next(iter(ns.values())):,}"
    else:
        count = "; ".join(f"{m} {n:,}" for m, n in ns.items())
    return "\n".join(out), count


def shard_times(files):
    times = []
    for f in files:
        t = f[:-len(".json")] + ".time"
        if os.path.exists(t):
            # eval_full.sh: "N s wall, ..."; lmul's own stderr line: "wall N s; ..."
            m = re.search(r"([0-9.]+) s wall|wall ([0-9.]+) s", open(t).read())
            if m:
                times.append(str(round(float(m.group(1) or m.group(2)))))
    return times


def section(out_dir, lmul, tasks):
    parts = []
    for item in tasks:
        task, n = item.split(":")
        n = int(n)
        files = [os.path.join(out_dir, f"{task}_s{i}of{n}.json") for i in range(n)]
        have = [f for f in files if os.path.exists(f) and os.path.getsize(f) > 0]
        if not have:
            parts.append(f"### {task}: no shard yet\n")
            continue
        times = ", ".join(shard_times(have))
        if len(have) == n:
            merged = os.path.join(out_dir, f"{task}_full.json")
            subprocess.run([lmul, "eval", "merge", "--json", merged] + files, check=True,
                           stdout=subprocess.DEVNULL)
            with open(merged) as f:
                table, count = markdown_table(json.load(f)["results"], task)
            parts.append(f"### {task}: all {n} shards\n\n{table}\n\n"
                         f"n = {count}; shard wall times (s): {times}\n")
        else:
            merged = os.path.join(out_dir, f"{task}_partial.json")
            subprocess.run([lmul, "eval", "merge", "--partial", "--json", merged] + have,
                           check=True, stdout=subprocess.DEVNULL)
            with open(merged) as f:
                table, count = markdown_table(json.load(f)["results"], task)
            idx = sorted(int(re.search(r"_s(\d+)of", f).group(1)) for f in have)
            parts.append(f"### {task}: shards {', '.join(map(str, idx))} of {n} (results so far)\n\n"
                         f"{table}\n\nn = {count}; shard wall times (s): {times}\n")
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--lmul", default="build/release/lmul", help="lmul binary (default: %(default)s)")
    ap.add_argument("--tasks", default="lambada:8 wikitext2:8 hellaswag:16",
                    help="TASK:SHARDS list, space separated (default: %(default)s)")
    ap.add_argument("--update", metavar="FILE", help="replace the marked block of FILE")
    args = ap.parse_args()
    body = section(args.out_dir, args.lmul, args.tasks.split())
    if not args.update:
        print(body)
        return 0
    with open(args.update) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        print(f"full_split_tables.py: {args.update} has no '{BEGIN}' ... '{END}' block",
              file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(args.update, "w") as f:
        f.write(head + BEGIN + "\n" + body + END + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
