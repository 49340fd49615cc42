"""lmul.torch: the custom ops against the NumPy API (itself bit-exact with the CLI), opcheck,
torch.compile, gradients of both backward modes against analytic formulas, dtypes, layouts
and bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lmul  # noqa: E402
import lmul.torch as lt  # noqa: E402


def bits(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).contiguous().numpy().view(np.uint32)


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32).to(dtype)


def test_public_names_are_ops_all() -> None:
    # lmul.torch re-exports lmul/torch/ops.py's __all__ (one list), plus patch/unpatch.
    from lmul.torch import ops

    assert set(ops.__all__) <= set(lt.__all__)
    assert set(lt.__all__) - set(ops.__all__) <= {"patch", "unpatch"}
    for name in lt.__all__:
        assert getattr(lt, name) is not None, name
    for name in ops.__all__:
        assert getattr(lt, name) is getattr(ops, name), name


# ---- forward: the same bits as the NumPy API ----


@pytest.mark.parametrize("arith", ["lmul/bf16", "lmul/e4m3", "exact/e5m2,wide", "mitchell/e8m3"])
def test_mul_op_equals_numpy_api(arith: str) -> None:
    x, y = randn(4, 33, seed=1), randn(4, 33, seed=2)
    got = torch.ops.lmul.mul(x, y, arith, "ste")
    assert got.dtype == torch.float32 and got.shape == x.shape
    assert np.array_equal(bits(got), lmul.mul(x.numpy(), y.numpy(), arith).view(np.uint32))


@pytest.mark.parametrize("arith,accum", [("lmul/bf16", "fp32"), ("lmul/e8m3", "bf16"),
                                         ("exact/fp32", "fp32"), ("lmul/bf16", "bf16dot")])
def test_matmul_and_bmm_ops_equal_numpy_api(arith: str, accum: str) -> None:
    a, b = randn(5, 40, seed=3), randn(40, 7, seed=4)
    got = torch.ops.lmul.matmul(a, b, arith, accum, "ste")
    assert np.array_equal(bits(got), lmul.matmul(a.numpy(), b.numpy(), arith, accum).view(np.uint32))
    a3, b3 = randn(3, 5, 40, seed=5), randn(3, 40, 7, seed=6)
    got3 = torch.ops.lmul.bmm(a3, b3, arith, accum, "ste")
    for i in range(3):
        want = lmul.matmul(a3[i].numpy(), b3[i].numpy(), arith, accum)
        assert np.array_equal(bits(got3[i]), want.view(np.uint32))


def test_wrappers_broadcast_batch_and_layouts() -> None:
    arith = "lmul/e8m4"
    x = randn(2, 8, 64, seed=7)
    w = randn(48, 64, seed=8)  # a Linear weight (out, in): x @ w.T, w.T used in place
    got = lt.matmul(x, w.T, arith)
    assert got.shape == (2, 8, 48)
    want = lmul.matmul(x.reshape(16, 64).numpy(), np.ascontiguousarray(w.T.numpy()), arith)
    assert np.array_equal(bits(got).reshape(16, 48), want.view(np.uint32))
    # batched with broadcast batch dims (GQA-like: one K for 4 query heads)
    q, k = randn(2, 4, 6, 16, seed=9), randn(2, 1, 16, 10, seed=10)
    s = lt.matmul(q, k, arith)
    assert s.shape == (2, 4, 6, 10)
    for i in range(2):
        for h in range(4):
            want = lmul.matmul(q[i, h].numpy(), np.ascontiguousarray(k[i, 0].numpy()), arith)
            assert np.array_equal(bits(s[i, h]), want.view(np.uint32))
    # non-contiguous q (a transposed view)
    qt = randn(2, 6, 4, 16, seed=11).transpose(1, 2)
    assert np.array_equal(bits(lt.matmul(qt, k, arith)), bits(lt.matmul(qt.contiguous(), k, arith)))
    # 1-D operands as torch.matmul
    v = randn(16, seed=12)
    assert lt.matmul(v, k[0, 0], arith).shape == (10,)
    assert lt.matmul(q[0, 0], v, arith).shape == (6,)
    # elementwise broadcast
    m = lt.mul(randn(3, 1, 5, seed=13), randn(4, 1, seed=14), arith)
    assert m.shape == (3, 4, 5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_dtypes_computed_in_fp32_returned_in_input_dtype(dtype: torch.dtype) -> None:
    arith = "lmul/bf16"
    a, b = randn(6, 20, seed=15, dtype=dtype), randn(20, 9, seed=16, dtype=dtype)
    got = lt.matmul(a, b, arith)
    assert got.dtype == dtype
    want = torch.from_numpy(lmul.matmul(a.float().numpy(), b.float().numpy(), arith)).to(dtype)
    assert torch.equal(got, want)
    m = lt.mul(a, a, arith)
    assert m.dtype == dtype
    # mixed dtypes promote as torch does
    assert lt.mul(a, a.float(), arith).dtype == torch.promote_types(dtype, torch.float32)


# ---- opcheck and torch.compile ----


def test_opcheck_every_op() -> None:
    x, y = randn(3, 5, seed=20).requires_grad_(), randn(3, 5, seed=21).requires_grad_()
    a, b = randn(4, 6, seed=22).requires_grad_(), randn(6, 3, seed=23).requires_grad_()
    a3, b3 = randn(2, 4, 6, seed=24).requires_grad_(), randn(2, 6, 3, seed=25).requires_grad_()
    for backward in ("ste", "same"):
        torch.library.opcheck(torch.ops.lmul.mul.default, (x, y, "lmul/e8m3", backward))
        torch.library.opcheck(torch.ops.lmul.matmul.default, (a, b, "lmul/bf16", "fp32", backward))
        torch.library.opcheck(torch.ops.lmul.bmm.default, (a3, b3, "lmul/e4m3", "bf16", backward))
    torch.library.opcheck(torch.ops.lmul.reduce.default, (x, "e4m3", "rne"))
    torch.library.opcheck(torch.ops.lmul.matmul.default, (a.detach(), b.detach(), "exact/fp32", "fp32", "ste"))


def test_opcheck_covers_every_registered_op_dtype_and_layout() -> None:
    """opcheck (schema, fake kernel, autograd registration, AOT dispatch) of every op in the
    lmul namespace, on the layouts and dtypes the CPU kernels treat differently: transposed
    and expanded (stride 0) operands read through their strides, bf16/fp64 converted."""
    ops = sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("lmul::"))
    assert ops == ["lmul::bmm", "lmul::matmul", "lmul::mul", "lmul::reduce"]  # a new op: add it here
    for dtype in (torch.float32, torch.bfloat16, torch.float64):
        a = randn(6, 4, seed=26, dtype=dtype).T.requires_grad_()  # (4, 6), column-major
        b = randn(6, 1, seed=27, dtype=dtype).expand(6, 3)  # stride 0 along N
        a3 = randn(2, 6, 4, seed=28, dtype=dtype).mT.requires_grad_()
        b3 = randn(2, 6, 3, seed=29, dtype=dtype)
        x = randn(5, 3, seed=30, dtype=dtype).T.requires_grad_()  # non-contiguous
        y = randn(3, 5, seed=31, dtype=dtype)
        for backward in ("ste", "same"):
            torch.library.opcheck(torch.ops.lmul.matmul.default, (a, b, "lmul/e8m4", "fp32", backward))
            torch.library.opcheck(torch.ops.lmul.bmm.default, (a3, b3, "mitchell/bf16", "bf16dot", backward))
            torch.library.opcheck(torch.ops.lmul.mul.default, (x, y, "exact/e5m2,wide", backward))
        torch.library.opcheck(torch.ops.lmul.reduce.default, (x, "e5m2", "trunc"))


def test_strided_and_negated_operands_read_as_their_values() -> None:
    """The CPU kernels read tensors through data_ptr() and strides: views (transposed,
    sliced, expanded) and lazily negated tensors give the values they hold."""
    a, b = randn(9, 20, seed=33), randn(20, 7, seed=34)
    want = lmul.matmul(a.numpy(), b.numpy(), "lmul/bf16")
    big = torch.zeros(12, 30)
    big[2:11, 5:25] = a
    view = big[2:11, 5:25]  # storage offset and row stride 30
    assert np.array_equal(bits(torch.ops.lmul.matmul(view, b, "lmul/bf16", "fp32", "ste")), want.view(np.uint32))
    bt = b.T.contiguous().T  # column-major b, used in place
    assert np.array_equal(bits(torch.ops.lmul.matmul(a, bt, "lmul/bf16", "fp32", "ste")), want.view(np.uint32))
    neg = torch._neg_view(-a)  # values of a, negation bit set
    assert neg.is_neg()
    assert np.array_equal(bits(torch.ops.lmul.matmul(neg, b, "lmul/bf16", "fp32", "ste")), want.view(np.uint32))
    assert np.array_equal(bits(torch.ops.lmul.mul(neg, a, "lmul/e4m3", "ste")),
                          lmul.mul(a.numpy(), a.numpy(), "lmul/e4m3").view(np.uint32))
    assert np.array_equal(bits(torch.ops.lmul.reduce(neg, "e4m3", "rne")), lmul.reduce(a.numpy(), "e4m3").view(np.uint32))
    row = randn(1, 20, seed=35).expand(9, 20)  # stride 0 along M: copied by the module
    want_row = lmul.matmul(row.contiguous().numpy(), b.numpy(), "lmul/bf16")
    assert np.array_equal(bits(torch.ops.lmul.matmul(row, b, "lmul/bf16", "fp32", "ste")), want_row.view(np.uint32))
    empty = torch.ops.lmul.matmul(torch.empty(0, 20), b, "lmul/bf16", "fp32", "ste")
    assert empty.shape == (0, 7)
    zeros = torch.ops.lmul.matmul(torch.empty(3, 0), torch.empty(0, 4), "lmul/bf16", "fp32", "ste")
    assert torch.equal(zeros, torch.zeros(3, 4))


def test_torch_compile_small_function() -> None:
    def f(x: torch.Tensor, w: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        h = lt.matmul(x, w.T, "lmul/bf16")
        s = lt.matmul(h, k.mT, "lmul/e8m3")
        return torch.softmax(s, -1) * lt.mul(h[..., :1], h[..., :1], "lmul/e4m3")

    x, w, k = randn(2, 5, 16, seed=30), randn(12, 16, seed=31), randn(2, 7, 12, seed=32)
    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(x, w, k), f(x, w, k))
    xg = x.clone().requires_grad_()
    compiled(xg, w, k).sum().backward()
    xe = x.clone().requires_grad_()
    f(xe, w, k).sum().backward()
    assert torch.equal(xg.grad, xe.grad)


# ---- gradients ----


def reduced(t: torch.Tensor, arith: str) -> np.ndarray:
    info = lmul.arith_info(arith)
    return lmul.reduce(t.detach().float().numpy(), info["format"], info["rounding"])


@pytest.mark.parametrize("arith", ["lmul/e8m3", "lmul/e4m3", "exact/bf16", "exact/fp32"])
def test_mul_gradients(arith: str) -> None:
    x, y = randn(4, 9, seed=40).requires_grad_(), randn(4, 9, seed=41).requires_grad_()
    g = randn(4, 9, seed=42)
    # ste: dx = g * reduce(y), an fp32 product
    lt.mul(x, y, arith, backward="ste").backward(g)
    assert np.array_equal(bits(x.grad), (g.numpy() * reduced(y, arith)).view(np.uint32))
    assert np.array_equal(bits(y.grad), (g.numpy() * reduced(x, arith)).view(np.uint32))
    # same: dx = mul(g, y) in the forward arithmetic
    x.grad = y.grad = None
    lt.mul(x, y, arith, backward="same").backward(g)
    assert np.array_equal(bits(x.grad), lmul.mul(g.numpy(), y.detach().numpy(), arith).view(np.uint32))
    assert np.array_equal(bits(y.grad), lmul.mul(g.numpy(), x.detach().numpy(), arith).view(np.uint32))


@pytest.mark.parametrize("arith,accum", [("lmul/e8m3", "fp32"), ("lmul/bf16", "bf16"),
                                         ("exact/e4m3,wide", "fp32"), ("lmul/bf16", "bf16dot")])
def test_matmul_gradients(arith: str, accum: str) -> None:
    a, b = randn(5, 11, seed=50).requires_grad_(), randn(11, 7, seed=51).requires_grad_()
    g = randn(5, 7, seed=52)
    # ste: dA = G . reduce(B)^T, dB = reduce(A)^T . G in fp32 (checked in float64)
    lt.matmul(a, b, arith, accum, backward="ste").backward(g)
    g64 = g.numpy().astype(np.float64)
    ga = g64 @ reduced(b, arith).astype(np.float64).T
    gb = reduced(a, arith).astype(np.float64).T @ g64
    np.testing.assert_allclose(a.grad.numpy(), ga, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-5, atol=1e-5)
    # same: the gradient GEMMs in the forward arithmetic and accumulation, bit for bit
    a.grad = b.grad = None
    lt.matmul(a, b, arith, accum, backward="same").backward(g)
    an, bn = a.detach().numpy(), b.detach().numpy()
    assert np.array_equal(bits(a.grad), lmul.matmul(g.numpy(), np.ascontiguousarray(bn.T), arith, accum).view(np.uint32))
    assert np.array_equal(bits(b.grad), lmul.matmul(np.ascontiguousarray(an.T), g.numpy(), arith, accum).view(np.uint32))


def test_bmm_gradients_and_exact_fp32_matches_torch() -> None:
    a, b = randn(3, 4, 6, seed=60).requires_grad_(), randn(3, 6, 5, seed=61).requires_grad_()
    g = randn(3, 4, 5, seed=62)
    lt.matmul(a, b, "exact/fp32").backward(g)
    # exact/fp32 reduces nothing: the ste gradients are torch's own (float64 check)
    a64, b64 = a.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    torch.matmul(a64, b64).backward(g.double())
    torch.testing.assert_close(a.grad.double(), a64.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.grad.double(), b64.grad, rtol=1e-5, atol=1e-5)
    # and the forward against float64 (fp32 rounding only)
    torch.testing.assert_close(lt.matmul(a, b, "exact/fp32").double(), a64 @ b64, rtol=1e-5, atol=1e-5)
    # same mode on bmm, bit for bit per batch
    a.grad = b.grad = None
    lt.bmm(a, b, "lmul/e8m4", backward="same").backward(g)
    for i in range(3):
        want = lmul.matmul(g[i].numpy(), np.ascontiguousarray(b[i].detach().numpy().T), "lmul/e8m4")
        assert np.array_equal(bits(a.grad[i]), want.view(np.uint32))


def test_finite_differences_float64_through_reduce_free_arith() -> None:
    # The loss through exact/fp32 ops is a smooth function; its float64 central differences
    # must match the ste gradient to fp32 accuracy.
    a = randn(3, 4, seed=70, dtype=torch.float64)
    b = randn(4, 2, seed=71, dtype=torch.float64)
    w = randn(3, 2, seed=72, dtype=torch.float64)

    def loss(a_: torch.Tensor) -> torch.Tensor:
        return (w * lt.mul(lt.matmul(a_, b, "exact/fp32"), lt.matmul(a_, b, "exact/fp32"), "exact/fp32")).sum()

    ag = a.clone().requires_grad_()
    loss(ag).backward()
    eps = 1e-3
    fd = torch.zeros_like(a)
    for i in range(a.numel()):
        d = torch.zeros_like(a).view(-1)
        d[i] = eps
        d = d.view_as(a)
        fd.view(-1)[i] = (loss(a + d) - loss(a - d)) / (2 * eps)
    torch.testing.assert_close(ag.grad, fd, rtol=2e-3, atol=2e-3)


# ---- bad input ----


def test_bad_inputs_raise() -> None:
    x = randn(3, 4)
    with pytest.raises(ValueError, match="bad arithmetic"):
        lt.mul(x, x, "lmul/e9m9")
    with pytest.raises(ValueError, match="backward"):
        lt.mul(x, x, "lmul/bf16", backward="exact")
    with pytest.raises(ValueError, match="broadcastable"):
        lt.mul(x, randn(5), "lmul/bf16")
    with pytest.raises(ValueError, match="do not match|inner"):
        lt.matmul(x, x, "lmul/bf16")
    with pytest.raises(ValueError, match="accum"):
        lt.matmul(x, x.T, "lmul/bf16", accum="fp16")
    with pytest.raises(ValueError, match="bf16dot"):
        lt.matmul(x, x.T, "exact/fp32", accum="bf16dot")
    with pytest.raises(ValueError, match="differ"):
        torch.ops.lmul.mul(x, randn(4, 3), "lmul/bf16", "ste")
    with pytest.raises(ValueError, match="expected"):
        torch.ops.lmul.matmul(randn(2, 3, 4), randn(2, 4, 3), "lmul/bf16", "fp32", "ste")
    with pytest.raises(TypeError, match="dtype"):
        lt.mul(torch.ones(3, dtype=torch.int32), torch.ones(3, dtype=torch.int32), "lmul/bf16")
    with pytest.raises(TypeError, match="dtypes"):
        torch.ops.lmul.mul(x, x.double(), "lmul/bf16", "ste")
    with pytest.raises(ValueError, match="unknown format"):
        lt.reduce(x, "e3m9")
    with pytest.raises(ValueError, match="threads"):
        lt.set_threads(-2)


def test_threads_do_not_change_results() -> None:
    a, b = randn(30, 300, seed=80), randn(300, 70, seed=81)
    try:
        lt.set_threads(1)
        one = lt.matmul(a, b, "lmul/bf16")
        lt.set_threads(2)
        two = lt.matmul(a, b, "lmul/bf16")
    finally:
        lt.set_threads(None)
    assert torch.equal(one, two)


# ---- the ste backward's reduction (kernels' ReduceElementwise, in the operand's layout) ----


def _old_ste_grads(a: torch.Tensor, b: torch.Tensor, g: torch.Tensor, arith: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The ste gradients as the code before commit 'ste backward without copies' computed
    them: each operand made contiguous, reduced by the op (a scalar loop over lmul::Reduce,
    checked against the NumPy API here), then torch.matmul."""
    info = lmul.arith_info(arith)

    def red(t: torch.Tensor) -> torch.Tensor:
        c = t.detach().contiguous()
        r = torch.from_numpy(lmul.reduce(c.numpy(), info["format"], info["rounding"]))
        assert torch.equal(r, torch.ops.lmul.reduce(c, info["format"], info["rounding"]))
        return r

    return torch.matmul(g, red(b).mT), torch.matmul(red(a).mT, g)


@pytest.mark.parametrize("arith", ["lmul/e8m3", "lmul/bf16", "exact/e4m3,wide", "mitchell/e5m2", "exact/fp16,trunc"])
@pytest.mark.parametrize("shape", [(7, 13, 5), (64, 576, 192), (96, 1536, 576), (33, 576, 1536)])
def test_ste_linear_backward_bit_identical_to_contiguous_reduction(arith: str, shape: tuple[int, int, int]) -> None:
    # A Linear's x . W^T: W^T is a transposed view; its reduction now keeps that layout (no
    # copy). The gradients must be the bits the contiguous-copy path gave (BLAS on either layout).
    m, k, n = shape
    x = randn(m, k, seed=90).requires_grad_()
    w = (randn(n, k, seed=91) * 0.05).requires_grad_()
    g = randn(m, n, seed=92)
    lt.matmul(x, w.t(), arith, backward="ste").backward(g)
    ga, gwt = _old_ste_grads(x, w.t(), g, arith)
    assert torch.equal(x.grad, ga)
    # dW is computed as G^T . Xr in W's layout (no transposing copy): the same products and
    # sums, in BLAS order either way (not specified bit for bit, docs/python.md)...
    info = lmul.arith_info(arith)
    xr = torch.from_numpy(lmul.reduce(x.detach().numpy(), info["format"], info["rounding"]))
    assert torch.equal(w.grad, torch.matmul(g.mT, xr))
    torch.testing.assert_close(w.grad, gwt.t(), rtol=1e-5, atol=1e-5)
    if m >= 32:  # ... and MKL gives the bits of the former Xr^T . G at the model's sizes
        assert torch.equal(w.grad, gwt.t())


def test_ste_bmm_backward_bit_identical_to_contiguous_reduction() -> None:
    q, kt = randn(6, 40, 64, seed=93).requires_grad_(), randn(6, 64, 40, seed=94)
    kt = kt.mT.contiguous().mT.requires_grad_()  # K^T: a transposed view, as attention's
    g = randn(6, 40, 40, seed=95)
    lt.matmul(q, kt, "lmul/e8m3", backward="ste").backward(g)
    ga, gb = _old_ste_grads(q, kt, g, "lmul/e8m3")
    assert torch.equal(q.grad, ga)
    assert torch.equal(kt.grad, gb)


def test_reduce_threads_and_layouts_do_not_change_results() -> None:
    x = randn(301, 1027, seed=96) * 1e3
    x.view(-1)[::97] = float("nan")
    x.view(-1)[5::89] = float("inf")
    want = torch.from_numpy(lmul.reduce(x.numpy(), "e4m3", "rne"))
    try:
        for n in (1, 2, 3, 0):
            lt.set_threads(n)
            assert torch.equal(bits_t(lt.reduce(x, "e4m3", "rne")), bits_t(want))
            assert torch.equal(bits_t(lt.reduce(x.t(), "e4m3", "rne")), bits_t(want.t()))
    finally:
        lt.set_threads(None)


def bits_t(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


@pytest.mark.parametrize("arith", ["lmul/e8m3", "exact/e4m3,wide"])
def test_ste_mul_backward_of_broadcast_operands_bit_identical(arith: str) -> None:
    # RMSNorm's x * scale and * gamma: lmul.torch.mul expands the small operand; its ste
    # gradient reduces the small tensor once and broadcasts it (was: the expanded copy).
    x = randn(3, 17, 40, seed=97).requires_grad_()
    scale = randn(3, 17, 1, seed=98).requires_grad_()
    gamma = randn(40, seed=99).requires_grad_()
    g = randn(3, 17, 40, seed=100)
    lt.mul(lt.mul(x, scale, arith), gamma, arith).backward(g)
    info = lmul.arith_info(arith)

    def red(t: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(lmul.reduce(t.detach().contiguous().numpy(), info["format"], info["rounding"]))

    h = lt.mul(x, scale, arith).detach()
    gh = g * red(gamma.expand(3, 17, 40))
    assert torch.equal(gamma.grad, (g * red(h)).sum((0, 1)))
    assert torch.equal(x.grad, gh * red(scale.expand(3, 17, 40)))
    assert torch.equal(scale.grad, (gh * red(x)).sum(-1, keepdim=True))
