"""Forward + backward throughput of one lmul.finetune micro-batch (tokens/s), per arithmetic.

    PYTHONPATH=build/python/site "$VENV/bin/python" bench/finetune_step_bench.py \
        -m "$(scripts/fetch_model.sh)" --arith fp32,lmul-all-k3,fp8-e4m3-all-scaled \
        [--backward ste] [--batch 2 --seq 256] [--steps 3] [--profile] [--digest] [--json OUT.json]

The model is loaded as `python -m lmul.finetune` loads it (fp32 master weights), patched with
`lmul.torch.patch(model, ARITH, backward=...)` ("none": unpatched PyTorch), and a (batch, seq)
micro-batch of random token ids runs through the fine-tuner's LossModel (loss on every token)
and its backward, `--steps` times after one warm-up step; the median step is reported with its
forward and backward parts, and the process's CPU seconds per step (all threads: less sensitive
to other load on a shared machine than wall time, though spinning threads count). `--profile`
prints torch.profiler's top operators (self CPU) of one step. `--digest` adds the SHA-256 of the last step's loss and of every parameter gradient
(in parameter order, raw fp32 bytes): two builds that compute the same bits print the same
digest. Progress on stderr; a JSON summary with --json. Compare builds by running this script
with PYTHONPATH pointing at each, in the same session (the machine's load changes).
"""

from __future__ import annotations

import argparse
import hashlib
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


def grad_digest(model: torch.nn.Module, loss: torch.Tensor) -> str:
    h = hashlib.sha256(loss.detach().to(torch.float32).numpy().tobytes())
    for name, p in model.named_parameters():
        h.update(name.encode())
        if p.grad is not None:
            h.update(p.grad.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def run(path: str, arith: str, backward: str, batch: int, seq: int, steps: int, profile: bool,
        threads: int, digest: bool = False) -> dict[str, object]:
    model, _ = gguf_model.load_llama(path)
    if arith != "none":
        lt.patch(model, arith, backward=backward)
    model.train()
    net = LossModel(model)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 49000, (batch, seq), generator=gen)
    labels = ids.clone()
    fwd, bwd, cpu = [], [], []  # wall seconds; CPU seconds of the process (all threads)
    for it in range(steps + 1):
        prof = torch.profiler.profile() if (profile and it == steps) else None
        if prof is not None:
            prof.__enter__()
        t0, c0 = time.monotonic(), time.process_time()
        loss = net(ids, labels)
        t1 = time.monotonic()
        loss.backward()
        t2, c2 = time.monotonic(), time.process_time()
        if prof is not None:
            prof.__exit__(None, None, None)
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
        if digest and it == steps:
            sha = grad_digest(model, loss)
            print(f"{arith} {backward}: digest {sha}", file=sys.stderr, flush=True)
        model.zero_grad(set_to_none=True)
        if it > 0:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            cpu.append(c2 - c0)
        print(f"{arith}: step {it} forward {t1 - t0:.2f} s backward {t2 - t1:.2f} s cpu {c2 - c0:.2f} s"
              f"{' (warm-up)' if it == 0 else ''}", file=sys.stderr, flush=True)
    f, b = statistics.median(fwd), statistics.median(bwd)
    row: dict[str, object] = {"arith": arith, "backward": backward, "tokens": batch * seq,
                              "threads": threads, "forward_s": f, "backward_s": b,
                              "tokens_s": batch * seq / (f + b), "cpu_s": statistics.median(cpu),
                              "loss": float(loss.detach())}
    if digest:
        row["digest"] = sha
    return row


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
    ap.add_argument("--digest", action="store_true", help="SHA-256 of the loss and gradients")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or args.seq < 2 or args.threads < 1:
        ap.error("--steps, --batch, --threads must be >= 1 and --seq >= 2")
    torch.set_num_threads(args.threads)
    lt.set_threads(args.threads)
    rows = [run(args.model, a, args.backward, args.batch, args.seq, args.steps, args.profile, args.threads,
                args.digest) for a in args.arith.split(",")]
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
