"""The fine-tuner's fast paths compute the bits of the torch formulations they replace.

lmul.torch has C++ paths for hot work of a training step (ops._SCALED_FAST: the scaled
sites' amax, scale, dequantize and unscale on tensor storage; ops._ELEMENTWISE_FAST: the
elementwise op on broadcast or transposed operands read in place, the ste gradient
g * reduce(y) in one pass, the exp gradient of lmul.torch.patch in one pass). Each test runs the same
computation with the fast paths on and off and compares every result bit for bit: the
helpers on special values, random bit patterns and the layouts the model passes (2-D
transposed weights, 3-D per-head batches, contiguous and transposed), and the loss and every
parameter gradient of a tiny Llama fine-tuning step (python -m lmul.finetune's LossModel)
under each arithmetic of the fine-tuning experiment, in both backward modes.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lmul.torch as lt  # noqa: E402
from lmul.finetune.train import LossModel  # noqa: E402
from lmul.torch import ops  # noqa: E402

from test_patch import tiny_llama  # noqa: E402

FLAGS = ("_SCALED_FAST", "_ELEMENTWISE_FAST")
# The fine-tuning experiment's arithmetics (docs/finetune.md) and the other scaled presets.
POLICIES = ("fp32", "bf16", "fp8-e4m3-all-scaled", "lmul-all-k3", "lmul-all", "lmul-attn",
            "fp8-e4m3-attn-scaled", "fp8-e5m2-attn-scaled")


@contextlib.contextmanager
def slow_paths() -> Iterator[None]:
    saved = {f: getattr(ops, f) for f in FLAGS}
    try:
        for f in FLAGS:
            setattr(ops, f, False)
        yield
    finally:
        for f, v in saved.items():
            setattr(ops, f, v)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a.detach().reshape(-1).contiguous().numpy().view(np.uint8),
                               b.detach().reshape(-1).contiguous().numpy().view(np.uint8)))


def same_bits_but_nan_payload(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bits except that a NaN may be another NaN (sign and payload): where a chain of
    torch ops meets NaN operands, which one it returns depends on how each kernel orders its
    operands (torch's add is fma(b, 1, a) on AVX2), which one C++ loop cannot mirror."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    a, b = a.detach().reshape(-1), b.detach().reshape(-1)
    nan = torch.isnan(a)
    return bool(torch.equal(nan, torch.isnan(b))) and same_bits(a[~nan], b[~nan])


def special_tensor(n: int, seed: int) -> torch.Tensor:
    """Random fp32 bit patterns (every binade, Inf, NaN) mixed with normal values and the
    special values of scaling (zeros, format maxima, subnormals)."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(n).astype(np.float32) * np.float32(3.0)
    raw = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    pick = rng.random(n) < 0.3
    v[pick] = raw[pick]
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 448.0, -57344.0, 65504.0, 1e-45,
                        -1.2e-38, 3.0e38], np.float32)
    v[: min(n, len(special))] = special[: min(n, len(special))]
    return torch.from_numpy(v)


def layouts(seed: int) -> list[tuple[torch.Tensor, tuple[int, ...] | None]]:
    """(tensor, dims of scale_exponent) as the scaled sites pass them."""
    w = special_tensor(96 * 40, seed).reshape(96, 40)
    q = special_tensor(6 * 17 * 8, seed + 1).reshape(6, 17, 8)
    k = special_tensor(6 * 17 * 8, seed + 2).reshape(6, 17, 8).mT  # K^T, a transposed batch
    finite = torch.randn(6, 5, 7, generator=torch.Generator().manual_seed(seed)) * 1e-30
    heads = special_tensor(2 * 5 * 3 * 4, seed + 3).reshape(2, 5, 3, 4).transpose(1, 2)  # (B, H, S, D) view
    return [(w, None), (w.t(), None), (q, (1, 2)), (k, (1, 2)), (k, (-2, -1)), (finite, (1, 2)),
            (finite, None), (w[:1], None), (torch.zeros(3, 4), None), (heads, None),
            (w[:, :7], None), (q[::2], (1, 2)), (q.transpose(0, 1), (1, 2)), (w.t()[None], (1, 2)),
            (q.expand(2, 6, 17, 8)[0], None), (torch.nn.Parameter(w), None)]


@pytest.mark.parametrize("fmt,arith", [("e4m3", "exact/e4m3,wide"), ("e5m2", "exact/e5m2,wide"),
                                       ("fp16", "exact/fp16,wide")])
def test_scaling_helpers_equal_torch_formulation(fmt: str, arith: str) -> None:
    for seed in range(3):
        for t, dims in layouts(seed):
            e_fast = ops.scale_exponent(t, fmt, dims)
            with slow_paths():
                e_ref = ops.scale_exponent(t, fmt, dims)
            assert same_bits(e_fast, e_ref), (tuple(t.shape), dims)
            for e in (e_ref, -e_ref, e_ref - 3):
                for fn in (lambda x, e: ops.scale_saturate(x, e, fmt), ops._pow2_mul,
                           lambda x, e: ops._dequantized(x, e, arith, fmt)):
                    got = fn(t, e)
                    with slow_paths():
                        ref = fn(t, e)
                    assert same_bits(got, ref), (tuple(t.shape), dims)
                    assert got.stride() == ref.stride(), (tuple(t.shape), got.stride(), ref.stride())
                y = t.clone()
                assert same_bits(ops._pow2_mul_(y, e), ops._pow2_mul(t, e))


ELEMENTWISE_ARITHS = ("lmul/e8m3", "lmul/bf16", "exact/bf16,wide", "lmul/e4m3", "exact/e4m3,wide",
                      "mitchell/e5m2", "exact/fp32")


def strided_operands(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) of one shape as the elementwise sites pass them: broadcast (stride 0) and
    transposed views, sizes that are not multiples of a SIMD width or of the C++ block."""
    g = torch.Generator().manual_seed(seed)
    x = special_tensor(3 * 7 * 5 * 33, seed).reshape(3, 7, 5, 33)
    xt = special_tensor(2 * 6 * 5 * 4, seed + 1).reshape(2, 6, 5, 4).transpose(1, 2)  # heads
    rows = special_tensor(21 * 577, seed + 2).reshape(3, 7, 577)
    scale = special_tensor(21, seed + 3).reshape(3, 7, 1)
    gamma = special_tensor(577, seed + 4)
    cos = special_tensor(2 * 6 * 4, seed + 5).reshape(2, 1, 6, 4)
    big = torch.randn(2, 4100, generator=g)
    return [(rows, scale.expand(rows.shape)), (rows, gamma.expand(rows.shape)),
            (scale.expand(rows.shape), rows), (xt, cos.expand(xt.shape)), (xt, xt.mT.mT),
            (x, x.transpose(0, 1).contiguous().transpose(0, 1)), (x[:, :, :, 0:32:2], x[:, :, :, 1::2]),
            (big, big[:1].expand(big.shape)), (big.t(), big.t()), (gamma, gamma.flip(0))]


@pytest.mark.parametrize("arith", ELEMENTWISE_ARITHS)
def test_strided_mul_equals_contiguous(arith: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_calls(monkeypatch, ("mul_strided_ptr",))
    for seed in range(2):
        for x, y in strided_operands(seed):
            got = torch.ops.lmul.mul(x, y, arith, "ste")
            with slow_paths():
                ref = torch.ops.lmul.mul(x, y, arith, "ste")
            ref2 = torch.ops.lmul.mul(x.contiguous(), y.contiguous(), arith, "ste")
            assert same_bits(got, ref) and same_bits(got, ref2), (tuple(x.shape), x.stride(), y.stride())
            assert got.stride() == ref.stride()
    assert calls.get("mul_strided_ptr", 0) >= 8, calls  # every non-contiguous pair


@pytest.mark.parametrize("arith", ELEMENTWISE_ARITHS)
def test_ste_gradient_of_mul_equals_torch_formulation(arith: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_calls(monkeypatch, ("mul_reduced_ptr",))
    for seed in range(2):
        for n in (1, 7, 4096, 4097, 3 * 4096 + 5):
            x = special_tensor(n, seed).requires_grad_()
            y = special_tensor(n, seed + 7).requires_grad_()
            g = special_tensor(n, seed + 9)
            got = torch.autograd.grad(torch.ops.lmul.mul(x, y, arith, "ste"), (x, y), g)
            with slow_paths():
                ref = torch.autograd.grad(torch.ops.lmul.mul(x, y, arith, "ste"), (x, y), g)
            for a, b in zip(got, ref):
                assert same_bits(a, b) and a.stride() == b.stride(), (n, seed)
            info = ops._info(arith)
            if info["format"] != "fp32":  # the formulation itself: g * reduce(other)
                yr = lt.reduce(y.detach(), info["format"], info["rounding"])
                assert same_bits(got[0], g * yr)
    fp32 = ops._info(arith)["format"] == "fp32"
    assert (calls.get("mul_reduced_ptr", 0) == 0) if fp32 else calls["mul_reduced_ptr"] >= 20, calls


def test_exp_gradient_equals_float64_formulation(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_mod = sys.modules["lmul.torch.patch"]  # the module (lmul.torch.patch is the function)

    calls = count_calls(monkeypatch, ("exp_grad_ptr",))
    for seed in range(3):
        x = special_tensor(5000, seed).clamp(-120.0, 90.0).requires_grad_()  # specials: NaN kept
        g = special_tensor(5000, seed + 1)
        (got,) = torch.autograd.grad(patch_mod._expf(x), x, g)
        with slow_paths():
            (ref,) = torch.autograd.grad(patch_mod._expf(x), x, g)
        want = (g.to(torch.float64) * torch.exp(x.detach().to(torch.float64))).to(torch.float32)
        assert same_bits(got, ref) and same_bits(got, want)
    assert calls.get("exp_grad_ptr", 0) == 3, calls


def test_silu_and_its_gradient_equal_torch_formulation(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_mod = sys.modules["lmul.torch.patch"]
    calls = count_calls(monkeypatch, ("silu_ptr", "silu_grad_ptr"))
    for seed in range(3):
        g = special_tensor(5003, seed).requires_grad_()
        ga = special_tensor(5003, seed + 1)
        a = patch_mod._silu(g)
        (got,) = torch.autograd.grad(a, g, ga)
        with slow_paths():
            a_ref = patch_mod._silu(g)
            (ref,) = torch.autograd.grad(a_ref, g, ga)
        assert same_bits(a, a_ref), seed
        assert same_bits_but_nan_payload(got, ref), seed
        real = torch.randn(5003, generator=torch.Generator().manual_seed(seed)) * 8  # training-like
        (got_r,) = torch.autograd.grad(patch_mod._silu(real.requires_grad_()), real, ga.clamp(-1e3, 1e3))
        with slow_paths():
            (ref_r,) = torch.autograd.grad(patch_mod._silu(real), real, ga.clamp(-1e3, 1e3))
        assert same_bits(got_r, ref_r), seed
        # the backward's torch fallback (a non-contiguous incoming gradient) is the same formula
        ga2 = torch.stack([ga, ga], 1)[:, 0]
        (got2,) = torch.autograd.grad(patch_mod._silu(g), g, ga2)
        assert same_bits(got2, ref), seed
    assert calls == {"silu_ptr": 9, "silu_grad_ptr": 6}, calls


def test_engine_softmax_and_its_gradient_equal_torch_formulation(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_mod = sys.modules["lmul.torch.patch"]
    calls = count_calls(monkeypatch, ("softmax_exp_ptr", "softmax_grad_ptr", "softmax_max_grad_ptr"))
    gen = torch.Generator().manual_seed(5)
    causal = torch.ones(37, 37, dtype=torch.bool).tril()
    scores = torch.randn(2, 3, 37, 37, generator=gen) * 6
    masked = scores.masked_fill(~causal, float("-inf"))
    ties = torch.randint(-2, 3, (4, 37), generator=gen).float()  # several maxima per row
    ties[1] = float("-inf")  # a fully masked row
    ties[2, :5] = float("inf")
    special = special_tensor(6 * 41, 6).reshape(6, 41)  # NaN, Inf, subnormals
    zero_grad = torch.zeros(2, 3, 37, 37)
    zero_grad[0, 1, 5] = -0.0
    cases = [(masked, torch.randn(masked.shape, generator=gen)), (masked, zero_grad), (masked, -zero_grad),
             (ties, torch.randn(ties.shape, generator=gen)), (scores[..., :16], torch.randn(2, 3, 37, 16, generator=gen)),
             (special, special_tensor(6 * 41, 7).reshape(6, 41))]
    for s, g in cases:
        x = s.clone().requires_grad_()
        p = patch_mod._engine_softmax(x)
        (got,) = torch.autograd.grad(p, x, g)
        with slow_paths():
            p_ref = patch_mod._engine_softmax(x)
            (ref,) = torch.autograd.grad(p_ref, x, g)
        check = same_bits if not bool(torch.isnan(s).any() or torch.isnan(g).any()) else same_bits_but_nan_payload
        assert check(p, p_ref) and check(got, ref), tuple(s.shape)
        assert got.stride() == ref.stride()
    # a non-contiguous incoming gradient takes the backward's torch fallback: the same bits
    x = masked.clone().requires_grad_()
    g = torch.randn(2, 3, 37, 74, generator=gen)[..., ::2]
    (got,) = torch.autograd.grad(patch_mod._engine_softmax(x), x, g)
    with slow_paths():
        (ref,) = torch.autograd.grad(patch_mod._engine_softmax(x), x, g)
    assert same_bits(got, ref)
    assert calls == {"softmax_exp_ptr": 7, "softmax_grad_ptr": 6, "softmax_max_grad_ptr": 6}, calls


def count_calls(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> dict[str, int]:
    """Counts calls of the C++ module's functions `names` (lmul.torch's fast paths)."""
    calls: dict[str, int] = {}
    for name in names:
        def counted(*args: object, _fn: object = getattr(ops._lmul, name), _name: str = name) -> object:
            calls[_name] = calls.get(_name, 0) + 1
            return _fn(*args)  # type: ignore[operator]
        monkeypatch.setattr(ops._lmul, name, counted)
    return calls


def step(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = LossModel(model)(ids, labels)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("backward", ["ste", "same"])
@pytest.mark.parametrize("policy", POLICIES)
def test_training_step_bit_identical(policy: str, backward: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_calls(monkeypatch, ("scale_exponents_ptr", "scale_saturate_ptr", "pow2_mul_ptr",
                                      "dequantize_ptr", "mul_strided_ptr", "mul_reduced_ptr",
                                      "exp_grad_ptr", "silu_ptr", "silu_grad_ptr", "softmax_exp_ptr",
                                      "softmax_grad_ptr"))
    model = tiny_llama(seed=3)
    model.train()
    lt.patch(model, policy, backward=backward)
    try:  # unpatched at the end: patch's module-level RoPE wrapper must not outlive the test
        g = torch.Generator().manual_seed(4)
        ids = torch.randint(0, 96, (2, 16), generator=g)
        labels = ids.clone()
        labels[0, :5] = -100  # ARC-style: loss on some tokens only
        loss, grads = step(model, ids, labels)
        if "scaled" in policy:  # the fast paths ran (and are compared below)
            want = {"scale_exponents_ptr", "pow2_mul_ptr"} | ({"dequantize_ptr"} if backward == "ste" else set())
            assert want <= calls.keys(), calls
        assert {"silu_ptr", "silu_grad_ptr", "softmax_exp_ptr", "softmax_grad_ptr"} <= calls.keys(), calls
        if policy in ("bf16", "lmul-all-k3", "lmul-all"):  # elementwise sites in lmul.mul
            assert "mul_strided_ptr" in calls, calls
            if backward == "ste":
                assert "mul_reduced_ptr" in calls, calls
        calls.clear()
        with slow_paths():
            loss_ref, grads_ref = step(model, ids, labels)
    finally:
        lt.unpatch(model)
    assert not calls, calls  # the torch formulations only
    assert same_bits(loss, loss_ref)
    assert grads.keys() == grads_ref.keys() and len(grads) > 0
    for n in grads:
        assert same_bits(grads[n], grads_ref[n]), n
