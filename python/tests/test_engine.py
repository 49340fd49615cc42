"""lmul.engine: GGUF tensors against PyPI gguf's dequantization (a committed golden file),
and the default model (LMUL_MODEL) against the engine goldens of tests/testdata/engine
(scripts/make_engine_goldens.py: llama.cpp's token ids, a NumPy float64 reference)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from conftest import REPO

import lmul
import lmul.engine

GOLDENS = REPO / "tests" / "testdata" / "engine"
# The prompts of scripts/make_engine_goldens.py (PROMPTS there).
PROMPTS = {
    "capital": "The capital of France is",
    "code": "def fibonacci(n):\n    ",
    "chat": "<|im_start|>user\nWhat is the tallest mountain in the world?<|im_end|>\n"
    "<|im_start|>assistant\n",
}
# |fp32 engine logit - float64 reference| bound of the C++ golden test (model_golden_test.cc).
MAX_ABS_LOGIT_ERROR = 2e-4


def test_load_tensors_bit_exact_with_gguf_python() -> None:
    tensors = lmul.engine.load_tensors(GOLDENS / "dequant_types.gguf")
    names = [n for n in tensors if not n.endswith(".expected")]
    assert len(names) >= 8
    for name in names:
        got, want = tensors[name], tensors[name + ".expected"]
        # the goldens store the expected values flat (GGUF order, row-major)
        assert got.dtype == np.float32 and got.size == want.size, name
        assert np.array_equal(got.ravel().view(np.uint32), want.ravel().view(np.uint32)), name


def test_missing_or_bad_files_raise(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        lmul.engine.load_tensors(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
    with pytest.raises(ValueError, match="bad.gguf"):
        lmul.engine.load_tensors(bad)
    with pytest.raises(ValueError, match="bad.gguf"):
        lmul.engine.Model(bad)


def read_goldens() -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for line in (GOLDENS / "smollm2_goldens.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        kind, name, *rest = line.split()
        out.setdefault(name, {})[kind] = rest
    return out


@pytest.fixture(scope="module")
def model(model_path: pathlib.Path) -> lmul.engine.Model:
    return lmul.engine.Model(model_path)


def test_model_config_and_tensor_shapes(model: lmul.engine.Model, model_path: pathlib.Path) -> None:
    c = model.config
    assert c["arch"] == "llama" and c["n_layer"] == 30 and c["d_model"] == 576
    tensors = lmul.engine.load_tensors(model_path)
    assert tensors["token_embd.weight"].shape == (c["n_vocab"], c["d_model"])
    assert tensors["blk.0.attn_q.weight"].shape == (c["n_head"] * c["head_dim"], c["d_model"])
    assert tensors["blk.0.attn_k.weight"].shape == (c["n_kv_head"] * c["head_dim"], c["d_model"])
    assert tensors["blk.0.ffn_down.weight"].shape == (c["d_model"], c["d_ff"])


def test_tokenizer_matches_llama_cpp_ids(model: lmul.engine.Model) -> None:
    goldens = read_goldens()
    for name, text in PROMPTS.items():
        want = [int(t) for t in goldens[name]["prompt"][1:]]
        assert model.tokenize(text, add_bos=False, parse_special=True) == want, name
        assert model.detokenize(want) == text
    with pytest.raises(ValueError, match="outside"):
        model.detokenize([10**6])


def test_session_fp32_logits_match_float64_reference(model: lmul.engine.Model) -> None:
    goldens = read_goldens()
    for name in PROMPTS:
        g = goldens[name]
        ids = [int(t) for t in g["prompt"][1:]]
        logits = lmul.engine.Session(model, "fp32", n_ctx=64, threads=2).forward(ids)
        assert logits.shape == (len(ids), model.config["n_vocab"]) and logits.dtype == np.float32
        top = [item.split(":") for item in g["ref_top"][1:]]
        for tok, val in top:
            assert abs(float(logits[-1, int(tok)]) - float(val)) <= MAX_ABS_LOGIT_ERROR, (name, tok)
        argmax = [int(t) for t in g["ref_argmax"]]  # no count on this line
        assert logits.argmax(-1).tolist() == argmax


def test_session_split_forward_and_rewind_are_bit_identical(model: lmul.engine.Model) -> None:
    ids = model.tokenize(PROMPTS["capital"], add_bos=False)
    s = lmul.engine.Session(model, "lmul-attn", n_ctx=32, threads=1)
    full = s.forward(ids)
    assert s.pos == len(ids)
    s.rewind(2)
    tail = s.forward(ids[2:])
    assert np.array_equal(tail.view(np.uint32), full[2:].view(np.uint32))
    # threads do not change results
    other = lmul.engine.Session(model, "lmul-attn", n_ctx=32, threads=2).forward(ids)
    assert np.array_equal(other.view(np.uint32), full.view(np.uint32))
    # an L-Mul policy differs from fp32, but not by much
    ref = lmul.engine.Session(model, "fp32", n_ctx=32).forward(ids)
    assert not np.array_equal(ref, full)
    assert np.abs(ref - full).max() < 2.0


def test_session_bad_input_raises(model: lmul.engine.Model) -> None:
    with pytest.raises(ValueError, match="policy"):
        lmul.engine.Session(model, "lmul-nothing")
    s = lmul.engine.Session(model, "fp32", n_ctx=4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        s.forward([model.config["n_vocab"]])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        s.forward([-1])
    with pytest.raises(ValueError, match="exceed the context"):
        s.forward([1, 2, 3, 4, 5])
    assert s.pos == 0
    with pytest.raises(ValueError, match="rewind"):
        s.rewind(3)
    with pytest.raises(TypeError):
        lmul.engine.Session("not a model", "fp32")  # type: ignore[arg-type]
