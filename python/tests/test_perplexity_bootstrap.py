"""scripts/perplexity_bootstrap.py on synthetic `lmul eval --json` perplexity results: exact
values where every resample must agree, intervals that cover the whole-set value, shards equal
to the merged file, and bad input refused with the field named."""

from __future__ import annotations

import gzip
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "perplexity_bootstrap.py"


def _result(ariths: list[str], loglik: dict[str, list[float]], kl: dict[str, list[float]], words: list[int],
            positions: list[int], first_index: int = 0) -> dict:
    examples = []
    for d, (w, t) in enumerate(zip(words, positions)):
        scores = {a: {"loglik": [loglik[a][d]], "kl_sum": kl[a][d]} for a in ariths}
        examples.append({"task": "wikitext2", "index": first_index + d, "n_words": w, "n_positions": t, "scores": scores})
    return {"arith": ariths, "examples": examples}


def _run(tmp: pathlib.Path, files: list[dict], *extra: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    paths = []
    for i, doc in enumerate(files):
        p = tmp / f"s{i}.json.gz"
        with gzip.open(p, "wt", encoding="utf-8") as f:
            json.dump(doc, f)
        paths.append(str(p))
    out = tmp / "out.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), *paths, "--json", str(out), *extra],
                          capture_output=True, text=True, timeout=120)
    return proc, (json.loads(out.read_text()) if proc.returncode == 0 else None)


def _data(n: int, seed: int) -> tuple[list[int], list[int], list[float]]:
    rng = np.random.default_rng(seed)
    words = rng.integers(200, 5000, n).tolist()
    positions = [int(w * 1.4) for w in words]
    ll = [-float(w) * rng.uniform(3.5, 4.5) for w in words]
    return words, positions, ll


def test_a_constant_per_word_shift_is_exact_in_every_resample(tmp_path: pathlib.Path) -> None:
    # b's loglik = a's − c per word in every article: word perplexity ratio exp(c) whatever the sample.
    words, positions, ll = _data(30, 1)
    c = 0.05
    lb = [l - c * w for l, w in zip(ll, words)]
    kl_b = [0.02 * t for t in positions]  # 0.02 nats per position everywhere
    doc = _result(["fp32", "b"], {"fp32": ll, "b": lb}, {"fp32": [0.0] * 30, "b": kl_b}, words, positions)
    proc, res = _run(tmp_path, [doc], "--iters", "500")
    assert proc.returncode == 0, proc.stderr
    (row,) = res["comparisons"]
    w, k = row["word_ppl_rel"], row["kl_diff"]
    for key in ("value", "lo", "hi"):
        assert w[key] == pytest.approx(math.expm1(c), rel=1e-9)
        assert k[key] == pytest.approx(0.02, rel=1e-9)
    assert w["frac_above_0"] == 1.0 and row["articles"] == 30


def test_identical_arithmetics_give_zero(tmp_path: pathlib.Path) -> None:
    words, positions, ll = _data(10, 2)
    doc = _result(["fp32", "a", "b"], {"fp32": ll, "a": ll, "b": ll}, {x: [0.1] * 10 for x in ("fp32", "a", "b")},
                  words, positions)
    proc, res = _run(tmp_path, [doc], "--iters", "200", "--pair", "a:b")
    assert proc.returncode == 0, proc.stderr
    assert [(r["a"], r["b"]) for r in res["comparisons"]] == [("fp32", "a"), ("fp32", "b"), ("a", "b")]
    for r in res["comparisons"]:
        assert r["word_ppl_rel"]["value"] == 0.0 and r["word_ppl_rel"]["lo"] == 0.0 and r["word_ppl_rel"]["hi"] == 0.0
        assert r["word_ppl_rel"]["frac_above_0"] == 0.0


def test_interval_covers_the_value_is_seeded_and_shards_equal_the_merged_file(tmp_path: pathlib.Path) -> None:
    words, positions, ll = _data(40, 3)
    rng = np.random.default_rng(4)
    lb = [l - rng.normal(0.02, 0.03) * w for l, w in zip(ll, words)]  # heterogeneous: +2 % on average
    kl_b = [rng.uniform(0.0, 0.05) * t for t in positions]
    doc = _result(["fp32", "b"], {"fp32": ll, "b": lb}, {"fp32": [0.0] * 40, "b": kl_b}, words, positions)
    proc, merged = _run(tmp_path, [doc], "--iters", "2000", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    w = merged["comparisons"][0]["word_ppl_rel"]
    assert w["lo"] < w["value"] < w["hi"] and w["hi"] - w["lo"] > 1e-3
    whole = math.exp(-sum(lb) / sum(words)) / math.exp(-sum(ll) / sum(words)) - 1
    assert w["value"] == pytest.approx(whole, rel=1e-12)
    # the same examples as two shards (out of order, indices kept): the same figures
    halves = [_result(["fp32", "b"], {"fp32": ll[s], "b": lb[s]}, {"fp32": [0.0] * 20, "b": kl_b[s]}, words[s],
                      positions[s], first_index=s.start) for s in (slice(20, 40), slice(0, 20))]
    proc, sharded = _run(tmp_path, halves, "--iters", "2000", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    assert sharded["comparisons"] == merged["comparisons"]
    proc, other = _run(tmp_path, [doc], "--iters", "2000", "--seed", "8")
    assert other["comparisons"][0]["word_ppl_rel"] != w


def test_bad_input_is_refused_with_the_field(tmp_path: pathlib.Path) -> None:
    words, positions, ll = _data(5, 5)
    doc = _result(["fp32", "b"], {"fp32": ll, "b": ll}, {"fp32": [0.0] * 5, "b": [0.0] * 5}, words, positions)
    proc, _ = _run(tmp_path, [doc], "--pair", "b:nope")
    assert proc.returncode == 2 and "--pair" in proc.stderr and "nope" in proc.stderr
    proc, _ = _run(tmp_path, [doc], "--iters", "0")
    assert proc.returncode == 2 and "--iters" in proc.stderr
    other = _result(["fp32", "c"], {"fp32": ll, "c": ll}, {"fp32": [0.0] * 5, "c": [0.0] * 5}, words, positions)
    proc, _ = _run(tmp_path, [doc, other])
    assert proc.returncode == 1 and "differ" in proc.stderr
    proc, _ = _run(tmp_path, [doc, doc])
    assert proc.returncode == 1 and "given twice" in proc.stderr
    del doc["examples"][2]["scores"]["b"]
    proc, _ = _run(tmp_path, [doc])
    assert proc.returncode == 1 and "'b'" in proc.stderr
    (tmp_path / "junk.json").write_text("{not json")
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "junk.json")], capture_output=True, text=True)
    assert proc.returncode == 1 and "junk.json" in proc.stderr
