"""lmul.finetune on a tiny randomly initialised Llama GGUF written here (byte-level BPE vocabulary,
2 layers, d_model 64) and tiny data sets in the shared layout (docs/finetune.md).

- a few steps lower the training loss under every policy preset (ste; lmul-all also same);
- --stop-after + --resume gives bit-identical weights, optimizer state and losses;
- the exported GGUF loads in the engine and in `lmul eval` (LMUL_CLI), whose fp32 logits /
  log-likelihoods match the PyTorch model's (max |delta| <= 1e-3; in fact bit-identical);
- torchrun with 2 processes gives the losses of 1 process with the same global batch;
- bad arguments and data fail before training with one-line errors and exit 2 / 1.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

import lmul  # noqa: E402
import lmul.engine  # noqa: E402
import lmul.torch as lt  # noqa: E402
from lmul.finetune import cli, data, gguf_model, train  # noqa: E402

D, N_LAYER, N_HEAD, N_KV, HEAD_DIM, D_FF = 64, 2, 4, 2, 16, 96


def _byte_chars() -> list[str]:
    """GPT-2's bytes_to_unicode: the printable stand-in of each byte, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return [out[b] for b in range(256)]


MERGES = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "e r", "o n", "Ġ s", "e s", "r e"]


def write_tiny_gguf(path: pathlib.Path, seed: int = 0) -> None:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + _byte_chars() + ["".join(m.split()) for m in MERGES]
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny finetune test")
    w.add_block_count(N_LAYER)
    w.add_context_length(256)
    w.add_embedding_length(D)
    w.add_feed_forward_length(D_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(MERGES)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.08) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w.add_tensor("token_embd.weight", rand(len(tokens), D, scale=0.5))
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1 + rand(D, scale=0.1)))
        w.add_tensor(p + "attn_q.weight", rand(N_HEAD * HEAD_DIM, D))
        w.add_tensor(p + "attn_k.weight", rand(N_KV * HEAD_DIM, D))
        w.add_tensor(p + "attn_v.weight", rand(N_KV * HEAD_DIM, D))
        w.add_tensor(p + "attn_output.weight", rand(D, N_HEAD * HEAD_DIM))
        w.add_tensor(p + "ffn_norm.weight", (1 + rand(D, scale=0.1)))
        w.add_tensor(p + "ffn_gate.weight", rand(D_FF, D))
        w.add_tensor(p + "ffn_up.weight", rand(D_FF, D))
        w.add_tensor(p + "ffn_down.weight", rand(D, D_FF))
    w.add_tensor("output_norm.weight", (1 + rand(D, scale=0.1)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


ANIMALS = ["cat", "dog", "bird", "fish", "horse", "sheep"]


def write_data(root: pathlib.Path) -> pathlib.Path:
    arc = root / "arc-easy"
    arc.mkdir(parents=True)
    rows = []
    for i in range(24):
        a = ANIMALS[i % 6]
        texts = [x for x in ANIMALS if x != a][:3]
        texts.insert(i % 4, a)
        choices = [{"text": x, "label": "ABCD"[j]} for j, x in enumerate(texts)]
        rows.append({"id": f"q{i}", "question": {"stem": f"Which animal is number {i % 6}?", "choices": choices},
                     "answerKey": "ABCD"[i % 4]})
    (arc / "ARC-Easy-Train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (arc / "ARC-Easy-Test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    wiki = root / "wikitext-2-raw"
    wiki.mkdir()
    art = " = The {t} = \n \n The {t} is an animal , and the {t} sees the sea . There are 3 @,@ 000 of them . \n \n"
    (wiki / "wiki.valid.raw").write_text(" \n" + "".join(art.format(t=a) for a in ANIMALS * 3))
    gsm = root / "gsm8k"
    gsm.mkdir()
    (gsm / "train.jsonl").write_text("".join(json.dumps({"question": f"What is {i} + 1?",
                                                         "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}) + "\n"
                                             for i in range(12)))
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    root = tmp_path_factory.mktemp("finetune")
    model = root / "tiny.gguf"
    write_tiny_gguf(model)
    return {"root": root, "model": model, "data": write_data(root / "data")}


def base_args(env: dict[str, pathlib.Path], out: pathlib.Path, *extra: str) -> list[str]:
    return ["-m", str(env["model"]), "--task", "arc_easy", "--data-dir", str(env["data"]), "--out", str(out),
            "--batch-tokens", "320", "--seq-len", "64", "--micro-tokens", "192", "--lr", "3e-3", "--threads", "1",
            "--quiet", *extra]


def dataset_loss(model_path: pathlib.Path, gguf_path: pathlib.Path, env: dict[str, pathlib.Path], policy: str,
                 backward: str = "ste") -> float:
    """Mean target loss of the whole ARC training file under a policy (the fine-tuner's loss)."""
    em = lmul.engine.Model(model_path)
    seqs, _ = data.load_task("arc_easy", env["data"] / "arc-easy" / "ARC-Easy-Train.jsonl",
                             lambda s: em.tokenize(s, add_bos=False), 1, 64)
    model, _ = gguf_model.load_llama(gguf_path)
    lt.patch(model, policy, backward=backward)
    try:
        ids, labels = train._tensors(seqs, list(range(len(seqs))))
        with torch.no_grad():
            return float(train.loss_sum(model, ids, labels)) / sum(s.n_targets for s in seqs)
    finally:
        lt.unpatch(model)  # patch() changes module-level state (RoPE) until the last unpatch


CASES = [(p, "ste") for p in lmul.policy_presets()] + [(p, "same") for p in ("lmul-all", "lmul-all-k3")
                                                     if p in lmul.policy_presets()]


@pytest.mark.parametrize(("policy", "backward"), CASES)
def test_few_steps_reduce_loss(env: dict[str, pathlib.Path], tmp_path: pathlib.Path, policy: str,
                               backward: str) -> None:
    out = tmp_path / "run"
    assert cli.run(base_args(env, out, "--arith", policy, "--backward", backward, "--steps", "8",
                             "--warmup-steps", "1")) == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 9))
    assert all(np.isfinite(r["loss"]) for r in log)
    before = dataset_loss(env["model"], env["model"], env, policy, backward)
    after = dataset_loss(env["model"], out / "model.gguf", env, policy, backward)
    assert after < before - 0.05, f"{policy}/{backward}: loss {before:.4f} -> {after:.4f}"


def test_resume_is_bit_identical(env: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    flags = ("--arith", "lmul-attn", "--steps", "7", "--save-every", "2")
    assert cli.run(base_args(env, whole, *flags)) == 0
    assert cli.run(base_args(env, parts, *flags, "--stop-after", "3")) == 0
    assert not (parts / "model.gguf").exists()
    assert json.loads((parts / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    # A checkpoint exists: a run without --resume is refused (exit 2), a changed flag too.
    assert cli.run(base_args(env, parts, *flags)) == 2
    assert cli.run(base_args(env, parts, "--arith", "lmul-attn", "--steps", "7", "--seed", "5", "--resume")) == 2
    assert cli.run(base_args(env, parts, *flags, "--resume", "--stop-after", "2")) == 0
    assert cli.run(base_args(env, parts, *flags, "--resume")) == 0
    a = torch.load(whole / "checkpoint.pt", weights_only=False)
    b = torch.load(parts / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 7
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    la = [json.loads(x) for x in (whole / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (parts / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in la] == \
        [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in lb]
    assert (whole / "model.gguf").read_bytes() == (parts / "model.gguf").read_bytes()


def test_export_roundtrip_and_engine(env: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """Unchanged weights export to the very same tensors; trained ones load in the engine with
    the PyTorch model's fp32 logits; BF16 export is bf16-rounded."""
    model, cfg = gguf_model.load_llama(env["model"])
    gguf_model.export_gguf(model, cfg, env["model"], tmp_path / "same.gguf")
    src, dst = lmul.engine.load_tensors(env["model"]), lmul.engine.load_tensors(tmp_path / "same.gguf")
    assert src.keys() == dst.keys()
    for k in src:
        assert np.array_equal(src[k], dst[k]), k
    r_src, r_dst = gguf.GGUFReader(str(env["model"])), gguf.GGUFReader(str(tmp_path / "same.gguf"))
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type",
                "tokenizer.ggml.bos_token_id", "llama.rope.freq_base", "general.name"):
        assert r_src.fields[key].contents() == r_dst.fields[key].contents(), key

    out = tmp_path / "run"
    assert cli.run(base_args(env, out, "--steps", "4", "--export-type", "bf16")) == 0
    assert cli.run(base_args(env, tmp_path / "run32", "--steps", "4")) == 0
    trained, _ = gguf_model.load_llama(tmp_path / "run32" / "model.gguf")
    ckpt = torch.load(tmp_path / "run32" / "checkpoint.pt", weights_only=False)
    for k, v in trained.state_dict().items():
        assert torch.equal(v, ckpt["model"][k]), k
    assert not torch.equal(trained.state_dict()["model.embed_tokens.weight"],
                           model.state_dict()["model.embed_tokens.weight"])
    em = lmul.engine.Model(tmp_path / "run32" / "model.gguf")
    ids = em.tokenize("Question: Which animal is the cat?\nAnswer: cat", add_bos=False)
    lt.patch(trained, "fp32")
    with torch.no_grad():
        want = trained(torch.tensor([ids])).logits[0].numpy()
    lt.unpatch(trained)
    got = lmul.engine.Session(em, "fp32", threads=1).forward(ids)
    assert float(np.abs(got - want).max()) <= 1e-3
    assert np.array_equal(got, want)  # stronger: the engine's bits (docs/python.md)
    bf = lmul.engine.load_tensors(out / "model.gguf")
    q = bf["blk.0.ffn_up.weight"]
    assert np.array_equal(q, (q.view(np.uint32) & 0xFFFF0000).view(np.float32))  # bf16 values
    assert bf["blk.0.attn_norm.weight"].dtype == np.float32


def test_export_loads_in_lmul_eval(env: dict[str, pathlib.Path], tmp_path: pathlib.Path, cli: pathlib.Path) -> None:
    """`lmul eval` (the C++ CLI) scores the exported model; its per-choice log-likelihoods under
    fp32 equal those computed from the PyTorch model's logits (|delta| <= 1e-3)."""
    out = tmp_path / "run"
    from lmul.finetune import cli as ft_cli

    assert ft_cli.run(base_args(env, out, "--steps", "3")) == 0
    js = tmp_path / "eval.json"
    r = subprocess.run([str(cli), "eval", "-m", str(out / "model.gguf"), "--tasks", "arc_easy", "--arith",
                        "fp32,lmul-attn", "--data-dir", str(env["data"]), "--json", str(js), "--quiet",
                        "--threads", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads(js.read_text())
    model, _ = gguf_model.load_llama(out / "model.gguf")
    lt.patch(model, "fp32")  # the model as the fine-tuner computes it
    em = lmul.engine.Model(out / "model.gguf")
    rows = [json.loads(x) for x in (env["data"] / "arc-easy" / "ARC-Easy-Test.jsonl").read_text().splitlines()]
    worst = 0.0
    for ex in res["examples"]:
        row = rows[ex["index"]]
        ctx = f"Question: {row['question']['stem']}\nAnswer:"
        for c, ll in zip(row["question"]["choices"], ex["scores"]["fp32"]["loglik"]):
            whole, first = data._pair(lambda s: em.tokenize(s, add_bos=False), ctx, " " + c["text"])
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), -1)
            mine = float(sum(lp[t - 1, whole[t]] for t in range(first, len(whole))))
            worst = max(worst, abs(mine - ll))
    lt.unpatch(model)
    assert worst <= 1e-3, worst


@pytest.mark.parametrize("batch_tokens", ["320", "64"])
def test_ddp_two_processes_equal_one(env: dict[str, pathlib.Path], tmp_path: pathlib.Path, batch_tokens: str) -> None:
    """torchrun --nproc_per_node 2 (gloo) against 1 process, same global batch: same losses
    within float tolerance (the summation order of the gradient differs). With 64-token
    batches every batch holds one sequence: rank 1 joins each step with a zero-weight one."""
    losses = {}
    for n in (1, 2):
        out = tmp_path / f"ddp{n}"
        args = base_args(env, out, "--arith", "lmul-attn", "--steps", "4")
        args[args.index("--batch-tokens") + 1] = batch_tokens
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_port",
               str(29500 + os.getpid() % 1000 + 2 * n + len(batch_tokens)), "-m", "lmul.finetune", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                           timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
        assert all(x["world"] == n for x in log)
        losses[n] = [x["loss"] for x in log]
    np.testing.assert_allclose(losses[2], losses[1], rtol=1e-5, atol=0)


BAD = [
    (["--steps", "-1"], 2, "--steps"),
    (["--split", "test"], 2, "test split"),
    (["--arith", "lmul-everything"], 2, "--arith"),
    (["--batch-tokens", "8"], 2, "--batch-tokens"),
    (["--lr", "nan"], 2, "--lr"),
    (["--betas", "0.9"], 2, "--betas"),
    (["--task", "hellaswag"], 2, "--task"),
]


def exit_code(argv: list[str]) -> int:
    """cli.run's return code, or the SystemExit code of argparse's own errors."""
    try:
        return cli.run(argv)
    except SystemExit as e:
        return int(e.code or 0)


@pytest.mark.parametrize(("extra", "code", "needle"), BAD)
def test_bad_arguments(env: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
                       extra: list[str], code: int, needle: str) -> None:
    assert exit_code(base_args(env, tmp_path / "o", *extra)) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "o").exists()


def test_bad_data(env: dict[str, pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "data"
    (bad / "arc-easy").mkdir(parents=True)
    good = (env["data"] / "arc-easy" / "ARC-Easy-Train.jsonl").read_text().splitlines()
    cases = [
        (good[0] + "\n{not json\n", ":2: expected a JSON object"),
        (good[0] + '\n{"question": {"stem": 5, "choices": []}, "answerKey": "A"}\n', "field 'question.stem'"),
        ('{"question": {"stem": "q", "choices": [{"text": "a", "label": "A"}]}, "answerKey": "C"}\n',
         "field 'answerKey'"),
    ]
    for text, needle in cases:
        (bad / "arc-easy" / "ARC-Easy-Train.jsonl").write_text(text)
        args = base_args(env, tmp_path / "o", "--steps", "1")
        args[args.index("--data-dir") + 1] = str(bad)
        assert cli.run(args) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and "ARC-Easy-Train.jsonl" in err, err
    # A corrupt checkpoint: one line naming it, exit 1.
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert cli.run(base_args(env, tmp_path / "c", "--steps", "1", "--resume")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checkpoint.pt" in err, err
    args = base_args(env, tmp_path / "o", "--steps", "1")
    args[args.index("-m") + 1] = str(tmp_path / "missing.gguf")
    assert cli.run(args) == 1
    assert "missing.gguf" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_tasks_and_splits(env: dict[str, pathlib.Path]) -> None:
    em = lmul.engine.Model(env["model"])

    def tok(s: str) -> list[int]:
        return em.tokenize(s, add_bos=False)

    seqs, counts = data.load_task("wikitext2", env["data"] / "wikitext-2-raw" / "wiki.valid.raw", tok, 1, 16)
    assert all(len(s.ids) == 16 and s.first == 1 for s in seqs) and counts["sequences"] == len(seqs)
    assert seqs[0].ids[0] == 1  # each article starts with the prefix token
    seqs, _ = data.load_task("gsm8k", env["data"] / "gsm8k" / "train.jsonl", tok, 1, 64)
    s = seqs[3]
    assert em.detokenize(list(s.ids[s.first:])) == " 3 + 1 = 4\n#### 4"
    seqs, _ = data.load_task("arc_easy", env["data"] / "arc-easy" / "ARC-Easy-Train.jsonl", tok, 1, 64)
    assert em.detokenize(list(seqs[0].ids[seqs[0].first:])) == " cat"
    with pytest.raises(ValueError, match="test split"):
        data.split_path(env["data"], "arc_easy", "test")
    # The plan: every sequence once per epoch, batches within the budget, seed-determined.
    plan = data.plan_epoch(seqs, 100, 3, 0)
    assert sorted(i for b in plan for i in b) == list(range(len(seqs)))
    assert all(sum(len(seqs[i].ids) for i in b) <= 100 for b in plan if len(b) > 1)
    assert plan == data.plan_epoch(seqs, 100, 3, 0) != data.plan_epoch(seqs, 100, 3, 1)


def test_detokenizer_matches_lm_eval() -> None:
    mod = pytest.importorskip("lm_eval.tasks.wikitext.preprocess_wikitext")
    text = (" = Title = \n The man 's dog , \" quoted \" ( paren ) [ b ] 3 @,@ 000 @.@ 5 N = = x = = \n"
            " 20 ° C ; here : now ! what ? end . ' single ' \n")
    assert data.wikitext_detokenize(text) == mod.wikitext_detokenizer({"page": text})
