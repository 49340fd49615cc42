"""lm-evaluation-harness on a patched model through its own Hugging Face wrapper
(lm_eval.models.huggingface.HFLM(pretrained=model)), offline, on a local task: a YAML task
file and a JSONL of the first ARC-Easy test questions, both written to a temporary folder
at test time from the shared data ($LMUL_DATA, scripts/data_dir.sh; never copied into the
repo). The example in docs/python.md ("lm-evaluation-harness") is this test.

Checks that lm-eval really runs the patched model: its per-choice log-likelihoods equal
those computed here directly with the patched model (and differ from the unpatched
model's). Needs LMUL_MODEL and LMUL_DATA; marked slow (shares the SmolLM2 load with
test_cross_engine.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("lm_eval")

import lmul.torch as lt  # noqa: E402
from test_cross_engine import load_hf_smollm2, load_hf_tokenizer  # noqa: E402

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
N_QUESTIONS = 6
TASK = "lmul_arc_easy_local"

# lm-eval's own arc_easy prompt (lm_eval/tasks/arc/arc_easy.yaml), on a local JSONL.
TASK_YAML = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {jsonl}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def data_dir() -> pathlib.Path:
    env = os.environ.get("LMUL_DATA")
    if env:
        return pathlib.Path(env)
    out = subprocess.run([str(REPO / "scripts" / "data_dir.sh")], capture_output=True, text=True).stdout.strip()
    if not out:
        pytest.skip("no shared data (set LMUL_DATA; scripts/data_dir.sh)")
    return pathlib.Path(out)


def write_task(folder: pathlib.Path, n: int) -> list[dict[str, object]]:
    """The first n ARC-Easy test questions as lm-eval's HF-dataset rows, and the task YAML."""
    src = data_dir() / "arc-easy" / "ARC-Easy-Test.jsonl"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    rows = []
    with src.open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            choices = q["question"]["choices"]
            rows.append({
                "id": q["id"],
                "question": q["question"]["stem"],
                "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
                "answerKey": q["answerKey"],
            })
            if len(rows) == n:
                break
    jsonl = folder / "arc_easy_local.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / f"{TASK}.yaml").write_text(TASK_YAML.format(task=TASK, jsonl=jsonl), encoding="utf-8")
    return rows


def evaluate(lm: object, folder: pathlib.Path) -> dict[str, object]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    return simple_evaluate(
        model=lm,
        tasks=[TASK],
        task_manager=TaskManager(include_path=str(folder), include_defaults=False),
        log_samples=True,
        bootstrap_iters=0,
    )


def direct_loglikelihoods(lm: object, model: torch.nn.Module, row: dict[str, object]) -> list[float]:
    """log P(" choice" | "Question: ...\\nAnswer:") for every choice, with lm-eval's
    tokenization (HFLM._encode_pair) and our own forward pass."""
    context = f"Question: {row['question']}\nAnswer:"
    out = []
    for choice in row["choices"]["text"]:  # type: ignore[index]
        ctx, cont = lm._encode_pair(context, " " + choice)
        ids = torch.tensor([ctx + cont])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids[:, :-1]).logits[0].float(), -1)
        tail = logp[len(ctx) - 1 :]
        out.append(float(tail.gather(-1, torch.tensor(cont)[:, None]).sum()))
    return out


def test_lm_eval_on_patched_model(model_path: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from lm_eval.models.huggingface import HFLM

    rows = write_task(tmp_path, N_QUESTIONS)
    model = load_hf_smollm2(str(model_path))
    tok = load_hf_tokenizer(str(model_path))
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=8, device="cpu")

    lt.patch(model, "lmul-attn")
    try:
        res = evaluate(lm, tmp_path)
        direct = [direct_loglikelihoods(lm, model, r) for r in rows]
    finally:
        lt.unpatch(model)
    unpatched = [direct_loglikelihoods(lm, model, r) for r in rows]

    metrics = res["results"][TASK]
    assert 0.0 <= metrics["acc,none"] <= 1.0 and 0.0 <= metrics["acc_norm,none"] <= 1.0
    samples = sorted(res["samples"][TASK], key=lambda s: s["doc_id"])
    assert len(samples) == N_QUESTIONS
    moved = 0.0
    for s, want, fp32 in zip(samples, direct, unpatched):
        got = [float(r[0][0]) for r in s["resps"]]
        assert got == pytest.approx(want, abs=1e-4), (s["doc_id"], got, want)
        moved = max(moved, max(abs(a - b) for a, b in zip(got, fp32)))
        # acc is the argmax of these log-likelihoods against the gold label.
        assert s["acc"] == float(max(range(len(got)), key=got.__getitem__) == s["target"])
    assert moved > 1e-3, f"lm-eval's log-likelihoods equal the unpatched model's (max diff {moved})"
    print(f"\nlm-eval {TASK}, {N_QUESTIONS} questions, lmul-attn: acc {metrics['acc,none']:.3f} "
          f"acc_norm {metrics['acc_norm,none']:.3f}; max |dLL| vs unpatched {moved:.4f}")
