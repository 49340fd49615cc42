#!/usr/bin/env python3
"""KL of a model against a reference model (two GGUFs, the lmul engine), for the fine-tuning
experiment (scripts/finetune_experiment.sh, docs/results.md § Fine-tuning under L-Mul).

`lmul eval` compares arithmetics on one model; this compares two models on the same token ids:
mean over positions of KL(p_ref || p_model) in nats, p_ref = the reference model under fp32,
p_model = the model under each --arith, and the top-1 agreement.

Inputs (the test split the task is evaluated on, a fixed prefix of it):
  arc_easy:  the first --examples ARC-Easy test questions with their gold answer,
             `Question: {stem}\\nAnswer: {gold}` (every position of each);
  wikitext2: the first --tokens tokens of the WikiText-2 test split (raw text), windows of 512.

  scripts/finetune_kl.py --ref FT_FP32.gguf --model FT_X.gguf --arith fp32,lmul-all-k3 \\
      --task arc_easy --data-dir DIR --json out.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

import lmul.engine as le


def sequences(task: str, data: pathlib.Path, model: le.Model, examples: int, tokens: int) -> list[list[int]]:
    if task == "arc_easy":
        out = []
        for line in (data / "arc-easy" / "ARC-Easy-Test.jsonl").read_text().splitlines()[:examples]:
            row = json.loads(line)
            gold = {c["label"]: c["text"] for c in row["question"]["choices"]}[row["answerKey"]]
            out.append(model.tokenize(f"Question: {row['question']['stem']}\nAnswer: {gold}", add_bos=False))
        return out
    if task == "wikitext2":
        text = (data / "wikitext-2-raw" / "wiki.test.raw").read_text()[: tokens * 8]
        ids = model.tokenize(text, add_bos=False)[:tokens]
        return [ids[i:i + 512] for i in range(0, len(ids), 512)]
    raise SystemExit(f"finetune_kl.py: --task: expected arc_easy or wikitext2, got {task!r}")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", required=True, help="reference GGUF (run under fp32)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--arith", default="fp32", help="comma-separated presets for --model")
    ap.add_argument("--task", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    ref, model = le.Model(a.ref), le.Model(a.model)
    seqs = sequences(a.task, pathlib.Path(a.data_dir), ref, a.examples, a.tokens)
    ariths = a.arith.split(",")
    kl = {x: 0.0 for x in ariths}
    top1 = {x: 0 for x in ariths}
    n = 0
    for i, ids in enumerate(seqs):
        lr = log_softmax(le.Session(ref, "fp32", n_ctx=len(ids), threads=a.threads).forward(ids))
        for x in ariths:
            lm = log_softmax(le.Session(model, x, n_ctx=len(ids), threads=a.threads).forward(ids))
            kl[x] += float((np.exp(lr) * (lr - lm)).sum())
            top1[x] += int((lr.argmax(-1) == lm.argmax(-1)).sum())
        n += len(ids)
        print(f"\rkl {a.task}: {i + 1}/{len(seqs)} sequences", end="", file=sys.stderr)
    print(file=sys.stderr)
    out = {"task": a.task, "ref": a.ref, "ref_arith": "fp32", "model": a.model, "positions": n,
           "sequences": len(seqs), "kl": {x: kl[x] / n for x in ariths}, "top1_agree": {x: top1[x] / n for x in ariths}}
    pathlib.Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
