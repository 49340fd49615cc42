"""The training loop of ``lmul.finetune``: AdamW on fp32 master weights, gradient clipping, cosine
schedule with linear warmup, checkpoints that resume bit-identically, DistributedDataParallel.

Determinism: the batches of epoch e are a permutation drawn from (seed, e) (data.plan_epoch); the
model has no dropout; every random state that could matter (torch's) is in the checkpoint with
the weights, the AdamW state and the step, so a resumed run computes the same bits as an
uninterrupted one (tested). Under DDP the global batch is split round-robin over the ranks and
each rank's loss is scaled by world_size / (target tokens of the global batch), so the averaged
gradient is that of one process on the whole batch (equal up to float summation order).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmul.finetune.data import Sequence_, plan_epoch

__all__ = ["Budget", "TrainConfig", "lr_at", "train"]

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
EXPORT = "model.gguf"
SUMMARY = "summary.json"
RUN = "run.json"  # the configuration, written when training starts


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines the computed bits (checked equal on --resume)."""

    model: str
    task: str
    split: str
    arith: str
    backward: str
    steps: int  # total optimizer steps (resolved from --steps / --epochs)
    epochs: float
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    beta1: float
    beta2: float
    clip: float
    batch_tokens: int
    micro_tokens: int
    seq_len: int
    seed: int


@dataclasses.dataclass
class Budget:
    steps_per_epoch: int
    total_steps: int


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warmup to cfg.lr over
    warmup_steps, then cosine decay to lr * min_lr_ratio at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps - 1)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    lo = cfg.lr * cfg.min_lr_ratio
    return lo + 0.5 * (cfg.lr - lo) * (1.0 + math.cos(math.pi * progress))


class _Dist:
    """Process group facts (a single process when torchrun did not start us)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.on = self.world > 1
        if self.on:
            import torch.distributed as dist

            # lmul's ops are CPU kernels, so the model lives on the CPU: gloo. (A CUDA model
            # would use NCCL; lmul.torch registers no CUDA kernels yet.)
            dist.init_process_group(backend="gloo")

    def all_sum(self, x: torch.Tensor) -> torch.Tensor:
        if self.on:
            import torch.distributed as dist

            dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    def barrier(self) -> None:
        if self.on:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.on:
            import torch.distributed as dist

            dist.destroy_process_group()


class _Progress:
    """A one-line progress bar on stderr (redrawn on a terminal, a line every 30 s otherwise)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.t0 = time.monotonic()

    def update(self, step: int, loss: float, tok_s: float, done_here: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not (self.tty or force or now - self.last >= 30.0):
            return
        self.last = now
        width = 24
        fill = int(width * step / max(1, self.total))
        rate = done_here / max(1e-9, now - self.t0)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        eta_s = "?" if not math.isfinite(eta) else f"{int(eta // 3600)}h{int(eta % 3600 // 60):02d}m{int(eta % 60):02d}s"
        line = (f"[{'#' * fill}{'.' * (width - fill)}] step {step}/{self.total}  loss {loss:.4f}  "
                f"{tok_s:.0f} tok/s  ETA {eta_s}")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


def _micro_batches(seqs: Sequence[Sequence_], idx: list[int], micro_tokens: int) -> list[list[int]]:
    """idx sorted by length (stable) and split into groups whose padded size (count * longest)
    fits micro_tokens: little padding."""
    idx = sorted(idx, key=lambda i: len(seqs[i].ids))
    out: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in idx:
        n = len(seqs[i].ids)
        if cur and (len(cur) + 1) * max(longest, n) > micro_tokens:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    return out


def _tensors(seqs: Sequence[Sequence_], idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """input ids (B, S) right-padded with 0, labels (B, S) with -100 outside the targets. Right
    padding needs no attention mask: causal attention never lets a real token see a pad."""
    s = max(len(seqs[i].ids) for i in idx)
    ids = torch.zeros((len(idx), s), dtype=torch.long)
    labels = torch.full((len(idx), s), -100, dtype=torch.long)
    for r, i in enumerate(idx):
        q = seqs[i]
        t = torch.tensor(q.ids, dtype=torch.long)
        ids[r, : len(q.ids)] = t
        labels[r, q.first : len(q.ids)] = t[q.first :]
    return ids, labels


class LossModel(nn.Module):
    """Wraps a causal LM so that forward returns the summed cross-entropy (nats) of the target
    tokens, with the output head applied to the target positions only (each row of a GEMM is
    computed alone, so the values equal those of full logits; ARC's targets are ~10% of the
    tokens, so this saves most of the head's work). DDP wraps this module."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.lm.model(input_ids=ids, use_cache=False).last_hidden_state  # (B, S, d_model)
        target = labels[:, 1:]
        keep = target != -100
        logits = self.lm.lm_head(hidden[:, :-1][keep])  # (n_targets, n_vocab)
        return F.cross_entropy(logits.float(), target[keep], reduction="sum")


def loss_sum(model: nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over target tokens of the cross-entropy (nats) of a causal LM (B, S) -> ()."""
    return LossModel(model)(ids, labels)


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state()}


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])


def _save(out: pathlib.Path, model: nn.Module, opt: torch.optim.Optimizer, step: int, cfg: TrainConfig) -> None:
    tmp = out / (CHECKPOINT + ".tmp")
    torch.save({"config": dataclasses.asdict(cfg), "step": step, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "rng": _rng_state()}, tmp)
    os.replace(tmp, out / CHECKPOINT)


def load_checkpoint(path: pathlib.Path) -> dict[str, Any]:
    """A checkpoint written by this module (tensors and plain values only: loaded with
    weights_only=True, so a hostile file cannot run code); ValueError naming the file otherwise."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many types for a bad file)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a readable lmul.finetune checkpoint ({first}) "
                         "(hint: delete it to start over)") from None
    keys = ("config", "step", "model", "optimizer", "rng")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise ValueError(f"{path}: expected a checkpoint with keys {', '.join(keys)}")
    if not isinstance(state["step"], int) or state["step"] < 0:
        raise ValueError(f"{path}: field 'step': expected an integer >= 0, found {state['step']!r}")
    return state


def _trim_log(path: pathlib.Path, step: int) -> None:
    """Keeps the log lines of steps <= step (a resumed run rewrites the ones after)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            break  # a line cut by the interruption
    path.write_text("".join(x + "\n" for x in keep))


def train(model: nn.Module, seqs: Sequence[Sequence_], cfg: TrainConfig, out: pathlib.Path,
          resume_state: dict[str, Any] | None, save_every: int, quiet: bool = False,
          export: Any = None, stop_after: int = 0) -> dict[str, Any] | None:
    """Runs cfg.steps optimizer steps (continuing resume_state if given), checkpointing every
    save_every steps and at the end; export(model) is called on rank 0 at the end. Returns the
    summary (also written to out/summary.json). stop_after > 0: stop (checkpointed, nothing
    exported, None returned) after that many steps of this call, to split a run into slices."""
    dist = _Dist()
    try:
        return _train(model, seqs, cfg, out, resume_state, save_every, quiet, export, dist, stop_after)
    finally:
        dist.close()


def _train(model: nn.Module, seqs: Sequence[Sequence_], cfg: TrainConfig, out: pathlib.Path,
           resume_state: dict[str, Any] | None, save_every: int, quiet: bool, export: Any,
           dist: _Dist, stop_after: int) -> dict[str, Any] | None:
    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8,
                            weight_decay=cfg.weight_decay, foreach=False)
    start = 0
    if resume_state is not None:
        # Popped: the checkpoint's weights are copied into the model's parameters and would
        # otherwise stay alive (another 0.5 GB for SmolLM2) for the whole run; the AdamW
        # state is used in place by the optimizer.
        model.load_state_dict(resume_state.pop("model"))
        opt.load_state_dict(resume_state.pop("optimizer"))
        _set_rng_state(resume_state["rng"])
        start = int(resume_state["step"])
    model.train()
    net: nn.Module = LossModel(model)
    if dist.on:
        net = nn.parallel.DistributedDataParallel(net, broadcast_buffers=False)
    lead = dist.rank == 0
    plans: dict[int, list[list[int]]] = {}
    per_epoch = len(plan_epoch(seqs, cfg.batch_tokens, cfg.seed, 0))
    if lead:
        out.mkdir(parents=True, exist_ok=True)
        _trim_log(out / LOG, start)
        (out / RUN).write_text(json.dumps({"config": dataclasses.asdict(cfg), "steps_per_epoch": per_epoch,
                                           "world": dist.world}, indent=1) + "\n")
    bar = _Progress(cfg.steps, lead and not quiet)
    t_run = time.monotonic()
    tokens_run = 0
    last: dict[str, Any] = {}
    for step in range(start, cfg.steps):
        epoch, pos = divmod(step, per_epoch)
        if epoch not in plans:
            plans.clear()
            plans[epoch] = plan_epoch(seqs, cfg.batch_tokens, cfg.seed, epoch)
        batch = plans[epoch][pos]
        t0 = time.monotonic()
        n_targets = sum(seqs[i].n_targets for i in batch)
        n_tokens = sum(len(seqs[i].ids) for i in batch)
        mine = batch[dist.rank :: dist.world]
        # A rank left without a sequence (a batch smaller than the world) still joins the
        # gradient all-reduce: one forward/backward of a sequence with weight 0.
        weight = 1.0 if mine else 0.0
        micro = _micro_batches(seqs, mine or batch[:1], cfg.micro_tokens)
        lr = lr_at(step, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        total = torch.zeros((), dtype=torch.float64)
        for k, idx in enumerate(micro):
            ids, labels = _tensors(seqs, idx)
            sync = k == len(micro) - 1
            ctx = net.no_sync() if (dist.on and not sync) else _nullcontext()
            with ctx:
                ls = net(ids, labels)
                (ls * (weight * dist.world / n_targets)).backward()
            total += weight * ls.detach().to(torch.float64)
        total = dist.all_sum(total)
        grad_norm = float(nn.utils.clip_grad_norm_(params, cfg.clip))
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.monotonic() - t0
        tokens_run += n_tokens
        loss = float(total) / n_targets
        last = {"step": step + 1, "epoch": epoch, "loss": loss, "lr": lr, "grad_norm": grad_norm,
                "tokens": n_tokens, "targets": n_targets, "sequences": len(batch),
                "tokens_s": n_tokens / dt, "step_s": dt, "world": dist.world}
        if not math.isfinite(loss):
            raise FloatingPointError(f"step {step + 1}: loss is {loss} (hint: lower --lr)")
        if lead:
            with open(out / LOG, "a") as f:
                f.write(json.dumps(last) + "\n")
        bar.update(step + 1, loss, n_tokens / dt, step + 1 - start, force=step + 1 == cfg.steps)
        stop = stop_after > 0 and step + 1 - start == stop_after and step + 1 < cfg.steps
        if (step + 1) % save_every == 0 or step + 1 == cfg.steps or stop:
            if lead:
                _save(out, model, opt, step + 1, cfg)
            dist.barrier()
        if stop:
            bar.close()
            return None
    bar.close()
    elapsed = time.monotonic() - t_run
    summary = {"config": dataclasses.asdict(cfg), "steps_per_epoch": per_epoch, "final": last,
               "run_tokens": tokens_run, "run_seconds": elapsed,
               "run_tokens_s": tokens_run / elapsed if elapsed > 0 else None,
               "resumed_from": start, "world": dist.world, "threads": torch.get_num_threads()}
    model.eval()
    if lead:
        if export is not None:
            export(model)
        (out / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    dist.barrier()
    return summary


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None
