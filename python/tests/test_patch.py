"""lmul.torch.patch / unpatch on a tiny randomly initialised transformers Llama (fast, no files).

Checks, for every policy preset: the patched model runs, each site computes what its op
computes (bit-exact against lmul.torch.matmul / lmul.mul), unpatch restores the original
outputs bit for bit, prefill equals token-by-token decode, gradients flow (ste and same).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lmul  # noqa: E402
import lmul.torch as lt  # noqa: E402
from lmul.torch.patch import _ROPE, lmul_attention_forward, patched_sites  # noqa: E402

PRESETS = lmul.policy_presets()
N_LAYER = 2


def tiny_llama(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=N_LAYER,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as SmolLM2
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
    )
    model = transformers.LlamaForCausalLM(cfg).to(dtype).eval()
    # Random (not unit) norm weights so the gamma products matter.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return tiny_llama()


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 96, (2, 12), generator=g)


def logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> float:
    """Mean KL(p || q) over positions, in nats."""
    lp = torch.log_softmax(p_logits.double(), -1)
    lq = torch.log_softmax(q_logits.double(), -1)
    return float((lp.exp() * (lp - lq)).sum(-1).mean())


@pytest.mark.parametrize("policy", PRESETS)
def test_patch_unpatch_every_preset(model: torch.nn.Module, ids: torch.Tensor, policy: str) -> None:
    ref = logits(model, ids)
    impl = model.config._attn_implementation
    lt.patch(model, policy)
    try:
        assert model.config._attn_implementation == "lmul"
        out = logits(model, ids)
        sites = patched_sites(model)
    finally:
        lt.unpatch(model)
    assert torch.isfinite(out).all()
    # Every GEMM site is patched; elementwise sites only where the policy's is not exact/fp32.
    expected = {"attn.qk": N_LAYER, "attn.av": N_LAYER, "attn.proj": 4 * N_LAYER, "mlp": 3 * N_LAYER,
                "lm_head": 1}
    if lmul.policy_sites(policy)["elementwise"] != "exact/fp32":
        expected.update({"elementwise:rope": N_LAYER, "elementwise:rmsnorm": 2 * N_LAYER + 1,
                         "elementwise:mlp": N_LAYER})
    assert sites == expected
    # The fp32 policy is fp32 (other summation order only); the others move the outputs.
    d = kl(ref, out)
    if policy == "fp32":
        assert float((out - ref).abs().max()) < 1e-4
    else:
        assert d > 1e-9, f"{policy}: outputs equal fp32's (KL {d})"
    # unpatch restores the model exactly.
    assert model.config._attn_implementation == impl
    assert patched_sites(model) == {}
    assert not any(type(m).__name__.startswith("LMul") for m in model.modules())
    assert torch.equal(logits(model, ids), ref)


def test_linear_site_is_the_op(model: torch.nn.Module) -> None:
    """A patched Linear computes exactly lmul.torch.matmul(x, W^T) with the site's arith."""
    x = torch.randn(3, 5, 64)
    lt.patch(model, "attn.proj=lmul/e8m3,mlp=lmul/e8m4,*=exact/fp32")
    try:
        q = model.model.layers[0].self_attn.q_proj
        up = model.model.layers[1].mlp.up_proj
        with torch.no_grad():
            assert torch.equal(q(x), lt.matmul(x, q.weight.t(), "lmul/e8m3"))
            assert torch.equal(up(x), lt.matmul(x, up.weight.t(), "lmul/e8m4"))
            assert not torch.equal(q(x), x @ q.weight.t())
        # The same through the NumPy API (the C++ kernels' canonical order).
        xn = x.reshape(-1, 64).numpy()
        want = lmul.matmul(xn, np.ascontiguousarray(q.weight.detach().numpy().T), "lmul/e8m3")
        assert np.array_equal(q(x).detach().reshape(-1, want.shape[1]).numpy(), want)
    finally:
        lt.unpatch(model)


def engine_rmsnorm(x: np.ndarray, gamma: np.ndarray, eps: float, arith: str) -> np.ndarray:
    """The engine's RmsNorm (engine/model/session.cc) in NumPy with lmul.mul."""
    sq = (x * x).astype(np.float64).sum(-1, keepdims=True)
    mean = (sq / x.shape[-1]).astype(np.float32)
    scale = (np.float32(1.0) / np.sqrt(mean + np.float32(eps))).astype(np.float32)
    h = lmul.mul(x, np.broadcast_to(scale, x.shape).copy(), arith)
    return lmul.mul(h, np.broadcast_to(gamma, x.shape).copy(), arith)


def test_elementwise_sites_are_the_engine_formulas(model: torch.nn.Module) -> None:
    """RMSNorm, SwiGLU and RoPE under lmul-all: bit-exact with the engine's formulas written
    with lmul.mul (NumPy)."""
    arith = lmul.policy_sites("lmul-all")["elementwise"]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 7, 64, generator=g)
    lt.patch(model, "lmul-all")
    try:
        layer = model.model.layers[0]
        norm = layer.input_layernorm
        with torch.no_grad():
            got = norm(x).numpy()
        want = engine_rmsnorm(x.numpy(), norm.weight.detach().numpy(), norm.variance_epsilon, arith)
        assert np.array_equal(got, want)

        mlp = layer.mlp
        with torch.no_grad():
            got = mlp(x)
            gate = mlp.gate_proj(x).numpy()
            up = mlp.up_proj(x).numpy()
            silu = (gate / (np.float32(1) + np.exp(-gate))).astype(np.float32)
            want = mlp.down_proj(torch.from_numpy(lmul.mul(silu, up, arith)))
        # exp may differ by an ulp between NumPy and PyTorch; the products are the site.
        assert torch.allclose(got, want, rtol=0, atol=1e-5)

        # RoPE: x * cos + rotate_half(x) * sin with both products in the arith.
        import transformers.models.llama.modeling_llama as ml

        pos = torch.arange(7)[None]
        cos, sin = model.model.rotary_emb(x, pos)
        q = torch.randn(2, 4, 7, 16, generator=g)
        k = torch.randn(2, 2, 7, 16, generator=g)
        token = _ROPE.set({"arith": arith, "backward": "ste"})  # as a patched attention module does
        try:
            rq, rk = ml.apply_rotary_pos_emb(q, k, cos, sin)
        finally:
            _ROPE.reset(token)
        c = np.broadcast_to(cos[:, None].numpy(), q.shape).copy()
        s = np.broadcast_to(sin[:, None].numpy(), q.shape).copy()
        qn = q.numpy()
        rot = np.concatenate([-qn[..., 8:], qn[..., :8]], -1)
        want_q = lmul.mul(qn, c, arith) + lmul.mul(rot, s, arith)
        assert np.array_equal(rq.numpy(), want_q)
        assert not np.array_equal(rq.numpy(), qn * c + rot * s)
        # Outside a patched attention module the original function runs.
        rq0, _ = ml.apply_rotary_pos_emb(q, k, cos, sin)
        assert torch.equal(rq0, q * cos[:, None] + ml.rotate_half(q) * sin[:, None])
    finally:
        lt.unpatch(model)
    import transformers.models.llama.modeling_llama as ml

    assert not hasattr(ml.apply_rotary_pos_emb, "__wrapped__")


def test_attention_function_matches_per_head_reference() -> None:
    """The "lmul" attention function against a per-head NumPy reference: lmul.matmul for
    Q.K^T and P.V (bit-exact GEMMs), the engine's softmax (scale, max, exp, float64 sum)."""
    g = torch.Generator().manual_seed(5)
    b, h, hkv, n, d = 1, 4, 2, 9, 16
    q = torch.randn(b, h, n, d, generator=g)
    k = torch.randn(b, hkv, n, d, generator=g)
    v = torch.randn(b, hkv, n, d, generator=g)

    class M(torch.nn.Module):
        is_causal = True
        _lmul = {"qk": "lmul/e8m3", "av": "lmul/bf16", "accum": "fp32", "backward": "ste"}

    out, probs = lmul_attention_forward(M(), q, k, v, None, scaling=d**-0.5)
    assert out.shape == (b, n, h, d) and probs.shape == (b, h, n, n)
    for head in range(h):
        kv = head // (h // hkv)
        s = lmul.matmul(q[0, head].numpy(), np.ascontiguousarray(k[0, kv].numpy().T), "lmul/e8m3")
        s = s * np.float32(d**-0.5)
        s[np.triu_indices(n, 1)] = -np.inf
        e = np.exp(s - s.max(-1, keepdims=True))
        p = e * (1.0 / e.astype(np.float64).sum(-1, keepdims=True)).astype(np.float32)
        np.testing.assert_allclose(probs[0, head].numpy(), p, rtol=2e-6, atol=0)
        assert (probs[0, head].numpy()[np.triu_indices(n, 1)] == 0).all()
        # P.V bit-exact given the same P.
        pv = lmul.matmul(probs[0, head].numpy(), v[0, kv].numpy(), "lmul/bf16")
        assert np.array_equal(out[0, :, head].numpy(), pv)


def test_prefill_equals_decode(model: torch.nn.Module) -> None:
    """As the engine: the last logits of one forward over all tokens equal those of a
    token-by-token decode with the KV cache (every C element is a canonical-order sum)."""
    ids = torch.randint(0, 96, (1, 10), generator=torch.Generator().manual_seed(7))
    lt.patch(model, "lmul-all")
    try:
        with torch.no_grad():
            full = model(ids).logits[0]
            cache = None
            steps = []
            for t in range(ids.shape[1]):
                o = model(ids[:, t : t + 1], cache=cache, use_cache=True)
                cache = o.past_key_values
                steps.append(o.logits[0, -1])
    finally:
        lt.unpatch(model)
    assert torch.equal(torch.stack(steps), full)


def test_generate_under_patch(model: torch.nn.Module) -> None:
    ids = torch.tensor([[1, 5, 9, 13]])
    lt.patch(model, "lmul-attn")
    try:
        out = model.generate(ids, max_new_tokens=5, do_sample=False)
    finally:
        lt.unpatch(model)
    assert out.shape == (1, 9)


def test_padding_mask(model: torch.nn.Module) -> None:
    """A left-padded row gives the same logits as the unpadded sequence (masked keys are exact
    zeros in the softmax and add nothing to P.V)."""
    ids = torch.tensor([[3, 4, 5, 6, 7]])
    padded = torch.tensor([[0, 0, 3, 4, 5, 6, 7]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1]])
    pos = torch.tensor([[0, 0, 0, 1, 2, 3, 4]])
    lt.patch(model, "lmul-attn")
    try:
        with torch.no_grad():
            a = model(ids).logits[0]
            b = model(padded, attention_mask=mask, position_ids=pos).logits[0, 2:]
    finally:
        lt.unpatch(model)
    assert torch.equal(a, b)


@pytest.mark.parametrize("backward", ["ste", "same"])
@pytest.mark.parametrize("policy", ["lmul-all", "lmul-all-k3", "fp8-e4m3-all-scaled"])
def test_gradients_flow(backward: str, policy: str) -> None:
    model = tiny_llama(seed=2).train()
    ids = torch.randint(0, 96, (2, 8), generator=torch.Generator().manual_seed(4))
    model.zero_grad()
    model(ids, labels=ids).loss.backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    lt.patch(model, policy, backward=backward)
    try:
        loss = model(ids, labels=ids).loss
        loss.backward()
    finally:
        lt.unpatch(model)
    assert math.isfinite(float(loss.detach()))
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        assert torch.isfinite(p.grad).all(), n
        # Close to the fp32 gradient in direction: the patch approximates, it does not detach.
        cos = torch.nn.functional.cosine_similarity(p.grad.flatten(), ref[n].flatten(), dim=0)
        assert cos > 0.9, f"{policy} {backward} {n}: cosine {float(cos):.3f} to the fp32 gradient"


def test_filter_selects_sites(model: torch.nn.Module, ids: torch.Tensor) -> None:
    ref = logits(model, ids)
    lt.patch(model, "lmul-all", filter=lambda name, m: name == "lm_head")
    try:
        assert patched_sites(model) == {"lm_head": 1}
        assert model.config._attn_implementation != "lmul"  # no attention selected
        head_only = logits(model, ids)
    finally:
        lt.unpatch(model)
    assert not torch.equal(head_only, ref)
    # Attention of layer 0 only: layer 1 keeps the original implementation.
    lt.patch(model, "lmul-attn", filter=lambda name, m: name.startswith("model.layers.0.self_attn"))
    try:
        sites = patched_sites(model)
        out = logits(model, ids)
        assert type(model.model.layers[1].self_attn).__name__ == "LlamaAttention"
    finally:
        lt.unpatch(model)
    assert sites == {"attn.qk": 1, "attn.av": 1, "attn.proj": 4}
    assert not torch.equal(out, ref)
    assert torch.equal(logits(model, ids), ref)


def test_repatch_and_errors(model: torch.nn.Module, ids: torch.Tensor) -> None:
    ref = logits(model, ids)
    lt.patch(model, "lmul-all")
    lt.patch(model, "lmul-attn")  # unpatches first
    try:
        assert "elementwise:rmsnorm" not in patched_sites(model)
    finally:
        lt.unpatch(model)
    lt.unpatch(model)  # no-op
    assert torch.equal(logits(model, ids), ref)
    with pytest.raises(ValueError, match="unknown policy"):
        lt.patch(model, "lmul-everything")
    with pytest.raises(ValueError, match="backward"):
        lt.patch(model, "lmul-attn", backward="exact")
    with pytest.raises(TypeError):
        lt.patch("not a model", "fp32")  # type: ignore[arg-type]
    assert patched_sites(model) == {}
    assert torch.equal(logits(model, ids), ref)


def test_bf16_model() -> None:
    model = tiny_llama(seed=3, dtype=torch.bfloat16)
    ids = torch.randint(0, 96, (1, 6), generator=torch.Generator().manual_seed(8))
    ref = logits(model, ids)
    lt.patch(model, "lmul-all")
    try:
        out = logits(model, ids)
    finally:
        lt.unpatch(model)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert torch.equal(logits(model, ids), ref)


def test_expf_calls_libm_with_the_float64_formulations_gradient() -> None:
    # _expf (softmax, SiLU) on plain CPU tensors calls the C library's expf through the
    # module; _expf_portable is the torch formulation (float64 exp, libm near midpoints). Same
    # values and the same gradient bits, on the ranges softmax and SiLU see and on random bits.
    import sys

    p = sys.modules["lmul.torch.patch"]
    g = torch.Generator().manual_seed(7)
    bits = torch.randint(-(2**31), 2**31, (300_000,), generator=g, dtype=torch.int64).to(torch.int32)
    x = torch.cat([torch.rand(300_000, generator=g) * -110, torch.randn(300_000, generator=g) * 8,
                   bits.view(torch.float32).nan_to_num(0.0).clamp(-120, 100),
                   torch.tensor([0.0, -0.0, 88.72, 88.73, -87.3, -103.9, -104.0, float("-inf")])])
    libm = p._libm()
    assert libm is not None
    want = p._expf_portable(x)
    got = p._expf(x)
    assert torch.equal(got.view(torch.int32), want.view(torch.int32))
    for v in x[:: 40_000].tolist():  # and expf itself, through ctypes
        assert torch.tensor([libm.expf(v)]).view(torch.int32) == p._expf(torch.tensor([v])).view(torch.int32)
    x1 = x[:50_000].clone().requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    gy = torch.randn(50_000, generator=g)
    p._expf(x1).backward(gy)
    p._expf_portable(x2).backward(gy)
    assert torch.equal(x1.grad, x2.grad)
