#!/usr/bin/env python3
"""Confidence intervals for a perplexity task's differences between arithmetics, by a paired
bootstrap over documents (docs/results.md § Scaled fp8 beside L-Mul; issue 19).

`lmul eval` reports a perplexity task (wikitext2) as one figure per arithmetic over all scored
tokens, without a standard error: the tokens of one article are not independent. Every
arithmetic scores the same windows of the same articles, so the differences are paired, and the
article is the unit to resample. This reads an `lmul eval --json` result (or its shards, merged
here; gzipped or not) and, for each arithmetic against the reference (the first, fp32) and for
each pair given with --pair, resamples the articles with replacement (--iters times, --seed)
and reports the relative change of word perplexity and the KL difference with their
percentile intervals (--level, 95 % by default) and the fraction of resamples above 0.

  scripts/perplexity_bootstrap.py bench/scaled_fp8_runs/wikitext2/wikitext2_full.json.gz \\
      --pair fp8-e4m3-attn-scaled:fp8-e5m2-attn-scaled --json out.json

Per article d and arithmetic a (the example's scores): L[d,a] = Σ loglik (natural log), W[d] =
words, T[d] = scored positions, K[d,a] = Σ KL(p_ref || p_a) over the positions. Word perplexity
of a sample S: exp(−Σ_S L / Σ_S W); KL of S: Σ_S K / Σ_S T (the token-weighted mean, as
`lmul eval` reports it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import sys
from typing import Any

import numpy as np


def load(paths: list[pathlib.Path]) -> tuple[list[str], list[dict[str, Any]]]:
    """The arithmetics (reference first) and the examples of one task, over shard files."""
    ariths: list[str] | None = None
    examples: dict[int, dict[str, Any]] = {}
    for p in paths:
        opener = gzip.open if p.suffix == ".gz" else open
        try:
            with opener(p, "rt", encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"perplexity_bootstrap: {p}: not an lmul eval JSON ({e})")
        if not isinstance(doc, dict) or not isinstance(doc.get("arith"), list) or not isinstance(doc.get("examples"), list):
            raise SystemExit(f"perplexity_bootstrap: {p}: expected keys 'arith' (list) and 'examples' (list)")
        if ariths is None:
            ariths = [str(a) for a in doc["arith"]]
        elif ariths != doc["arith"]:
            raise SystemExit(f"perplexity_bootstrap: {p}: arithmetics {doc['arith']} differ from the first file's {ariths}")
        for e in doc["examples"]:
            if int(e["index"]) in examples:
                raise SystemExit(f"perplexity_bootstrap: {p}: example {e['index']} given twice (a shard given twice?)")
            examples[int(e["index"])] = e
    if not ariths or not examples:
        raise SystemExit("perplexity_bootstrap: no examples in the input")
    return ariths, [examples[i] for i in sorted(examples)]


def per_article(ariths: list[str], examples: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Arrays over articles: words, positions, and per arithmetic loglik and KL sums."""
    out: dict[str, np.ndarray] = {
        "words": np.array([e["n_words"] for e in examples], dtype=np.float64),
        "positions": np.array([e["n_positions"] for e in examples], dtype=np.float64),
    }
    for a in ariths:
        try:
            out["loglik:" + a] = np.array([sum(e["scores"][a]["loglik"]) for e in examples], dtype=np.float64)
            out["kl:" + a] = np.array([e["scores"][a]["kl_sum"] for e in examples], dtype=np.float64)
        except KeyError as e:
            raise SystemExit(f"perplexity_bootstrap: an example has no scores for '{a}' (missing {e})")
    if np.any(out["words"] <= 0) or np.any(out["positions"] <= 0):
        raise SystemExit("perplexity_bootstrap: an article with no words or no scored positions")
    return out


def _word_ppl(ll: np.ndarray, words: np.ndarray) -> np.ndarray:
    return np.exp(-ll / words)


def bootstrap(arr: dict[str, np.ndarray], a: str, b: str, iters: int, seed: int, level: float) -> dict[str, Any]:
    """b against a: relative word-perplexity change (ppl_b / ppl_a − 1) and KL_b − KL_a, each
    on the whole set and as a percentile interval over article resamples."""
    n = arr["words"].shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(iters, n))  # one row per resample
    # counts[r, d]: how often article d is drawn in resample r (sums over a resample are dot products)
    counts = np.zeros((iters, n))
    np.add.at(counts, (np.repeat(np.arange(iters), n), idx.ravel()), 1.0)
    full = np.ones(n)

    def stats(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        words, pos = c @ arr["words"], c @ arr["positions"]
        rel = _word_ppl(c @ arr["loglik:" + b], words) / _word_ppl(c @ arr["loglik:" + a], words) - 1.0
        dkl = (c @ arr["kl:" + b] - c @ arr["kl:" + a]) / pos
        return rel, dkl

    rel0, dkl0 = stats(full[None, :])
    rel, dkl = stats(counts)
    lo, hi = (1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0

    def summary(v0: float, v: np.ndarray) -> dict[str, float]:
        return {"value": float(v0), "lo": float(np.quantile(v, lo)), "hi": float(np.quantile(v, hi)),
                "frac_above_0": float(np.mean(v > 0.0))}

    return {"a": a, "b": b, "articles": n, "word_ppl_rel": summary(rel0[0], rel), "kl_diff": summary(dkl0[0], dkl)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", type=pathlib.Path, help="lmul eval --json results (shards or merged; .gz ok)")
    ap.add_argument("--pair", action="append", default=[], metavar="A:B", help="also B against A (repeatable)")
    ap.add_argument("--iters", type=int, default=10000, help="bootstrap resamples (default 10000)")
    ap.add_argument("--seed", type=int, default=0, help="resampling seed (default 0)")
    ap.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    ap.add_argument("--json", type=pathlib.Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not 1 <= args.iters <= 1_000_000:
        ap.error(f"--iters: expected 1..1000000, got {args.iters}")
    if not 0.0 < args.level < 1.0:
        ap.error(f"--level: expected a fraction in (0, 1), got {args.level}")
    ariths, examples = load(args.inputs)
    pairs = [(ariths[0], b) for b in ariths[1:]]
    for p in args.pair:
        a, sep, b = p.partition(":")
        if not sep or a not in ariths or b not in ariths or a == b:
            ap.error(f"--pair: expected A:B, two different arithmetics of the input ({', '.join(ariths)}), got '{p}'")
        pairs.append((a, b))
    arr = per_article(ariths, examples)
    rows = [bootstrap(arr, a, b, args.iters, args.seed, args.level) for a, b in pairs]
    pct = f"{round(args.level * 100)}%"
    print(f"{len(examples)} articles, {args.iters} resamples (seed {args.seed}), {pct} percentile intervals")
    print(f"| B against A | word perplexity B/A − 1 [{pct}] | P(> 0) | KL_B − KL_A (nats) [{pct}] |")
    print("| --- | --- | ---: | --- |")
    for r in rows:
        w, k = r["word_ppl_rel"], r["kl_diff"]
        print(f"| {r['b']} vs {r['a']} | {w['value'] * 100:+.2f}% [{w['lo'] * 100:+.2f}, {w['hi'] * 100:+.2f}] | "
              f"{w['frac_above_0']:.3f} | {k['value']:+.4f} [{k['lo']:+.4f}, {k['hi']:+.4f}] |")
    if args.json:
        args.json.write_text(json.dumps({"inputs": [str(p) for p in args.inputs], "iters": args.iters, "seed": args.seed,
                                         "level": args.level, "comparisons": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
