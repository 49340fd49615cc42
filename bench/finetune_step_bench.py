"""Forward + backward throughput of one lmul.finetune micro-batch (tokens/s), per arithmetic.

    PYTHONPATH=build/python/site "$VENV/bin/python" bench/finetune_step_bench.py \
        -m "$(scripts/fetch_model.sh)" --arith fp32,lmul-all-k3,fp8-e4m3-all-scaled \
        [--backward ste] [--batch 2 --seq 256] [--steps 3] [--profile] [--json OUT.json]

The model is loaded as `python -m lmul.finetune` loads it (fp32 master weights), patched with
`lmul.torch.patch(model, ARITH, backward=...)` ("none": unpatched PyTorch), and a (batch, seq)
micro-batch of random token ids runs through the fine-tuner's LossModel (loss on every token)
and its backward, `--steps` times after one warm-up step; the median step is reported with its
forward and backward parts. `--profile` prints torch.profiler's top operators (self CPU) of one
step. Progress on stderr; a JSON summary with --json. Compare builds by running this script
with PYTHONPATH pointing at each, in the same session (the machine's load changes).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

import lmul.torch as lt
from lmul.finetune import gguf_model
from lmul.finetune.train import LossModel


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(path: str, arith: str, backward: str, batch: int, seq: int, steps: int, profile: bool,
        threads: int) -> dict[str, object]:
    model, _ = gguf_model.load_llama(path)
    if arith != "none":
        lt.patch(model, arith, backward=backward)
    model.train()
    net = LossModel(model)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 49000, (batch, seq), generator=gen)
    labels = ids.clone()
    fwd, bwd = [], []
    for it in range(steps + 1):
        prof = torch.profiler.profile() if (profile and it == steps) else None
        if prof is not None:
            prof.__enter__()
        t0 = time.monotonic()
        loss = net(ids, labels)
        t1 = time.monotonic()
        loss.backward()
        t2 = time.monotonic()
        if prof is not None:
            prof.__exit__(None, None, None)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
        model.zero_grad(set_to_none=True)
        if it > 0:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
        print(f"{arith}: step {it} forward {t1 - t0:.2f} s backward {t2 - t1:.2f} s"
              f"{' (warm-up)' if it == 0 else ''}", file=sys.stderr, flush=True)
    f, b = statistics.median(fwd), statistics.median(bwd)
    return {"arith": arith, "backward": backward, "tokens": batch * seq, "threads": threads,
            "forward_s": f, "backward_s": b, "tokens_s": batch * seq / (f + b),
            "loss": float(loss.detach())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--arith", default="fp32,lmul-all-k3,fp8-e4m3-all-scaled")
    ap.add_argument("--backward", default="ste", choices=("ste", "same"))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or args.seq < 2 or args.threads < 1:
        ap.error("--steps, --batch, --threads must be >= 1 and --seq >= 2")
    torch.set_num_threads(args.threads)
    lt.set_threads(args.threads)
    rows = [run(args.model, a, args.backward, args.batch, args.seq, args.steps, args.profile, args.threads)
            for a in args.arith.split(",")]
    print(f"CPU: {cpu_model()}, {args.threads} threads, batch ({args.batch}, {args.seq})")
    print("| arithmetic | backward | forward s | backward s | tokens/s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['arith']} | {r['backward']} | {r['forward_s']:.2f} | {r['backward_s']:.2f} | {r['tokens_s']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "rows": rows}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
