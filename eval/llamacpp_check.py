"""Cross-check of `lmul eval` fp32 log-likelihoods against llama.cpp (an independent engine).

WikiText-2: reads a JSON written by
    lmul eval -m MODEL --tasks wikitext2 --limit N --arith fp32 [--ctx C] --save-tokens --json F
and, for every saved article, runs llama.cpp (through llama-cpp-python) on exactly the token
ids lmul used and the same windows: u = [prefix] + tokens (prefix = BOS, or EOS if the
vocabulary has no BOS, as lm-eval's prefix_token_id; lmul adds it, so it is taken from the
GGUF here and no other BOS is added); window k feeds u[max(0, end-1-ctx), end-1) and scores
the targets u[first, end), end = min(first + stride, N + 1). The log-likelihood is
sum log_softmax(logits)[target] in float64 from llama.cpp's float32 logits. Prints per window
and per article lmul vs llama.cpp, and the totals with token perplexity and relative
differences.

ARC-Easy (optional, --arc F2 --data-dir DIR): F2 is a JSON of
    lmul eval -m MODEL --tasks arc_easy --limit N --arith fp32 --json F2
The prompts are rebuilt from DIR/arc-easy/ARC-Easy-Test.jsonl as lmul/lm-eval do
(context "Question: {stem}\\nAnswer:", continuation " {choice}"), tokenized with llama.cpp's
tokenizer as lm-eval's _encode_pair (context tokens = tok(context); continuation tokens =
tok(context + continuation)[len(context tokens):]; no BOS), checked against lmul's
continuation token count, and each choice's loglik is computed from one llama.cpp forward
pass over context + continuation. Prints per choice lmul vs llama.cpp and the predictions.
HellaSwag (--hellaswag F3, e.g. a shard JSON of scripts/eval_full.sh): the same, with the
context line of DIR/hellaswag/hellaswag_val_full.txt and continuations " {ending}".
--limit N checks only the first N questions of F2/F3.

  python eval/llamacpp_check.py MODEL.gguf [F.json] [--arc F2.json] [--hellaswag F3.json]
      [--data-dir DIR] [--limit N] [--threads 2] [--kv f16|f32] [--flash-attn] [--reference N]
--reference N also runs scripts/engine_reference.py (NumPy float64 forward, needs gguf) on the
first N wikitext2 windows (per-token |delta log p|, KL, top-1 agreement of llama.cpp against
float64, by 256-token block) and the first N multiple-choice questions (each choice's float64
loglik), to show which of lmul and llama.cpp is closer to exact arithmetic.
Needs llama-cpp-python and numpy (e.g. a venv with `pip install llama-cpp-python numpy`).
llama.cpp's CPU matmuls quantize the activations (Q8_1 for Q4_1 weights) and its KV cache is
f16 by default, so a small nonzero difference to lmul's fp32 arithmetic is expected.
"""

import argparse
import json
import math
import os
import sys


import numpy as np
import llama_cpp
from llama_cpp import Llama

GGML_TYPE = {"f32": 0, "f16": 1}


def log_softmax_rows(logits):
    """float64 log-softmax of rows: x - (max + log sum exp(x - max))."""
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))


def make_llama(model, n_ctx, args):
    return Llama(model_path=model, n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                 n_threads=args.threads, n_threads_batch=args.threads, logits_all=True,
                 type_k=GGML_TYPE[args.kv], type_v=GGML_TYPE[args.kv],
                 flash_attn=args.flash_attn, verbose=False)


def run_logits(llm, tokens):
    """Logits (float32, len(tokens) x vocab) of one fresh forward pass over tokens."""
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[:len(tokens)], copy=True)


def prefix_token(llm):
    bos = llm.token_bos()
    return bos if bos >= 0 else llm.token_eos()


def rel(a, b):
    return (a - b) / abs(b) if b != 0 else float("nan")


def reference(model):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    from engine_reference import LlamaReference  # pylint: disable=import-outside-toplevel
    return LlamaReference(model)


def compare_to_reference(lp_ref, lp_c, targets, label):
    """Per-token statistics of llama.cpp's log-probs against the float64 reference's."""
    idx = np.arange(len(targets))
    d = lp_ref[idx, targets] - lp_c[idx, targets]
    kl = (np.exp(lp_ref) * (lp_ref - lp_c)).sum(axis=1)
    top1 = (lp_ref.argmax(axis=1) == lp_c.argmax(axis=1)).mean()
    print(f"    {label} float64 reference {lp_ref[idx, targets].sum():.6f}, llama.cpp "
          f"{lp_c[idx, targets].sum():.6f}; per token (ref - llama.cpp): mean {d.mean():+.2e}, "
          f"mean |.| {np.abs(d).mean():.3e}, max |.| {np.abs(d).max():.3f}; "
          f"KL(ref||llama.cpp) {kl.mean():.2e}; top-1 agree {top1:.4f}")
    for a in range(0, len(targets), 256):
        s = slice(a, min(len(targets), a + 256))
        print(f"      targets {a}..{s.stop}: sum {d[s].sum():+.3f}  mean |.| "
              f"{np.abs(d[s]).mean():.3e}  KL {kl[s].mean():.2e}")


def check_wikitext(args):
    j = json.load(open(args.json))
    arith = j["arith"][0]
    ctx, stride = j["ctx"], j["stride"]
    docs = [e for e in j["examples"] if e["task"] == "wikitext2"]
    if not docs or "tokens" not in docs[0]:
        sys.exit(f"{args.json}: no wikitext2 examples with tokens (run lmul eval --save-tokens)")
    llm = make_llama(args.model, ctx, args)
    prefix = prefix_token(llm)
    ref = reference(args.model) if args.reference else None
    n_ref = 0
    print(f"wikitext2: {len(docs)} article(s), ctx {ctx}, stride {stride}, prefix token {prefix}, "
          f"lmul arith {arith}, llama.cpp KV {args.kv}, flash_attn {args.flash_attn}")
    tot_l, tot_c, tot_n = 0.0, 0.0, 0
    for e in docs:
        tokens = e["tokens"]
        n = len(tokens)
        u = [prefix] + tokens
        lmul_w = e["scores"][arith]["window_loglik"]
        doc_c = 0.0
        first, k = 1, 0
        while first <= n:
            end = min(first + stride, n + 1)
            c = max(0, end - 1 - ctx)
            lp = log_softmax_rows(run_logits(llm, u[c:end - 1]))[first - 1 - c:]
            targets = np.array(u[first:end])
            ll = float(lp[np.arange(end - first), targets].sum())
            doc_c += ll
            print(f"  article {e['index']} window {k}: targets [{first}, {end}) "
                  f"({end - first} tokens, input {end - 1 - c})  lmul {lmul_w[k]:.6f}  "
                  f"llama.cpp {ll:.6f}  diff {lmul_w[k] - ll:+.4f} "
                  f"(rel {rel(lmul_w[k], ll):+.2e})")
            if ref is not None and n_ref < args.reference:
                n_ref += 1
                lp_ref = log_softmax_rows(ref.forward(u[c:end - 1]))[first - 1 - c:]
                compare_to_reference(lp_ref, lp, targets, f"window {k}:")
                r = lp_ref[np.arange(end - first), targets].sum()
                print(f"    lmul - float64 reference {lmul_w[k] - r:+.3e}")
            first, k = end, k + 1
        doc_l = e["scores"][arith]["loglik"][0]
        print(f"  article {e['index']} ({n} tokens): lmul {doc_l:.6f}  llama.cpp {doc_c:.6f}  "
              f"diff {doc_l - doc_c:+.4f} (rel {rel(doc_l, doc_c):+.2e})  token ppl lmul "
              f"{math.exp(-doc_l / n):.6f}  llama.cpp {math.exp(-doc_c / n):.6f}")
        tot_l, tot_c, tot_n = tot_l + doc_l, tot_c + doc_c, tot_n + n
    pl, pc = math.exp(-tot_l / tot_n), math.exp(-tot_c / tot_n)
    print(f"total ({tot_n} tokens): loglik lmul {tot_l:.6f}  llama.cpp {tot_c:.6f}  "
          f"diff {tot_l - tot_c:+.4f} (rel {rel(tot_l, tot_c):+.2e}); mean per token "
          f"{(tot_l - tot_c) / tot_n:+.2e} nats")
    print(f"token perplexity: lmul {pl:.6f}  llama.cpp {pc:.6f}  rel diff {rel(pl, pc):+.2e}")
    res = [r for r in j["results"] if r["task"] == "wikitext2" and r["arith"] == arith
           and r["metric"] == "token_perplexity"]
    if res:
        print(f"(lmul's reported token_perplexity for these articles: {res[0]['value']:.6f})")


def arc_questions(data_dir):
    """ARC-Easy test questions: (id, context, [(continuation, norm_len)], gold) per line."""
    path = os.path.join(data_dir, "arc-easy", "ARC-Easy-Test.jsonl")
    out = []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        q = json.loads(line)
        labels = [c["label"] for c in q["question"]["choices"]]
        out.append((q["id"], "Question: " + q["question"]["stem"] + "\nAnswer:",
                    [(" " + c["text"], len(c["text"])) for c in q["question"]["choices"]],
                    labels.index(q["answerKey"]) if q["answerKey"] in labels else -1))
    return out


def hellaswag_questions(data_dir):
    """HellaSwag (llama.cpp's 6-lines-per-item file): context line, gold, 4 endings."""
    path = os.path.join(data_dir, "hellaswag", "hellaswag_val_full.txt")
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    for i in range(0, len(lines) - 5, 6):
        out.append((str(i // 6), lines[i], [(" " + e, len(e)) for e in lines[i + 2:i + 6]],
                    int(lines[i + 1])))
    return out


MC_TASKS = {"arc_easy": arc_questions, "hellaswag": hellaswag_questions}


def check_choices(args, task, json_path):
    """Each choice's loglik from one llama.cpp forward over context + continuation, beside
    lmul's, for the first --limit questions of the JSON (prompts rebuilt from the data as
    lm-eval does: continuation tokens = tok(context + continuation)[len(tok(context)):],
    no BOS; acc_norm divides by the choice's length in characters)."""
    j = json.load(open(json_path))
    arith = j["arith"][0]
    exs = [e for e in j["examples"] if e["task"] == task][:args.limit or None]
    if not exs:
        sys.exit(f"{json_path}: no {task} examples")
    questions = MC_TASKS[task](args.data_dir)
    llm = make_llama(args.model, j["ctx"], args)
    ref = reference(args.model) if args.reference else None
    print(f"{task}: {len(exs)} questions, lmul arith {arith}, llama.cpp KV {args.kv}, "
          f"flash_attn {args.flash_attn}")
    diffs, agree_acc, agree_norm = [], 0, 0
    right_l = right_c = norm_right_l = norm_right_c = 0
    for k, e in enumerate(exs):
        qid, ctx_text, choices, gold = questions[e["index"]]
        assert qid == e["id"] and gold == e["gold"], (qid, e["id"], gold, e["gold"])
        ctx_tok = llm.tokenize(ctx_text.encode("utf-8"), add_bos=False, special=False)
        nc = len(ctx_tok)
        lmul_ll = e["scores"][arith]["loglik"]
        ll_c, norm = [], []
        for i, (cont, norm_len) in enumerate(choices):
            whole = llm.tokenize((ctx_text + cont).encode("utf-8"), add_bos=False, special=False)
            cont_tok = whole[nc:]
            if whole[:nc] != ctx_tok or len(cont_tok) != e["cont_tokens"][i]:
                print(f"  !! {qid} choice {i}: {len(cont_tok)} continuation tokens, lmul "
                      f"{e['cont_tokens'][i]} (context tokens kept: {whole[:nc] == ctx_tok})")
            if norm_len != e["norm_len"][i]:
                print(f"  !! {qid} choice {i}: length {norm_len}, lmul {e['norm_len'][i]}")
            toks = ctx_tok + cont_tok
            lp = log_softmax_rows(run_logits(llm, toks[:-1]))
            ll = float(sum(lp[nc - 1 + t, cont_tok[t]] for t in range(len(cont_tok))))
            ll_c.append(ll)
            norm.append(norm_len)
            diffs.append(lmul_ll[i] - ll)
            print(f"  {qid} choice {i}{'*' if i == gold else ' '} ({len(cont_tok)} tok): "
                  f"lmul {lmul_ll[i]:.5f}  llama.cpp {ll:.5f}  diff {lmul_ll[i] - ll:+.5f}")
            if ref is not None and k < args.reference:
                lr = log_softmax_rows(ref.forward(toks[:-1]))
                r = float(sum(lr[nc - 1 + t, cont_tok[t]] for t in range(len(cont_tok))))
                print(f"    float64 reference {r:.5f}: lmul - ref {lmul_ll[i] - r:+.1e}, "
                      f"llama.cpp - ref {ll - r:+.4f}")
        pred_l, pred_c = int(np.argmax(lmul_ll)), int(np.argmax(ll_c))
        pn_l = int(np.argmax([a / b for a, b in zip(lmul_ll, norm)]))
        pn_c = int(np.argmax([a / b for a, b in zip(ll_c, norm)]))
        agree_acc += pred_l == pred_c
        agree_norm += pn_l == pn_c
        right_l += pred_l == gold
        right_c += pred_c == gold
        norm_right_l += pn_l == gold
        norm_right_c += pn_c == gold
    d = np.abs(np.array(diffs))
    print(f"{task}: {len(diffs)} choices, |lmul - llama.cpp| loglik mean {d.mean():.3e}, max "
          f"{d.max():.3e} nats; acc predictions agree {agree_acc}/{len(exs)}, acc_norm "
          f"{agree_norm}/{len(exs)}; correct lmul / llama.cpp: acc {right_l} / {right_c}, "
          f"acc_norm {norm_right_l} / {norm_right_c}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("json", nargs="?", help="lmul eval --save-tokens JSON with wikitext2")
    ap.add_argument("--arc", help="lmul eval JSON with arc_easy")
    ap.add_argument("--hellaswag", help="lmul eval JSON with hellaswag (e.g. a shard's)")
    ap.add_argument("--limit", type=int, default=0,
                    help="multiple choice: only the JSON's first N questions")
    ap.add_argument("--data-dir", default=os.environ.get("LMUL_DATA", ""))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kv", choices=["f16", "f32"], default="f16", help="llama.cpp KV cache type")
    ap.add_argument("--flash-attn", action="store_true")
    ap.add_argument("--reference", type=int, default=0, metavar="N",
                    help="also compare with the float64 reference on N windows / questions")
    args = ap.parse_args()
    info = llama_cpp.llama_print_system_info().decode().strip()
    print(f"llama-cpp-python {llama_cpp.__version__}; {info}")
    if args.json:
        check_wikitext(args)
    if args.arc:
        check_choices(args, "arc_easy", args.arc)
    if args.hellaswag:
        check_choices(args, "hellaswag", args.hellaswag)


if __name__ == "__main__":
    main()
