"""Scaled sites in lmul.torch (scale_exponent, scale_saturate, scaled_matmul, scaled_mul):
the same definition as the engine's engine/model/scaling.h (compared bit for bit through the
extension's scale_tensor), the scale is the largest power of two keeping amax within the
format's max (the top binade unless amax's significand exceeds max's), zero
and non-finite tensors, saturation, what scaling buys (small values survive e4m3), power-of-
two invariance, gradients with respect to the unscaled operands (both backward modes), and
patch() with the scaled presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lmul  # noqa: E402
import lmul.torch as lt  # noqa: E402
from lmul import _lmul  # noqa: E402
from lmul.torch import ops  # noqa: E402

E4M3 = "exact/e4m3,wide"
E5M2 = "exact/e5m2,wide"
INF, NAN = float("inf"), float("nan")


def bits(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).contiguous().numpy().view(np.uint32)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def engine_scale(x: torch.Tensor, fmt: str) -> tuple[np.ndarray, int]:
    flat = np.ascontiguousarray(x.detach().to(torch.float32).numpy().ravel())
    out = np.empty_like(flat)
    e = _lmul.scale_tensor(flat, out, fmt)
    return out, int(e)


def torch_scale(x: torch.Tensor, fmt: str) -> tuple[np.ndarray, int]:
    e = ops.scale_exponent(x, fmt)
    return bits(ops.scale_saturate(x, e, fmt)).ravel().view(np.float32), int(e)


def binade_samples(seed: int) -> list[float]:
    """One random value in every fp32 binade 2^-149 .. 2^127 (subnormals included)."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(-149, 128):
        if b >= -126:
            m = int(rng.integers(0, 1 << 23))
            v = np.array([((b + 127) << 23) | m], np.uint32).view(np.float32)[0]
        else:
            lead = 1 << (b + 149)
            v = np.array([lead | int(rng.integers(0, lead))], np.uint32).view(np.float32)[0]
        out.append(float(v))
    return out


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "fp16"])
def test_torch_scaling_equals_engine_every_binade(fmt: str) -> None:
    emax, mx = _lmul.scale_limits(fmt)
    assert (emax, mx) == {"e4m3": (8, 448.0), "e5m2": (15, 57344.0), "fp16": (15, 65504.0)}[fmt]
    for amax in binade_samples(1):
        x = torch.tensor([amax, -amax / 3, amax * 2**-20, 0.0, -0.0], dtype=torch.float32)
        want, we = engine_scale(x, fmt)
        got, ge = torch_scale(x, fmt)
        assert ge == we, (amax, ge, we)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), amax
        # the largest power of two that keeps amax within max: amax * s in (max/2, max]
        assert mx / 2 < math.ldexp(amax, ge) <= mx, amax
        top = math.ldexp(amax, emax - math.frexp(amax)[1] + 1) <= mx  # fits the top binade
        assert 2.0**emax <= math.ldexp(amax, ge) or not top, amax


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_special_values_equal_engine(fmt: str) -> None:
    tiny = np.array([1], np.uint32).view(np.float32)[0]
    cases = [
        [0.0, -0.0, 0.0],  # all zero: e = 0
        [INF, 1.0, NAN, -3.5],  # amax over finite values; Inf/NaN pass through
        [NAN, INF, -INF],  # nothing finite: e = 0
        [float(tiny), -float(tiny) * 3],  # subnormal amax
        [500.0, -511.0, 3e38, 1.0],  # saturation
        [65000.0, 1.99, -61440.0],
    ]
    for c in cases:
        x = torch.tensor(c, dtype=torch.float32)
        want, we = engine_scale(x, fmt)
        got, ge = torch_scale(x, fmt)
        assert ge == we, c
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (c, got, want)
    _, e = torch_scale(torch.tensor([0.0, -0.0]), fmt)
    assert e == 0
    got, e = torch_scale(torch.tensor([INF, 1.0, NAN]), fmt)
    assert e == {"e4m3": 8, "e5m2": 15}[fmt] and got[0] == INF and math.isnan(got[2])
    got, e = torch_scale(torch.tensor([500.0, 1.0]), "e4m3")
    assert e == -1 and got[0] == 250.0  # amax kept below 448: nothing saturates
    # saturation of values beyond max (an explicit exponent)
    sat = ops.scale_saturate(torch.tensor([500.0, -1e30, INF, NAN]), torch.tensor(0), "e4m3")
    assert sat[0] == 448.0 and sat[1] == -448.0 and sat[2] == INF and math.isnan(sat[3])


def test_small_values_survive_e4m3_only_when_scaled() -> None:
    p = torch.tensor([[1e-4, 3e-4, 2e-5, 7e-4]])
    v = torch.ones(4, 1)
    exact = float((p.double() @ v.double()).item())
    assert lt.matmul(p, v, E4M3).item() == 0.0  # every p below e4m3's smallest subnormal
    got = lt.scaled_matmul(p, v, E4M3).item()
    assert abs(got - exact) <= exact * 2**-4


def test_power_of_two_invariance_and_attention_slices() -> None:
    a, b = randn(5, 32, seed=1), randn(32, 7, seed=2)
    y = lt.scaled_matmul(a, b, E4M3)
    for k in (-40, -3, 5, 60):
        y2 = lt.scaled_matmul(a * 2.0**k, b, E4M3)
        assert torch.equal(y2, y * 2.0**k), k
    # Batched (attention): each matrix of the batch is its own tensor.
    q, kt = randn(2, 3, 6, 16, seed=3), randn(2, 3, 16, 9, seed=4)
    q[1, 2] *= 1e-3
    s = lt.scaled_matmul(q, kt, E5M2)
    for i in range(2):
        for h in range(3):
            assert torch.equal(s[i, h], lt.scaled_matmul(q[i, h], kt[i, h], E5M2))


def test_zero_and_nonfinite_tensors() -> None:
    z = torch.zeros(3, 8)
    b = randn(8, 4, seed=5)
    assert torch.equal(lt.scaled_matmul(z, b, E4M3), torch.zeros(3, 4))
    a = randn(3, 8, seed=6)
    a[1, 2] = INF
    y = lt.scaled_matmul(a, b, E5M2)
    # The Inf row propagates as without scaling; the other rows are finite and the Inf
    # did not set the scale (amax over finite values).
    assert not torch.isfinite(y[1]).any()
    a_fin = a.clone()
    a_fin[1] = 0.0
    y_fin = lt.scaled_matmul(a_fin, b, E5M2)
    assert torch.equal(y[0], y_fin[0]) and torch.equal(y[2], y_fin[2])
    m = lt.scaled_mul(torch.tensor([NAN, 2.0, 0.5]), torch.tensor([1.0, 3.0, 0.0]), E4M3)
    assert math.isnan(m[0]) and m[1] == 6.0 and m[2] == 0.0


def test_gradients_with_respect_to_unscaled_operands() -> None:
    a = randn(4, 24, seed=7).requires_grad_()
    b = (randn(24, 5, seed=8) * 1e-3).requires_grad_()
    g = randn(4, 5, seed=9)
    lt.scaled_matmul(a, b, E4M3).backward(g)
    # ste: exact fp32 products with the other operand as the forward used it (dequantized).
    ea, eb = ops.scale_exponent(a, "e4m3"), ops.scale_exponent(b, "e4m3")
    bq = ops._dequantized(b.detach(), eb, E4M3, "e4m3")
    aq = ops._dequantized(a.detach(), ea, E4M3, "e4m3")
    assert torch.equal(a.grad, g @ bq.T)
    assert torch.equal(b.grad, aq.T @ g)
    # The scale is a constant of the step: d/da of f(a * 2^k) is 2^k times d/da f(a).
    a2 = (a.detach() * 2.0**-7).requires_grad_()
    lt.scaled_matmul(a2, b.detach(), E4M3).backward(g)
    assert torch.equal(a2.grad, a.grad)
    # same: the gradient GEMMs are scaled GEMMs in the forward arithmetic.
    a3, b3 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    lt.scaled_matmul(a3, b3, E4M3, backward="same").backward(g)
    assert torch.equal(a3.grad, lt.scaled_matmul(g, b.detach().T, E4M3))
    assert torch.equal(b3.grad, lt.scaled_matmul(a.detach().T, g, E4M3))
    # elementwise, broadcast operand
    x = randn(3, 6, seed=10).requires_grad_()
    w = randn(6, seed=11).requires_grad_()
    gx = randn(3, 6, seed=12)
    lt.scaled_mul(x, w, E5M2).backward(gx)
    wq = ops._dequantized(w.detach(), ops.scale_exponent(w, "e5m2"), E5M2, "e5m2")
    xq = ops._dequantized(x.detach(), ops.scale_exponent(x, "e5m2"), E5M2, "e5m2")
    assert torch.equal(x.grad, gx * wq)
    assert torch.equal(w.grad, (gx * xq).sum(0))


def test_bad_arith_for_scaling() -> None:
    for arith in ("lmul/e4m3", "exact/e4m3", "exact/bf16,wide"):
        with pytest.raises(ValueError, match="scaling needs exact/FORMAT,wide"):
            lt.scaled_matmul(randn(2, 3), randn(3, 2), arith)


def test_policy_sites_of_new_presets() -> None:
    s = lmul.policy_sites("fp8-e4m3-attn-scaled")
    assert s["attn.qk"] == "exact/e4m3,wide,scaled" and s["mlp"] == "exact/fp32"
    s = lmul.policy_sites("fp8-e4m3-all-scaled")
    assert all(s[k] == "exact/e4m3,wide,scaled" for k in lmul.SITES)
    assert lmul.policy_sites("lmul-all-k3")["elementwise"] == "lmul/e8m3"
    assert lmul.policy_sites("fp8-e4m3-all")["lm_head"] == "exact/e4m3,wide"
    names = lmul.policy_presets()
    for n in ("lmul-all-k3", "lmul-all-k4", "fp8-e4m3-all", "fp8-e4m3-attn-scaled",
              "fp8-e5m2-attn-scaled", "fp8-e4m3-all-scaled"):
        assert n in names
