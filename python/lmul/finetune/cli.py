"""``python -m lmul.finetune`` / ``lmul-finetune``: parse, check everything, train, export.

Every argument, the model, the data file and every example are read and checked before the
first step; errors are one line naming the flag or the file and field, exit 2 for usage
errors, 1 for runtime errors (bad files, data, a diverging loss).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pathlib
import sys
from typing import NoReturn

PROG = "lmul-finetune"


class UsageError(Exception):
    """Exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message} (hint: {PROG} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Fine-tune a Llama GGUF under an lmul arithmetic policy (PyTorch, fp32 master "
        "weights, AdamW); writes OUT/log.jsonl, OUT/checkpoint.pt and OUT/model.gguf. docs/finetune.md.",
    )
    a = p.add_argument
    a("-m", "--model", required=True, help="input GGUF (Llama family; any lmul-loadable tensor type)")
    a("--task", required=True, choices=["wikitext2", "arc_easy", "gsm8k"])
    a("--split", default=None, help="wikitext2: validation (default) | train; arc_easy: train (default) | "
      "validation; gsm8k: train. Test splits are refused.")
    a("--data-dir", default=None, help="shared data layout (default $LMUL_DATA, else shared/data in the "
      "nearest folder above the current one, e.g. ../shared/data beside the checkout)")
    a("--arith", default="fp32", help="policy preset or inline policy, as `lmul run --arith` (default fp32)")
    a("--backward", default="ste", choices=["ste", "same"], help="gradient arithmetic (docs/python.md)")
    a("--steps", type=int, default=0, help="optimizer steps; 0 (default): --epochs epochs of the split")
    a("--epochs", type=float, default=1.0, help="budget in epochs when --steps is 0 (default 1)")
    a("--lr", type=float, default=2e-5, help="peak learning rate (default 2e-5)")
    a("--min-lr-ratio", type=float, default=0.1, help="cosine floor as a fraction of --lr (default 0.1)")
    a("--warmup-steps", type=int, default=-1, help="linear warmup steps (default: 5%% of the steps)")
    a("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0)")
    a("--betas", default="0.9,0.999", help="AdamW betas (default 0.9,0.999)")
    a("--clip", type=float, default=1.0, help="gradient-norm clipping (default 1.0)")
    a("--batch-tokens", type=int, default=4096, help="tokens per optimizer step, whole sequences, all "
      "processes together (default 4096)")
    a("--micro-tokens", type=int, default=1024, help="padded tokens per forward/backward on one process "
      "(gradient accumulation; default 1024; does not change the result beyond float order)")
    a("--seq-len", type=int, default=512, help="wikitext2: window length; other tasks: longer examples "
      "are cut to it (default 512)")
    a("--seed", type=int, default=0)
    a("--out", required=True, help="output folder (log.jsonl, checkpoint.pt, model.gguf, summary.json)")
    a("--resume", action="store_true", help="continue from OUT/checkpoint.pt (bit-identical to an "
      "uninterrupted run); starts from scratch if there is none")
    a("--export-type", default="f32", choices=["f32", "bf16"], help="OUT/model.gguf tensor type")
    a("--save-every", type=int, default=25, help="checkpoint every N steps (default 25) and at the end")
    a("--stop-after", type=int, default=0, help="stop (checkpointed, not exported) after N steps of this "
      "invocation; continue with --resume (time slices on a shared machine)")
    a("--threads", type=int, default=0, help="CPU threads per process (default: torch's default)")
    a("--quiet", action="store_true", help="no progress bar")
    return p


def _check(args: argparse.Namespace) -> None:
    """Range checks of the numbers (UsageError names the flag)."""
    def need(ok: bool, flag: str, what: str, got: object) -> None:
        if not ok:
            raise UsageError(f"{flag}: expected {what}, got {got}")

    need(0 <= args.steps <= 10**8, "--steps", "an integer in [0, 100000000]", args.steps)
    need(math.isfinite(args.epochs) and 0 < args.epochs <= 1000, "--epochs", "a number in (0, 1000]", args.epochs)
    need(math.isfinite(args.lr) and 0 < args.lr < 1, "--lr", "a number in (0, 1)", args.lr)
    need(math.isfinite(args.min_lr_ratio) and 0 <= args.min_lr_ratio <= 1, "--min-lr-ratio", "a number in [0, 1]",
         args.min_lr_ratio)
    need(args.warmup_steps >= -1, "--warmup-steps", "an integer >= 0 (or -1: 5%)", args.warmup_steps)
    need(math.isfinite(args.weight_decay) and 0 <= args.weight_decay < 1, "--weight-decay", "a number in [0, 1)",
         args.weight_decay)
    need(math.isfinite(args.clip) and args.clip > 0, "--clip", "a number > 0", args.clip)
    need(2 <= args.seq_len <= 1 << 16, "--seq-len", "an integer in [2, 65536]", args.seq_len)
    need(args.seq_len <= args.batch_tokens <= 1 << 24, "--batch-tokens", f"an integer in [--seq-len {args.seq_len}, "
         "16777216]", args.batch_tokens)
    need(args.seq_len <= args.micro_tokens <= 1 << 24, "--micro-tokens", f"an integer in [--seq-len {args.seq_len}, "
         "16777216]", args.micro_tokens)
    need(args.stop_after >= 0, "--stop-after", "an integer >= 0", args.stop_after)
    need(args.save_every >= 1, "--save-every", "an integer >= 1", args.save_every)
    need(0 <= args.threads <= 1024, "--threads", "an integer in [0, 1024]", args.threads)
    need(0 <= args.seed < 2**63, "--seed", "an integer in [0, 2^63)", args.seed)
    try:
        b = tuple(float(x) for x in args.betas.split(","))
    except ValueError:
        b = ()
    need(len(b) == 2 and all(0 <= x < 1 for x in b), "--betas", "two numbers in [0, 1) as B1,B2", args.betas)
    args.beta_pair = b


def _data_dir(arg: str | None) -> pathlib.Path:
    if arg:
        return pathlib.Path(arg)
    env = os.environ.get("LMUL_DATA")
    if env:
        return pathlib.Path(env)
    for up in pathlib.Path.cwd().resolve().parents:  # ../shared/data beside the checkout, or higher
        if (up / "shared" / "data").is_dir():
            return up / "shared" / "data"
    raise UsageError("--data-dir: not given, $LMUL_DATA unset and no shared/data above the current folder "
                     "(hint: --data-dir DIR with the shared data layout)")


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, OSError, FloatingPointError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    _check(args)
    # Flags first (usage errors, exit 2), then files (runtime errors, exit 1).
    import lmul

    try:
        sites = lmul.policy_sites(args.arith)
    except ValueError as e:
        raise UsageError(f"--arith: {e}") from None
    from lmul.finetune import data as fd

    split = args.split or fd.DEFAULT_SPLIT[args.task]
    try:
        path = fd.split_path(_data_dir(args.data_dir), args.task, split)
    except ValueError as e:
        raise UsageError(str(e)) from None
    out = pathlib.Path(args.out)
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and not args.resume:
        raise UsageError(f"--out: {out} already holds a run (checkpoint.pt) (hint: --resume to continue it, "
                         "or another --out)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    model_path = pathlib.Path(args.model)
    if not model_path.is_file():
        raise OSError(f"{model_path}: no such file (hint: scripts/fetch_model.sh prints the default model)")

    import torch

    import lmul.engine
    import lmul.torch as lt
    from lmul.finetune import gguf_model, train

    if args.threads:
        torch.set_num_threads(args.threads)
        lt.set_threads(args.threads)
    engine_model = lmul.engine.Model(model_path)
    tok = engine_model
    meta = gguf_model.tokenizer_meta(model_path)
    add_bos = meta["add_bos"]  # as lmul eval: BOS only where the GGUF asks for it
    prefix = meta["bos"] if meta["bos"] is not None else (meta["eos"] or 0)  # lm-eval's prefix token
    seqs, counts = fd.load_task(args.task, path, lambda s: tok.tokenize(s, add_bos=add_bos), int(prefix),
                                args.seq_len)
    engine_cfg = engine_model.config
    del tok, engine_model  # the engine's copy of the weights (~0.7 GB for SmolLM2) is not needed any more
    _release_freed_memory()
    per_epoch = len(fd.plan_epoch(seqs, args.batch_tokens, args.seed, 0))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps = args.steps or max(1, math.ceil(args.epochs * per_epoch))
    warmup = args.warmup_steps if args.warmup_steps >= 0 else max(1, round(0.05 * steps))
    tc = train.TrainConfig(model=str(model_path.resolve()), task=args.task, split=split, arith=sites["name"],
                           backward=args.backward, steps=steps, epochs=steps / per_epoch, lr=args.lr,
                           min_lr_ratio=args.min_lr_ratio, warmup_steps=min(warmup, steps),
                           weight_decay=args.weight_decay, beta1=args.beta_pair[0], beta2=args.beta_pair[1],
                           clip=args.clip, batch_tokens=args.batch_tokens, micro_tokens=args.micro_tokens,
                           seq_len=args.seq_len, seed=args.seed)
    state = None
    if args.resume and ckpt.exists():
        state = train.load_checkpoint(ckpt)
        saved = state.get("config", {})
        # micro_tokens only changes float order, but a bit-identical resume needs it equal too.
        diff = [k for k, v in dataclasses.asdict(tc).items() if k != "model" and saved.get(k) != v]
        if diff:
            k = diff[0]
            raise UsageError(f"--resume: {ckpt} was written with {k}={saved.get(k)!r}, this run has "
                             f"{k}={getattr(tc, k)!r} (hint: the same flags as the interrupted run)")
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0 and not args.quiet:
        print(f"{PROG}: {args.task}/{split}: {counts['sequences']} sequences ({counts['truncated']} cut to "
              f"--seq-len, {counts['dropped']} without targets dropped), {per_epoch} steps/epoch, "
              f"{steps} steps; {sites['name']} backward={args.backward}; world {world}"
              + (f"; resuming at step {state['step']}" if state else ""), file=sys.stderr)
    model, mcfg = gguf_model.load_llama(model_path, config=engine_cfg)
    lt.patch(model, args.arith, backward=args.backward)

    def export(m: torch.nn.Module) -> None:
        extra = {"task": args.task, "split": split, "arith": sites["name"], "backward": args.backward,
                 "steps": str(steps), "seed": str(args.seed), "source": model_path.name}
        gguf_model.export_gguf(m, mcfg, model_path, out / train.EXPORT, args.export_type, extra)

    try:
        summary = train.train(model, seqs, tc, out, state, args.save_every, quiet=args.quiet, export=export,
                              stop_after=args.stop_after)
    finally:
        lt.unpatch(model)  # module-level state of patch() (RoPE) for callers that go on in-process
    if summary is None:
        if rank == 0 and not args.quiet:
            print(f"{PROG}: stopped after {args.stop_after} steps (--stop-after); continue with --resume",
                  file=sys.stderr)
        return 0
    if rank == 0 and not args.quiet:
        print(f"{PROG}: wrote {out / train.EXPORT}", file=sys.stderr)
    return 0


def _release_freed_memory() -> None:
    """Hands the C library's free heap pages back to the OS (glibc malloc_trim): the engine's
    freed weights would otherwise stay in the process's RSS for the whole run."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":  # pragma: no cover
    main()

__all__ = ["main", "run"]
