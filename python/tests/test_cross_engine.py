"""Cross-engine agreement: SmolLM2-135M-Instruct in Hugging Face transformers (its own GGUF
loader, fp32), patched with lmul.torch.patch, against the lmul C++ engine
(lmul.engine.Session) on the same token ids.

- fp32: next-token log-probabilities agree to max |delta| <= 1e-3 (every position, every
  vocabulary entry).
- each L-Mul policy: the mean KL between the two engines is at least 10x smaller than the
  policy's own KL against fp32 (engine fp32 vs engine policy).
- stronger, by design of lmul.torch.patch (every fp32 step outside the sites computed as the
  engine computes it): the logits are bit-identical for every preset, the per-tensor scaled
  fp8 presets included.

Needs LMUL_MODEL (scripts/fetch_model.sh); marked slow (~1-3 min: the GGUF dequantization
in transformers takes ~30-90 s, once per test session, shared with test_lm_eval.py).
Run with -s to see the measured table (docs/python.md, "Cross-engine agreement").
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lmul  # noqa: E402
import lmul.engine  # noqa: E402
import lmul.torch as lt  # noqa: E402

pytestmark = pytest.mark.slow

# About 200 tokens of ordinary English prose (written for this test).
TEXT = (
    "The river town woke slowly on market days. Before sunrise the bakers had already lit "
    "their ovens, and the smell of bread drifted down the narrow streets toward the water. "
    "Farmers arrived with carts of apples, cabbages and late summer pears, arguing cheerfully "
    "about the price of hay and the chance of rain. By eight o'clock the square was full. "
    "Children ran between the stalls, a violinist played near the fountain, and the old clock "
    "above the town hall, which had been five minutes slow for as long as anyone could "
    "remember, struck the hour with great confidence. In the afternoon the crowd thinned. "
    "Merchants counted their coins, packed the unsold vegetables into wooden crates and "
    "began the long walk home along the river, where the ferry waited to carry them across "
    "before the light was gone. That evening the innkeeper lit a fire, and travellers who had "
    "missed the last ferry sat together telling stories until the candles burned low."
)

# The L-Mul policies whose agreement the issue asks for; the others are reported too.
LMUL_POLICIES = ("lmul-attn", "lmul-attn-k3", "lmul-attn-k4", "lmul-all")
OTHER_POLICIES = ("bf16", "fp8-e4m3-attn", "fp8-e5m2-attn", "lmul-all-k3", "lmul-all-k4", "fp8-e4m3-all")
# Per-tensor scaled fp8 (docs/engine.md, "Scaled fp8"): the same definition in both engines;
# one sequence, so PyTorch's tensors are the engine's (prefill).
SCALED_POLICIES = ("fp8-e4m3-attn-scaled", "fp8-e5m2-attn-scaled", "fp8-e4m3-all-scaled")


@functools.lru_cache(maxsize=None)
def load_hf_smollm2(path: str) -> torch.nn.Module:
    """SmolLM2 from its GGUF through transformers' own loader (dequantized by PyPI gguf),
    fp32, eval mode. Cached for the test session (test_lm_eval.py uses it too)."""
    p = pathlib.Path(path)
    print(f"loading {p.name} into transformers (dequantizing, ~30-90 s)", file=sys.stderr)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(p.parent), gguf_file=p.name, dtype=torch.float32
    )
    return model.eval()


@functools.lru_cache(maxsize=None)
def load_hf_tokenizer(path: str) -> object:
    p = pathlib.Path(path)
    return transformers.AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)


def log_probs(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    return torch.log_softmax(x, -1).numpy()


def mean_kl(lp: np.ndarray, lq: np.ndarray) -> float:
    """Mean over positions of KL(p || q), nats."""
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


@pytest.fixture(scope="module")
def setup(model_path: pathlib.Path) -> dict[str, object]:
    hf = load_hf_smollm2(str(model_path))
    engine_model = lmul.engine.Model(model_path)
    ids = engine_model.tokenize(TEXT)
    assert 150 <= len(ids) <= 300, len(ids)
    return {"hf": hf, "engine": engine_model, "ids": ids}


def engine_logits(setup: dict[str, object], policy: str) -> np.ndarray:
    session = lmul.engine.Session(setup["engine"], policy, n_ctx=len(setup["ids"]), threads=2)
    return session.forward(setup["ids"])


def hf_logits(setup: dict[str, object], policy: str | None) -> np.ndarray:
    model = setup["hf"]
    ids = torch.tensor([setup["ids"]])
    if policy is not None:
        lt.patch(model, policy)
    try:
        with torch.no_grad():
            out = model(ids).logits[0]
    finally:
        lt.unpatch(model)
    return out.numpy()


@pytest.fixture(scope="module")
def measured(setup: dict[str, object]) -> dict[str, dict[str, float]]:
    """Both engines under every policy; the table printed (and written as JSON to
    $LMUL_CROSS_ENGINE_JSON when set)."""
    e_logits = {p: engine_logits(setup, p) for p in ("fp32", *LMUL_POLICIES, *OTHER_POLICIES, *SCALED_POLICIES)}
    engine_fp32 = log_probs(e_logits["fp32"])
    rows: dict[str, dict[str, float]] = {}
    for policy in e_logits:
        e = log_probs(e_logits[policy])
        h_logits = hf_logits(setup, policy)
        h = log_probs(h_logits)
        rows[policy] = {
            "bit_identical": bool(np.array_equal(e_logits[policy], h_logits)),
            "max_abs_dlogprob": float(np.abs(e - h).max()),
            "kl_engines": mean_kl(e, h),
            "kl_vs_fp32": mean_kl(engine_fp32, e),
            "argmax_agree": float((e.argmax(-1) == h.argmax(-1)).mean()),
        }
    h_unpatched = log_probs(hf_logits(setup, None))
    rows["transformers unpatched"] = {
        "bit_identical": False,
        "max_abs_dlogprob": float(np.abs(engine_fp32 - h_unpatched).max()),
        "kl_engines": mean_kl(engine_fp32, h_unpatched),
        "kl_vs_fp32": 0.0,
        "argmax_agree": float((engine_fp32.argmax(-1) == h_unpatched.argmax(-1)).mean()),
    }
    print(f"\ncross-engine agreement, SmolLM2-135M-Instruct, {len(setup['ids'])} tokens")
    print(f"{'policy':24} {'bit-identical':>13} {'max|dlogp|':>11} {'KL engines':>11} {'KL vs fp32':>11} "
          f"{'argmax':>7}")
    for policy, r in rows.items():
        print(f"{policy:24} {str(r['bit_identical']):>13} {r['max_abs_dlogprob']:11.3g} "
              f"{r['kl_engines']:11.3g} {r['kl_vs_fp32']:11.3g} {r['argmax_agree']:7.3f}")
    out = os.environ.get("LMUL_CROSS_ENGINE_JSON")
    if out:
        pathlib.Path(out).write_text(json.dumps({"n_tokens": len(setup["ids"]), "rows": rows}, indent=1))
    return rows


def test_fp32_log_probs_match(measured: dict[str, dict[str, float]]) -> None:
    r = measured["fp32"]
    assert r["max_abs_dlogprob"] <= 1e-3, r
    assert r["argmax_agree"] == 1.0, r


@pytest.mark.parametrize("policy", LMUL_POLICIES)
def test_lmul_policy_agreement(measured: dict[str, dict[str, float]], policy: str) -> None:
    r = measured[policy]
    assert r["kl_vs_fp32"] > 0, r
    assert r["kl_engines"] * 10 <= r["kl_vs_fp32"], r


@pytest.mark.parametrize("policy", ("fp32", *LMUL_POLICIES, *OTHER_POLICIES, *SCALED_POLICIES))
def test_logits_bit_identical(measured: dict[str, dict[str, float]], policy: str) -> None:
    """Beyond the issue's bounds: the same bits as the engine (same kernels, same canonical
    GEMM order, the engine's fp32 formulas for norms, RoPE, silu and softmax)."""
    assert measured[policy]["bit_identical"], measured[policy]


def test_unpatched_transformers_close_to_engine(measured: dict[str, dict[str, float]]) -> None:
    """Unpatched transformers (its own fp32 arithmetic: BLAS, its RoPE and norms) is not
    bit-identical but within the fp32 bound too."""
    assert measured["transformers unpatched"]["max_abs_dlogprob"] <= 1e-3


def test_unpatch_restores_smollm2(setup: dict[str, object]) -> None:
    model = setup["hf"]
    ids = torch.tensor([setup["ids"][:32]])
    with torch.no_grad():
        ref = model(ids).logits
        lt.patch(model, "lmul-all")
        try:
            patched = model(ids).logits
        finally:
            lt.unpatch(model)
        after = model(ids).logits
    assert not torch.equal(patched, ref)
    assert torch.equal(after, ref)
