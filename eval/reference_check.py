"""Independent check of `lmul eval`'s WikiText-2 perplexity with the NumPy float64 reference.

Reads a JSON written by
  lmul eval -m MODEL --tasks wikitext2 --limit 1 --arith fp32 --ctx C --stride C --save-tokens --json F
and recomputes, with scripts/engine_reference.py (float64 forward written from PyPI gguf's
dequantization, independent of the C++ engine), the log-likelihood of every window of the
first document: u = [prefix] + tokens; window k feeds u[c, end-1) and scores the targets
u[first, end) (stride = ctx: disjoint windows). Prints per-window and total log-likelihoods
and the token perplexity from both, and their differences.

  python eval/reference_check.py MODEL.gguf F.json [PREFIX_TOKEN]
Needs numpy and gguf (e.g. a venv with `pip install numpy gguf==0.19.0`).
"""

import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from engine_reference import LlamaReference  # noqa: E402


def main():
    model_path, json_path = sys.argv[1], sys.argv[2]
    j = json.load(open(json_path))
    ex = next(e for e in j["examples"] if e["task"] == "wikitext2")
    tokens = ex["tokens"]
    ctx, stride = j["ctx"], j["stride"]
    ref = LlamaReference(model_path)
    prefix = int(sys.argv[3]) if len(sys.argv) > 3 else None
    if prefix is None:
        f = ref.reader.fields
        key = "tokenizer.ggml.bos_token_id"
        prefix = int(f[key].contents()) if key in f else int(f["tokenizer.ggml.eos_token_id"].contents())
    u = [prefix] + tokens
    n = len(tokens)
    lmul_windows = ex["scores"][j["arith"][0]]["window_loglik"]
    total_ref = 0.0
    first, k = 1, 0
    print(f"document 0: {n} tokens, ctx {ctx}, stride {stride}, prefix token {prefix}")
    while first <= n:
        end = min(first + stride, n + 1)
        c = max(0, end - 1 - ctx)
        logits = ref.forward(u[c:end - 1])
        ll = 0.0
        for t in range(first, end):
            row = logits[t - 1 - c]
            m = row.max()
            lse = m + math.log(np.exp(row - m).sum())
            ll += row[u[t]] - lse
        total_ref += ll
        print(f"window {k}: targets [{first}, {end}) reference {ll:.6f}  lmul {lmul_windows[k]:.6f}"
              f"  diff {lmul_windows[k] - ll:+.3e}")
        first, k = end, k + 1
    total_lmul = ex["scores"][j["arith"][0]]["loglik"][0]
    print(f"total loglik: reference {total_ref:.6f}  lmul {total_lmul:.6f}  diff {total_lmul - total_ref:+.3e}")
    print(f"token perplexity: reference {math.exp(-total_ref / n):.6f}  lmul {math.exp(-total_lmul / n):.6f}")


if __name__ == "__main__":
    main()
