#!/usr/bin/env python3
"""Tables, JSON and the loss-curve plot of the fine-tuning experiment
(scripts/finetune_experiment.sh; docs/results.md § Fine-tuning under L-Mul).

    scripts/finetune_summary.py [RECORD_DIR] [--update]

RECORD_DIR defaults to bench/finetune_runs, the results the driver records in the repository as
each step finishes (TASK/RUN/{log.jsonl,run.json,summary.json,eval.json.gz,kl.json},
TASK/base/{eval,kl}.ARITH.json[.gz]); the driver's working folder
(${LMUL_RUNS:-$HOME/.cache/lmul/runs}/finetune) has the same layout with plain eval.json. Prints the markdown; with
--update writes it into docs/results.md between the markers `<!-- finetune:begin -->` and
`<!-- finetune:end -->`, the plot to docs/finetune_loss.svg and the machine-readable results to
bench/finetune_results.json. Whatever exists is summarised (runs in progress show their last
logged step); nothing is invented for runs that have not finished.

Paired tests: exact two-sided McNemar on the per-question correctness of two (model, arithmetic)
pairs on the same ARC-Easy test questions (acc and acc_norm), as `lmul eval` computes it
between arithmetics (docs/eval.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- finetune:begin -->", "<!-- finetune:end -->"
ORDER = ["fp32-ste", "bf16-ste", "fp8-e4m3-all-scaled-ste", "lmul-all-k3-ste", "lmul-all-k3-same", "lmul-all-ste",
         "lmul-attn-ste"]
COLORS = ["#000000", "#1f77b4", "#d62728", "#2ca02c", "#98df8a", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]


def read_json(p: pathlib.Path) -> dict | None:
    """p, or else p + '.gz'; None when neither is readable JSON."""
    for q, opener in ((p, open), (p.with_name(p.name + ".gz"), gzip.open)):
        try:
            with opener(q, "rt", encoding="utf-8") as f:
                return json.load(f)
        except (OSError, EOFError, json.JSONDecodeError):
            continue
    return None


def read_base(d: pathlib.Path) -> tuple[dict | None, dict]:
    """The base model's evaluations and KL, one file per arithmetic (eval.ARITH.json[.gz],
    kl.ARITH.json) or one for all (eval.json, kl.json), merged into one of each."""
    ev: dict | None = read_json(d / "eval.json")
    kl: dict = read_json(d / "kl.json") or {}
    if not d.is_dir():
        return ev, kl
    for p in sorted(d.iterdir()):
        name = p.name.removesuffix(".gz")
        if name.startswith("eval.") and name.endswith(".json") and name != "eval.json":
            one = read_json(p.with_name(name))
            if not one:
                continue
            if ev is None:
                ev = {"arith": [], "results": [], "examples": []}
            by_index = {(e.get("task"), e["index"]): e for e in ev["examples"]}
            for a in one.get("arith", []):
                if a not in ev["arith"]:
                    ev["arith"].append(a)
            ev["results"] += one.get("results", [])
            for e in one.get("examples", []):
                key = (e.get("task"), e["index"])
                if key in by_index:
                    by_index[key].setdefault("scores", {}).update(e.get("scores", {}))
                else:
                    ev["examples"].append(e)
                    by_index[key] = e
        elif name.startswith("kl.") and name.endswith(".json") and name != "kl.json":
            for k, v in (read_json(p) or {}).items():
                if isinstance(v, dict):
                    kl.setdefault(k, {}).update(v)
    return ev, kl


def read_log(p: pathlib.Path) -> list[dict]:
    out = []
    if p.exists():
        for line in p.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


def mcnemar(b: int, c: int) -> float:
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def correct(ev: dict, arith: str, task: str = "arc_easy") -> dict[int, tuple[bool, bool]]:
    """question index -> (acc correct, acc_norm correct) under arith."""
    out = {}
    for ex in ev.get("examples", []):
        if ex.get("task") != task or arith not in ex.get("scores", {}):
            continue
        ll = ex["scores"][arith]["loglik"]
        norm = ex.get("norm_len") or [1] * len(ll)
        if not isinstance(norm, list):
            norm = [norm] * len(ll)
        a = max(range(len(ll)), key=lambda i: (ll[i], -i))
        n = max(range(len(ll)), key=lambda i: (ll[i] / max(1, norm[i]), -i))
        out[int(ex["index"])] = (a == ex["gold"], n == ex["gold"])
    return out


def paired(x: dict[int, tuple[bool, bool]], y: dict[int, tuple[bool, bool]], k: int) -> tuple[float, int, int, float]:
    """(delta in points, flips to right, flips to wrong, McNemar p) of y against x on metric k."""
    common = sorted(set(x) & set(y))
    if not common:
        return float("nan"), 0, 0, float("nan")
    right = sum(1 for i in common if y[i][k] and not x[i][k])
    wrong = sum(1 for i in common if x[i][k] and not y[i][k])
    return 100.0 * (right - wrong) / len(common), right, wrong, mcnemar(right, wrong)


def metric(ev: dict | None, task: str, arith: str, name: str) -> float | None:
    if not ev:
        return None
    for r in ev.get("results", []):
        if r["task"] == task and r["arith"] == arith and r["metric"] == name:
            return float(r["value"])
    return None


def fmt(v: float | None, nd: int = 4) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def runs_of(task_dir: pathlib.Path) -> list[str]:
    names = [p.name for p in task_dir.iterdir() if p.is_dir() and p.name != "base"] if task_dir.is_dir() else []
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def arith_of(run: str) -> tuple[str, str]:
    a, _, b = run.rpartition("-")
    return a, b


def training_table(root: pathlib.Path, task: str, rows: list[dict]) -> list[str]:
    out = ["| fine-tuned under | backward | steps done / total | epochs done | final loss (mean of last 10 steps) | "
           "train tokens/s (median step) | hours so far |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for run in runs_of(root / task):
        d = root / task / run
        log = read_log(d / "log.jsonl")
        summ = read_json(d / "summary.json") or read_json(d / "run.json")
        ck_total = None
        if summ:
            ck_total = summ["config"]["steps"]
        a, b = arith_of(run)
        if not log:
            out.append(f"| {a} | {b} | 0 | – | – | – | – |")
            continue
        last = log[-10:]
        loss = sum(r["loss"] for r in last) / len(last)
        rates = sorted(r["tokens_s"] for r in log)
        hours = sum(r["step_s"] for r in log) / 3600
        epochs = log[-1]["step"] / summ["steps_per_epoch"] if summ else None
        total = ck_total if ck_total is not None else "?"
        out.append(f"| {a} | {b} | {log[-1]['step']} / {total} | {fmt(epochs, 2)} | {loss:.4f} | "
                   f"{rates[len(rates) // 2]:.1f} | {hours:.2f} |")
        rows.append({"task": task, "run": run, "arith": a, "backward": b, "steps_done": log[-1]["step"],
                     "steps_total": ck_total, "final_loss_last10": loss, "tokens_s_median": rates[len(rates) // 2],
                     "train_hours": hours, "finished": (d / "summary.json").exists()})
    return out


def arc_tables(root: pathlib.Path, rows: list[dict]) -> list[str]:
    task = "arc_easy"
    base, base_kl = read_base(root / task / "base")
    ref_ev = read_json(root / task / "fp32-ste" / "eval.json")
    ref = correct(ref_ev, "fp32") if ref_ev else {}
    k3_ev = read_json(root / task / "fp8-e4m3-all-scaled-ste" / "eval.json")
    e4 = correct(k3_ev, "fp8-e4m3-all-scaled") if k3_ev else {}
    out = ["ARC-Easy test split (acc / acc_norm; Δ in points with flips right/wrong and McNemar p): "
           "each model under the arithmetic it was fine-tuned in (own) and under fp32; `base` is the "
           "model before fine-tuning under the same arithmetic.", "",
           "| model | evaluated under | n | acc | acc_norm | Δacc vs base (same arith) | Δacc vs fp32-FT under fp32 | "
           "Δacc_norm vs fp32-FT under fp32 | Δacc vs e4m3-scaled-FT (own) | KL vs fp32-FT (nats) | top-1 vs fp32-FT |",
           "| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: |"]

    def pair_s(x: dict, y: dict, k: int) -> str:
        d, r, w, p = paired(x, y, k)
        return "–" if math.isnan(d) else f"{d:+.2f} ({r}/{w}, p={p:.3g})"

    if base:
        kl = base_kl
        for a in base.get("arith", []):
            c = correct(base, a)
            out.append(f"| base | {a} | {len(c)} | {fmt(metric(base, task, a, 'acc'))} | "
                       f"{fmt(metric(base, task, a, 'acc_norm'))} | – | {pair_s(ref, c, 0) if ref else '–'} | "
                       f"{pair_s(ref, c, 1) if ref else '–'} | – | {fmt(kl.get('kl', {}).get(a))} | "
                       f"{fmt(kl.get('top1_agree', {}).get(a), 3)} |")
            rows.append({"task": task, "model": "base", "eval_arith": a, "acc": metric(base, task, a, "acc"),
                         "acc_norm": metric(base, task, a, "acc_norm"), "n": len(c)})
    for run in runs_of(root / task):
        ev = read_json(root / task / run / "eval.json")
        if not ev:
            continue
        kl = read_json(root / task / run / "kl.json") or {}
        own, _ = arith_of(run)
        for a in ev.get("arith", []):
            c = correct(ev, a)
            vs_base = pair_s(correct(base, a), c, 0) if base and a in base.get("arith", []) else "–"
            vs_e4 = pair_s(e4, c, 0) if e4 and a == own and run != "fp8-e4m3-all-scaled-ste" else "–"
            out.append(f"| FT {run} | {a}{' (own)' if a == own else ''} | {len(c)} | {fmt(metric(ev, task, a, 'acc'))} | "
                       f"{fmt(metric(ev, task, a, 'acc_norm'))} | {vs_base} | {pair_s(ref, c, 0) if ref else '–'} | "
                       f"{pair_s(ref, c, 1) if ref else '–'} | {vs_e4} | {fmt(kl.get('kl', {}).get(a))} | "
                       f"{fmt(kl.get('top1_agree', {}).get(a), 3)} |")
            rows.append({"task": task, "model": run, "eval_arith": a, "acc": metric(ev, task, a, "acc"),
                         "acc_norm": metric(ev, task, a, "acc_norm"), "n": len(c),
                         "kl_vs_fp32_ft": kl.get("kl", {}).get(a)})
    return out


def wiki_table(root: pathlib.Path, rows: list[dict]) -> list[str]:
    task = "wikitext2"
    out = ["WikiText-2 test split (word perplexity; KL/top-1 against the fp32-fine-tuned model under fp32 on "
           "the first 8,192 test tokens):", "",
           "| model | evaluated under | word perplexity | token perplexity | KL vs fp32-FT | top-1 vs fp32-FT |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    for run in ["base", *runs_of(root / task)]:
        if run == "base":
            ev, kl = read_base(root / task / run)
        else:
            ev, kl = read_json(root / task / run / "eval.json"), read_json(root / task / run / "kl.json") or {}
        if not ev:
            continue
        for a in ev.get("arith", []):
            wp = metric(ev, task, a, "word_perplexity")
            out.append(f"| {'base' if run == 'base' else 'FT ' + run} | {a} | {fmt(wp, 2)} | "
                       f"{fmt(metric(ev, task, a, 'token_perplexity'), 2)} | {fmt(kl.get('kl', {}).get(a))} | "
                       f"{fmt(kl.get('top1_agree', {}).get(a), 3)} |")
            rows.append({"task": task, "model": run, "eval_arith": a, "word_perplexity": wp,
                         "kl_vs_fp32_ft": kl.get("kl", {}).get(a)})
    return out


def svg_plot(root: pathlib.Path, tasks: list[str]) -> str:
    """Training loss (moving average over 10 steps) against the epoch fraction, one panel per task."""
    w, h, pad = 460, 300, 50
    panels = []
    for t, task in enumerate(tasks):
        curves = []
        for run in runs_of(root / task):
            log = read_log(root / task / run / "log.jsonl")
            summ = read_json(root / task / run / "summary.json") or read_json(root / task / run / "run.json")
            if not log:
                continue
            total = summ["steps_per_epoch"] if summ else None
            ys = [r["loss"] for r in log]
            sm = [sum(ys[max(0, i - 9): i + 1]) / len(ys[max(0, i - 9): i + 1]) for i in range(len(ys))]
            xs = [r["step"] for r in log]
            curves.append((run, xs, sm, total))
        ox = t * (w + 20)
        panels.append(f'<g transform="translate({ox},0)"><text x="{w / 2}" y="18" text-anchor="middle" '
                      f'font-size="14">{task}: training loss (10-step mean) vs step</text>')
        if curves:
            xmax = max(max(c[1]) for c in curves)
            ylo = min(min(c[2]) for c in curves)
            yhi = max(max(c[2]) for c in curves)
            if yhi - ylo < 1e-9:
                yhi = ylo + 1
            def px(x: float) -> float:
                return pad + (w - pad - 10) * (x / max(1, xmax))
            def py(y: float) -> float:
                return h - pad + (pad + 30 - h) * ((y - ylo) / (yhi - ylo))
            panels.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - 10}" y2="{h - pad}" stroke="#444"/>'
                          f'<line x1="{pad}" y1="{h - pad}" x2="{pad}" y2="30" stroke="#444"/>')
            for k in range(5):
                yv = ylo + (yhi - ylo) * k / 4
                panels.append(f'<text x="{pad - 4}" y="{py(yv) + 4:.1f}" text-anchor="end" font-size="10">{yv:.2f}</text>')
                xv = xmax * k / 4
                panels.append(f'<text x="{px(xv):.1f}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{xv:.0f}</text>')
            panels.append(f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle" font-size="11">optimizer step</text>')
            for i, (run, xs, ys, _) in enumerate(curves):
                col = COLORS[i % len(COLORS)]
                pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
                panels.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.5" points="{pts}"/>')
                panels.append(f'<rect x="{w - 170}" y="{34 + 14 * i}" width="10" height="3" fill="{col}"/>'
                              f'<text x="{w - 155}" y="{39 + 14 * i}" font-size="10">{run}</text>')
        else:
            panels.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" font-size="12">no runs yet</text>')
        panels.append("</g>")
    width = len(tasks) * (w + 20)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
            f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{"".join(panels)}</svg>\n')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="?", default=str(REPO / "bench" / "finetune_runs"))
    ap.add_argument("--update", action="store_true")
    a = ap.parse_args()
    root = pathlib.Path(a.runs)
    rows: list[dict] = []
    md = ["Generated by `scripts/finetune_summary.py --update` from the results "
          "`scripts/finetune_experiment.sh` records in bench/finetune_runs/ (committed: logs, evaluations, KL; "
          "not the weights); runs still in progress show the steps done so far.", ""]
    for task in ("arc_easy", "wikitext2"):
        md += [f"**Training, {task}**", ""] + training_table(root, task, rows) + [""]
    md += arc_tables(root, rows) + [""] + wiki_table(root, rows) + [""]
    md += ["![training loss curves](finetune_loss.svg)", ""]
    text = "\n".join(md)
    print(text)
    if a.update:
        (REPO / "docs" / "finetune_loss.svg").write_text(svg_plot(root, ["arc_easy", "wikitext2"]))
        (REPO / "bench" / "finetune_results.json").write_text(json.dumps(
            {"what": "lmul.finetune experiment (docs/results.md § Fine-tuning under L-Mul)",
             "command": "scripts/finetune_experiment.sh && scripts/finetune_summary.py --update",
             "model": "SmolLM2-135M-Instruct Q4_1 GGUF (scripts/fetch_model.sh)", "rows": rows}, indent=1) + "\n")
        doc = REPO / "docs" / "results.md"
        s = doc.read_text()
        if BEGIN not in s or END not in s:
            print(f"finetune_summary.py: {doc}: markers {BEGIN} / {END} not found", file=sys.stderr)
            return 1
        s = s[: s.index(BEGIN) + len(BEGIN)] + "\n" + text + "\n" + s[s.index(END):]
        doc.write_text(s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
