"""scripts/finetune_summary.py on a synthetic record (bench/finetune_runs layout): the tables
read gzipped evaluations, merge the base model's per-arithmetic files, and compute the paired
McNemar tests from the per-question log-likelihoods."""

from __future__ import annotations

import gzip
import json
import math
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SUMMARY = REPO / "scripts" / "finetune_summary.py"
N = 40  # questions


def _eval(ariths: list[str], correct: dict[str, list[bool]]) -> dict:
    """An `lmul eval --json` result: question i answered correctly under arith a iff
    correct[a][i] (gold 0; loglik of choice 0 highest or lowest)."""
    examples = []
    for i in range(N):
        scores = {a: {"loglik": [-1.0, -2.0] if correct[a][i] else [-3.0, -2.0]} for a in ariths}
        examples.append({"task": "arc_easy", "index": i, "gold": 0, "norm_len": [1, 1], "scores": scores})
    results = []
    for a in ariths:
        acc = sum(correct[a]) / N
        results += [{"task": "arc_easy", "arith": a, "metric": m, "value": acc, "n": N} for m in ("acc", "acc_norm")]
    return {"arith": ariths, "results": results, "examples": examples}


def _write_gz(p: pathlib.Path, obj: dict) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(p, "wt", encoding="utf-8") as f:
        json.dump(obj, f)


def _run(root: pathlib.Path, name: str, steps: int) -> None:
    d = root / "arc_easy" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 3.0 - 0.01 * s, "tokens_s": 50.0,
                                                     "step_s": 20.0}) + "\n" for s in range(1, steps + 1)))
    (d / "summary.json").write_text(json.dumps({"config": {"steps": steps}, "steps_per_epoch": steps}))


def test_summary_reads_the_record(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "record"
    ref = [i % 4 != 0 for i in range(N)]  # 30/40 right
    k3 = [i % 4 != 0 or i < 12 for i in range(N)]  # 3 flips to right (0, 4, 8), none to wrong
    base_fp32 = [i % 2 == 0 for i in range(N)]  # 20/40
    base_k3 = [i % 2 == 0 and i < 30 for i in range(N)]  # 15/40
    _run(root, "fp32-ste", 12)
    _write_gz(root / "arc_easy" / "fp32-ste" / "eval.json.gz", _eval(["fp32"], {"fp32": ref}))
    _run(root, "lmul-all-k3-ste", 12)
    _write_gz(root / "arc_easy" / "lmul-all-k3-ste" / "eval.json.gz",
              _eval(["fp32", "lmul-all-k3"], {"fp32": ref, "lmul-all-k3": k3}))
    (root / "arc_easy" / "lmul-all-k3-ste" / "kl.json").write_text(
        json.dumps({"kl": {"fp32": 0.01, "lmul-all-k3": 0.125}, "top1_agree": {"fp32": 0.99, "lmul-all-k3": 0.75}}))
    base = root / "arc_easy" / "base"
    _write_gz(base / "eval.fp32.json.gz", _eval(["fp32"], {"fp32": base_fp32}))
    _write_gz(base / "eval.lmul-all-k3.json.gz", _eval(["lmul-all-k3"], {"lmul-all-k3": base_k3}))
    (base / "kl.fp32.json").write_text(json.dumps({"kl": {"fp32": 0.5}, "top1_agree": {"fp32": 0.6}}))
    (base / "kl.lmul-all-k3.json").write_text(json.dumps({"kl": {"lmul-all-k3": 0.625}, "top1_agree": {"lmul-all-k3": 0.5}}))

    out = subprocess.run([sys.executable, str(SUMMARY), str(root)], capture_output=True, text=True, check=True).stdout
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in out.splitlines()
            if line.startswith("| base |") or line.startswith("| FT ")}
    # The base model's two files merged: one row per arithmetic, with its KL.
    assert "0.5000" in rows[("base", "fp32")] and "| 0.5000 | 0.600 |" in rows[("base", "fp32")]
    assert "0.3750" in rows[("base", "lmul-all-k3")] and "| 0.6250 | 0.500 |" in rows[("base", "lmul-all-k3")]
    # base fp32 vs fp32-FT: FT right where i % 4 != 0 (30), base right where i even (20):
    # flips to right (FT base→wrong?) computed as y=base against x=ref: right = base right & ref wrong
    # (i % 4 == 0: 10, all even), wrong = ref right & base wrong (odd i: 20).
    p = 2 * sum(math.comb(30, i) for i in range(11)) / 2**30
    assert f"-25.00 (10/20, p={p:.3g})" in rows[("base", "fp32")]
    # The k3-fine-tuned model under its own arithmetic: +7.50 points against the fp32-FT model
    # (3 flips to right, none to wrong; p = 2 / 2**3 = 0.25) and against the base model under lmul-all-k3.
    own = rows[("FT lmul-all-k3-ste", "lmul-all-k3 (own)")]
    assert "0.8250" in own and "+7.50 (3/0, p=0.25)" in own and "| 0.1250 | 0.750 |" in own
    flips_r = sum(1 for i in range(N) if k3[i] and not base_k3[i])
    flips_w = sum(1 for i in range(N) if base_k3[i] and not k3[i])
    assert f"({flips_r}/{flips_w}," in own
    # Training table: both runs finished, 12 of 12 steps.
    assert "| lmul-all-k3 | ste | 12 / 12 | 1.00 |" in out


def test_summary_update_needs_markers(tmp_path: pathlib.Path) -> None:
    """--update into a results.md without the markers fails with a message (the docs are the
    only writer of the section, nothing else is overwritten); run on a copy of the script."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / "bench").mkdir()
    (repo / "scripts" / "finetune_summary.py").write_text(SUMMARY.read_text())
    (repo / "docs" / "results.md").write_text("# no markers\n")
    r = subprocess.run([sys.executable, str(repo / "scripts" / "finetune_summary.py"), str(tmp_path / "none"),
                        "--update"], capture_output=True, text=True)
    assert r.returncode == 1 and "markers" in r.stderr
    assert (repo / "docs" / "results.md").read_text() == "# no markers\n"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
