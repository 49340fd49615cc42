"""Checks `lmul eval --output_path` files with lm-evaluation-harness's own code.

Usage: python eval/lm_eval_results_check.py LMUL_JSON LM_EVAL_JSON...
(the shared venv, scripts/venv.sh, has lm-eval 0.4.13). For each lm-eval results file:
the keys and value types of lm_eval.result_schema.EvalResults that lmul writes, every
results[task] entry ("name", "alias", "sample_len", "metric,filter" keys with a
"metric_stderr,filter" partner), the values equal to lmul's own JSON for that arithmetic,
and lm_eval.utils.make_table renders it. Prints the tables; exit 1 on the first mismatch.
"""

import json
import sys
from typing import Any

from lm_eval.result_schema import EvalResults
from lm_eval.utils import make_table

LM_EVAL_NAMES = {"wikitext2": "wikitext", "lambada": "lambada_openai"}
FILTERED = {"exact_match_strict": "exact_match,strict-match",
            "exact_match_flexible": "exact_match,flexible-extract"}


def fail(msg: str) -> None:
    print(f"FAIL {msg}")
    sys.exit(1)


def check_types(res: dict[str, Any]) -> None:
    schema = EvalResults.__annotations__
    for key in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
                "config", "group_subtasks"):
        if key not in res:
            fail(f"missing top-level key {key!r}")
    for key in res:
        if key not in schema:
            fail(f"top-level key {key!r} is not in lm_eval.result_schema.EvalResults")
    for task, r in res["results"].items():
        for fixed, typ in (("name", str), ("alias", str), ("sample_len", int)):
            if not isinstance(r.get(fixed), typ):
                fail(f"results[{task}][{fixed!r}]: expected {typ.__name__}")
        for k, v in r.items():
            if k in ("name", "alias", "sample_len"):
                continue
            metric, sep, filt = k.partition(",")
            if not sep or not filt:
                fail(f"results[{task}]: key {k!r} is not 'metric,filter'")
            if metric.endswith("_stderr"):
                if not (isinstance(v, float) or v == "N/A"):
                    fail(f"results[{task}][{k!r}]: expected a float or 'N/A'")
            else:
                if not isinstance(v, (int, float)):
                    fail(f"results[{task}][{k!r}]: expected a number")
                if f"{metric}_stderr,{filt}" not in r:
                    fail(f"results[{task}]: {k!r} has no stderr key")
        n = res["n-samples"][task]
        if set(n) != {"original", "effective"} or n["effective"] != r["sample_len"]:
            fail(f"n-samples[{task}]: {n}")
        if not isinstance(res["n-shot"][task], int):
            fail(f"n-shot[{task}]: expected int")
        if not isinstance(res["versions"][task], (str, float)):
            fail(f"versions[{task}]: expected str or float")
    if not isinstance(res["config"].get("lmul_arith"), str):
        fail("config.lmul_arith: expected the arithmetic's name")


def main() -> None:
    if len(sys.argv) < 3:
        fail(__doc__)
    lmul = json.load(open(sys.argv[1]))
    for path in sys.argv[2:]:
        res = json.load(open(path))
        check_types(res)
        arith = res["config"]["lmul_arith"]
        if arith not in lmul["arith"]:
            fail(f"{path}: arith {arith!r} not in {sys.argv[1]}")
        n_checked = 0
        for row in lmul["results"]:
            if row["arith"] != arith:
                continue
            task = LM_EVAL_NAMES.get(row["task"], row["task"])
            key = FILTERED.get(row["metric"], row["metric"] + ",none")
            got = res["results"][task].get(key)
            if got != row["value"]:
                fail(f"{path}: results[{task}][{key!r}] = {got}, lmul JSON {row['value']}")
            n_checked += 1
        for t in lmul["tasks"]:
            lm = LM_EVAL_NAMES.get(t, t)
            if res["n-samples"][lm]["effective"] != lmul["n_selected"][t]:
                fail(f"{path}: n-samples[{lm}] != lmul n_selected")
            if res["n-shot"][lm] != lmul["n_shot"][t]:
                fail(f"{path}: n-shot[{lm}] != lmul n_shot")
        table = make_table(res)
        for task in res["results"]:
            if task not in table:
                fail(f"{path}: make_table has no row for {task}")
        print(f"ok {path}: {n_checked} metrics equal to lmul's JSON ({arith})")
        print(table)


if __name__ == "__main__":
    main()
