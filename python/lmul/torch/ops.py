"""PyTorch custom ops over lmul's kernels (torch.library), with fake kernels and autograd.

Ops (CPU; float32, bfloat16, float16 or float64 tensors, computed on the fp32 carrier and
returned in the input dtype):

    torch.ops.lmul.mul(x, y, arith, backward)            same shapes, elementwise
    torch.ops.lmul.matmul(a, b, arith, accum, backward)  (M, K) . (K, N)
    torch.ops.lmul.bmm(a, b, arith, accum, backward)     (B, M, K) . (B, K, N)
    torch.ops.lmul.reduce(x, fmt, rounding)              x reduced to a format

Scaled sites (policies such as "fp8-e4m3-attn-scaled"; the engine's engine/model/scaling.h,
docs/engine.md "Scaled fp8"): ``scaled_matmul`` and ``scaled_mul`` multiply each operand
tensor by the largest power of two s = 2^e that keeps its amax (over finite values) within
the format's max (e = floor(log2(max / amax)), 0 for amax 0: amax * s in (max/2, max], the
top binade unless amax's significand exceeds max's), saturate finite values to +-max (a
no-op for the tensor's own values), run the op, and multiply the result by 2^-(e_a + e_b)
(one rounding to fp32). The gradient is with respect to the unscaled operands; the scales
are constants of the step.

Backward (docs/python.md, "Backward modes"), with xr = reduce(x) the operand as the forward
used it (reduced to the arith's format with its rounding):
    "ste":  gradients through exact fp32 products on the reduced operands, the reduction
            straight-through: mul  dx = g * yr, dy = g * xr (fp32 multiply);
            matmul dA = G . Br^T, dB = Ar^T . G (torch.matmul in fp32, BLAS order).
    "same": every gradient product in the forward arithmetic (the paper's "all
            multiplications"): mul dx = mul(g, y), matmul dA = matmul(G, B^T), dB =
            matmul(A^T, G), the same arith and accumulation (G reduced like any operand).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor

from lmul import _lmul

__all__ = [
    "bmm",
    "get_threads",
    "matmul",
    "mul",
    "reduce",
    "scale_exponent",
    "scale_saturate",
    "scaled_matmul",
    "scaled_mul",
    "set_threads",
]

BACKWARDS = ("ste", "same")
ACCUMS = ("fp32", "bf16", "bf16dot")
_FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)

_threads: int | None = None  # None: torch.get_num_threads()


def set_threads(n: int | None) -> None:
    """Threads of the ops' GEMMs: n >= 1, 0 = all cores, None = torch.get_num_threads()
    (the default). Results do not depend on it."""
    global _threads
    if n is not None and (not isinstance(n, int) or n < 0):
        raise ValueError(f"lmul.torch.set_threads: expected an int >= 0 or None, got {n!r}")
    _threads = n


def get_threads() -> int:
    return torch.get_num_threads() if _threads is None else _threads


@functools.lru_cache(maxsize=256)
def _info(arith: str) -> dict[str, Any]:
    return dict(_lmul.arith_info(arith))  # ValueError with the CLI's message on a bad spec


def _check_args(
    fn: str, tensors: tuple[Tensor, ...], arith: str, backward: str, accum: str | None = None
) -> None:
    info = _info(arith)
    if backward not in BACKWARDS:
        raise ValueError(f"lmul.{fn}: backward must be 'ste' or 'same', got {backward!r}")
    if accum is not None:
        if accum not in ACCUMS:
            raise ValueError(f"lmul.{fn}: bad accum {accum!r}: expected fp32, bf16 or bf16dot")
        if accum == "bf16dot" and not info["supports_bf16dot"]:
            raise ValueError(
                f"lmul.{fn}: accum 'bf16dot' needs lmul or mitchell on a format that fits bf16 "
                f"(bf16, e8m1..e8m7, e5m2, e4m3), got '{info['name']}'"
            )
    dtype = tensors[0].dtype
    for t in tensors:
        if t.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"lmul.{fn}: dtype {t.dtype} is not supported (float32, bfloat16, float16, float64)")
        if t.dtype != dtype:
            raise TypeError(f"lmul.{fn}: operands have dtypes {dtype} and {t.dtype}; expected equal dtypes")


def _f32(t: Tensor) -> Tensor:
    """t detached, as float32 (no copy when it already is)."""
    t = t.detach()
    return t if t.dtype == torch.float32 else t.to(torch.float32)


def _back(out: Tensor, dtype: torch.dtype) -> Tensor:
    return out if dtype == torch.float32 else out.to(dtype)


def _check_cpu(fn: str, *tensors: Tensor) -> None:
    for t in tensors:
        if t.device.type != "cpu":
            raise NotImplementedError(
                f"lmul.{fn}: device {t.device} is not supported by this build (CPU only)"
            )


# ---- reduce ----


@torch.library.custom_op("lmul::reduce", mutates_args=(), device_types="cpu")
def _reduce_op(x: Tensor, fmt: str, rounding: str) -> Tensor:
    out = torch.empty(x.shape, dtype=torch.float32)
    _lmul.reduce(_f32(x).contiguous().numpy(), out.numpy(), fmt, rounding)
    return _back(out, x.dtype)


@_reduce_op.register_fake
def _(x: Tensor, fmt: str, rounding: str) -> Tensor:
    return x.new_empty(x.shape)


def _reduce_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    pass


def _reduce_backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
    return g, None, None  # straight-through


_reduce_op.register_autograd(_reduce_backward, setup_context=_reduce_setup)


# ---- mul ----


@torch.library.custom_op("lmul::mul", mutates_args=(), device_types="cpu")
def _mul_op(x: Tensor, y: Tensor, arith: str, backward: str) -> Tensor:
    _check_args("mul", (x, y), arith, backward)
    if x.shape != y.shape:
        raise ValueError(
            f"lmul.mul: shapes {tuple(x.shape)} and {tuple(y.shape)} differ "
            "(torch.ops.lmul.mul takes equal shapes; lmul.torch.mul broadcasts)"
        )
    out = torch.empty(x.shape, dtype=torch.float32)
    _lmul.mul(_f32(x).contiguous().numpy(), _f32(y).contiguous().numpy(), out.numpy(), arith)
    return _back(out, x.dtype)


@_mul_op.register_fake
def _(x: Tensor, y: Tensor, arith: str, backward: str) -> Tensor:
    _check_args("mul", (x, y), arith, backward)
    torch._check(x.shape == y.shape, lambda: "lmul.mul: shapes differ")
    return x.new_empty(x.shape)


def _mul_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    x, y, arith, backward = inputs
    ctx.arith, ctx.backward = arith, backward
    ctx.save_for_backward(x, y)


def _reduced(t: Tensor, arith: str) -> Tensor:
    """t (as float32) reduced to the arith's operand format, as the forward saw it."""
    info = _info(arith)
    if info["format"] == "fp32":
        return t.to(torch.float32)
    return torch.ops.lmul.reduce(t.to(torch.float32), info["format"], info["rounding"])


def _mul_backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
    x, y = ctx.saved_tensors
    gx = gy = None
    if ctx.backward == "ste":
        g32 = g.to(torch.float32)
        if ctx.needs_input_grad[0]:
            gx = (g32 * _reduced(y, ctx.arith)).to(x.dtype)
        if ctx.needs_input_grad[1]:
            gy = (g32 * _reduced(x, ctx.arith)).to(y.dtype)
    else:
        g = g.to(x.dtype)
        if ctx.needs_input_grad[0]:
            gx = torch.ops.lmul.mul(g, y, ctx.arith, ctx.backward)
        if ctx.needs_input_grad[1]:
            gy = torch.ops.lmul.mul(g, x, ctx.arith, ctx.backward)
    return gx, gy, None, None


_mul_op.register_autograd(_mul_backward, setup_context=_mul_setup)


# ---- matmul (2-D) and bmm (3-D) ----


def _matmul_impl(fn: str, a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    nd = 2 if fn == "matmul" else 3
    _check_args(fn, (a, b), arith, backward, accum)
    _check_cpu(fn, a, b)
    _check_shapes(fn, nd, a, b)
    shape = (*a.shape[:-1], b.shape[-1])
    out = torch.empty(shape, dtype=torch.float32)
    _lmul.matmul(_f32(a).numpy(), _f32(b).numpy(), out.numpy(), arith, accum, get_threads())
    return _back(out, a.dtype)


def _check_shapes(fn: str, nd: int, a: Tensor, b: Tensor) -> None:
    what = "(M, K) . (K, N)" if nd == 2 else "(B, M, K) . (B, K, N)"
    ok = a.dim() == nd and b.dim() == nd and a.shape[-1] == b.shape[-2]
    if ok and nd == 3:
        ok = a.shape[0] == b.shape[0]
    if not ok:
        raise ValueError(
            f"lmul.{fn}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match: expected {what}"
        )


@torch.library.custom_op("lmul::matmul", mutates_args=(), device_types="cpu")
def _matmul_op(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    return _matmul_impl("matmul", a, b, arith, accum, backward)


@torch.library.custom_op("lmul::bmm", mutates_args=(), device_types="cpu")
def _bmm_op(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    return _matmul_impl("bmm", a, b, arith, accum, backward)


def _matmul_fake(fn: str, nd: int) -> Any:
    def fake(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
        _check_args(fn, (a, b), arith, backward, accum)
        torch._check(a.dim() == nd and b.dim() == nd, lambda: f"lmul.{fn}: expected {nd}-D operands")
        torch._check(a.shape[-1] == b.shape[-2], lambda: f"lmul.{fn}: inner dimensions differ")
        if nd == 3:
            torch._check(a.shape[0] == b.shape[0], lambda: f"lmul.{fn}: batch sizes differ")
        return a.new_empty((*a.shape[:-1], b.shape[-1]))

    return fake


_matmul_op.register_fake(_matmul_fake("matmul", 2))
_bmm_op.register_fake(_matmul_fake("bmm", 3))


def _matmul_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    a, b, arith, accum, backward = inputs
    ctx.arith, ctx.accum, ctx.backward = arith, accum, backward
    ctx.save_for_backward(a, b)


def _matmul_backward_fn(op_name: str) -> Any:
    def backward_fn(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.backward == "ste":
            g32 = g.to(torch.float32)
            if ctx.needs_input_grad[0]:
                ga = torch.matmul(g32, _reduced(b, ctx.arith).mT).to(a.dtype)
            if ctx.needs_input_grad[1]:
                gb = torch.matmul(_reduced(a, ctx.arith).mT, g32).to(b.dtype)
        else:
            op = getattr(torch.ops.lmul, op_name)
            g = g.to(a.dtype)
            if ctx.needs_input_grad[0]:
                ga = op(g, b.mT, ctx.arith, ctx.accum, ctx.backward)
            if ctx.needs_input_grad[1]:
                gb = op(a.mT, g, ctx.arith, ctx.accum, ctx.backward)
        return ga, gb, None, None, None

    return backward_fn


_matmul_op.register_autograd(_matmul_backward_fn("matmul"), setup_context=_matmul_setup)
_bmm_op.register_autograd(_matmul_backward_fn("bmm"), setup_context=_matmul_setup)


# ---- Python wrappers (broadcasting, batch dims, dtypes) ----


def _promote(fn: str, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"lmul.torch.{fn}: expected tensors, got {type(x).__name__} and {type(y).__name__}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"lmul.torch.{fn}: dtype {dtype} is not supported (float32, bfloat16, float16, float64)")
    return x.to(dtype), y.to(dtype)


def _broadcast(s1: tuple[int, ...], s2: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast of two shapes, or None (no try/except: traceable by torch.compile)."""
    out = []
    for i in range(1, max(len(s1), len(s2)) + 1):
        d1 = s1[-i] if i <= len(s1) else 1
        d2 = s2[-i] if i <= len(s2) else 1
        if d1 != d2 and d1 != 1 and d2 != 1:
            return None
        out.append(d2 if d1 == 1 else d1)
    return tuple(reversed(out))


def mul(x: Tensor, y: Tensor, arith: str, backward: str = "ste") -> Tensor:
    """Elementwise ``arith`` products of broadcastable tensors (dtypes promoted; computed in
    fp32, returned in the promoted dtype). Bit-exact with ``lmul.mul`` / ``lmul mul``."""
    x, y = _promote("mul", x, y)
    if x.shape != y.shape:
        shape = _broadcast(tuple(x.shape), tuple(y.shape))
        if shape is None:
            raise ValueError(
                f"lmul.torch.mul: shapes {tuple(x.shape)} and {tuple(y.shape)} are not broadcastable"
            )
        x, y = x.expand(shape), y.expand(shape)
    return torch.ops.lmul.mul(x, y, arith, backward)


def matmul(
    a: Tensor, b: Tensor, arith: str, accum: str = "fp32", backward: str = "ste"
) -> Tensor:
    """``torch.matmul`` semantics (1-D operands, batch dims broadcast) with every product in
    ``arith`` and sums in the canonical order (accum "fp32", "bf16" or "bf16dot").

    b 2-D (e.g. ``x @ W.T`` of a linear layer): a's leading dims are flattened into one
    (M, K) . (K, N) GEMM (torch.ops.lmul.matmul; W.T is used in place, not copied);
    otherwise the broadcast batch runs as torch.ops.lmul.bmm.
    """
    a, b = _promote("matmul", a, b)
    if a.dim() == 0 or b.dim() == 0:
        raise ValueError("lmul.torch.matmul: both operands need at least one dimension")
    squeeze_a = a.dim() == 1
    squeeze_b = b.dim() == 1
    if squeeze_a:
        a = a.unsqueeze(0)
    if squeeze_b:
        b = b.unsqueeze(-1)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"lmul.torch.matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match "
            "(inner dimensions differ)"
        )
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.dim() == 2:
        lead = a.shape[:-2]
        out = torch.ops.lmul.matmul(a.reshape(-1, K), b, arith, accum, backward)
        out = out.reshape(*lead, M, N)
    else:
        batch = _broadcast(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        if batch is None:
            raise ValueError(
                f"lmul.torch.matmul: batch dims {tuple(a.shape[:-2])} and {tuple(b.shape[:-2])} "
                "are not broadcastable"
            )
        a3 = a.expand(*batch, M, K).reshape(-1, M, K)
        b3 = b.expand(*batch, K, N).reshape(-1, K, N)
        out = torch.ops.lmul.bmm(a3, b3, arith, accum, backward).reshape(*batch, M, N)
    if squeeze_a:
        out = out.squeeze(-2)
    if squeeze_b:
        out = out.squeeze(-1)
    return out


def bmm(a: Tensor, b: Tensor, arith: str, accum: str = "fp32", backward: str = "ste") -> Tensor:
    """(B, M, K) . (B, K, N) with every product in ``arith`` (torch.ops.lmul.bmm)."""
    a, b = _promote("bmm", a, b)
    return torch.ops.lmul.bmm(a, b, arith, accum, backward)


def reduce(x: Tensor, fmt: str, rounding: str = "rne") -> Tensor:
    """x reduced to format ``fmt`` (lmul.reduce); gradient straight-through."""
    if not isinstance(x, Tensor) or x.dtype not in _FLOAT_DTYPES:
        raise TypeError("lmul.torch.reduce: expected a floating-point tensor")
    return torch.ops.lmul.reduce(x, fmt, rounding)


# ---- per-tensor power-of-two scaling (scaled sites) ----


@functools.lru_cache(maxsize=16)
def _limits(fmt: str) -> tuple[int, float]:
    """(emax, largest finite value) of a format, from the engine (e4m3: (8, 448.0))."""
    emax, mx = _lmul.scale_limits(fmt)
    return int(emax), float(mx)


def _pow2(e: Tensor) -> Tensor:
    """2^e as float64, exact (built from the exponent bits; |e| <= 1000)."""
    return ((e.to(torch.int64) + 1023) << 52).view(torch.float64)


def _pow2_mul(y: Tensor, e: Tensor) -> Tensor:
    """y * 2^e (e broadcast) rounded once to fp32, as the engine's Pow2Mul."""
    return (y.to(torch.float64) * _pow2(e)).to(torch.float32)


def scale_exponent(t: Tensor, fmt: str, dims: tuple[int, ...] | None = None) -> Tensor:
    """The scale exponent e (int64) of each tensor: over all of t (dims None, a 0-d result)
    or over ``dims`` (kept as size-1 dims). amax is taken over finite values; e = 0 when
    amax is 0, else floor(log2(max / amax)) exactly: e' = emax(fmt) - floor(log2 amax)
    (amax * 2^e' in the top binade), minus 1 where amax * 2^e' > max (subnormal amax
    included)."""
    emax, mx = _limits(fmt)
    a = t.detach().to(torch.float32).abs()
    a = torch.where(torch.isfinite(a), a, torch.zeros_like(a))
    if a.numel() == 0:
        shape = () if dims is None else tuple(1 if i in [d % t.dim() for d in dims] else n for i, n in enumerate(t.shape))
        return torch.zeros(shape, dtype=torch.int64)
    amax = a.amax() if dims is None else a.amax(dim=dims, keepdim=True)
    _, ex = torch.frexp(amax)  # amax = m * 2^ex, m in [0.5, 1): floor(log2 amax) = ex - 1
    e = emax - (ex.to(torch.int64) - 1)
    e = torch.where(amax.to(torch.float64) * _pow2(e) > mx, e - 1, e)  # exact in float64
    return torch.where(amax > 0, e, torch.zeros_like(e))


def scale_saturate(t: Tensor, e: Tensor, fmt: str) -> Tensor:
    """t * 2^e (e broadcast) rounded once to fp32, finite values clamped to the format's
    +-max (saturation); Inf and NaN unchanged. No gradient (see scaled_matmul)."""
    _, mx = _limits(fmt)
    x = t.detach().to(torch.float32)
    v = _pow2_mul(x, e)
    return torch.where(torch.isfinite(x), v.clamp(-mx, mx), v)


def _scaled_format(fn: str, arith: str) -> str:
    info = _info(arith)
    if not (info["op"] == "exact" and info["wide"] and info["format"] in ("e4m3", "e5m2", "fp16")):
        raise ValueError(
            f"lmul.torch.{fn}: scaling needs exact/FORMAT,wide with FORMAT e4m3, e5m2 or fp16, "
            f"got '{info['name']}'"
        )
    return str(info["format"])


def _dequantized(t: Tensor, e: Tensor, arith: str, fmt: str) -> Tensor:
    """The operand as a scaled op used it, in unscaled units: 2^-e * reduce(scale(t))."""
    info = _info(arith)
    r = torch.ops.lmul.reduce(scale_saturate(t, e, fmt), fmt, info["rounding"])
    return _pow2_mul(r, -e)


def _mm(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    op = torch.ops.lmul.matmul if a.dim() == 2 else torch.ops.lmul.bmm
    return op(a, b, arith, accum, backward)


def _scaled_mm_forward(a: Tensor, b: Tensor, arith: str, accum: str, fmt: str) -> tuple[Tensor, Tensor, Tensor]:
    """a, b 2-D (one tensor each) or 3-D (one tensor per batch entry), fp32 -> (y, ea, eb)."""
    dims = None if a.dim() == 2 else (1, 2)
    ea, eb = scale_exponent(a, fmt, dims), scale_exponent(b, fmt, dims)
    y = _mm(scale_saturate(a, ea, fmt), scale_saturate(b, eb, fmt), arith, accum, "ste")
    return _pow2_mul(y, -(ea + eb)), ea, eb


class _ScaledMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:  # type: ignore[override]
        fmt = _scaled_format("scaled_matmul", arith)
        y, ea, eb = _scaled_mm_forward(_f32(a), _f32(b), arith, accum, fmt)
        ctx.arith, ctx.accum, ctx.backward, ctx.fmt = arith, accum, backward, fmt
        ctx.save_for_backward(a, b, ea, eb)
        return _back(y, a.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:  # type: ignore[override]
        a, b, ea, eb = ctx.saved_tensors
        ga = gb = None
        g32 = g.to(torch.float32)
        if ctx.backward == "ste":
            # Gradients w.r.t. the unscaled operands through exact fp32 products on the
            # operands as the forward used them (scales constant, cast straight-through).
            if ctx.needs_input_grad[0]:
                ga = torch.matmul(g32, _dequantized(_f32(b), eb, ctx.arith, ctx.fmt).mT).to(a.dtype)
            if ctx.needs_input_grad[1]:
                gb = torch.matmul(_dequantized(_f32(a), ea, ctx.arith, ctx.fmt).mT, g32).to(b.dtype)
        else:
            # "same": each gradient GEMM is itself a scaled GEMM (G scaled per tensor too).
            if ctx.needs_input_grad[0]:
                ga = _scaled_mm_forward(g32, _f32(b).mT, ctx.arith, ctx.accum, ctx.fmt)[0].to(a.dtype)
            if ctx.needs_input_grad[1]:
                gb = _scaled_mm_forward(_f32(a).mT, g32, ctx.arith, ctx.accum, ctx.fmt)[0].to(b.dtype)
        return ga, gb, None, None, None


def scaled_matmul(a: Tensor, b: Tensor, arith: str, accum: str = "fp32", backward: str = "ste") -> Tensor:
    """:func:`matmul` at a scaled site. The tensors: b 2-D (a linear layer's ``x @ W.T``):
    all of a (every row of the batch) and b; otherwise each matrix of the broadcast batch
    (one attention head of one sequence: Q, K^T, P, V)."""
    a, b = _promote("scaled_matmul", a, b)
    _check_args("scaled_matmul", (a, b), arith, backward, accum)
    if a.dim() < 2 or b.dim() < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"lmul.torch.scaled_matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match: "
            "expected (..., M, K) . (..., K, N)"
        )
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.dim() == 2:
        lead = a.shape[:-2]
        return _ScaledMatmul.apply(a.reshape(-1, K), b, arith, accum, backward).reshape(*lead, M, N)
    batch = _broadcast(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    if batch is None:
        raise ValueError(
            f"lmul.torch.scaled_matmul: batch dims {tuple(a.shape[:-2])} and {tuple(b.shape[:-2])} "
            "are not broadcastable"
        )
    a3 = a.expand(*batch, M, K).reshape(-1, M, K)
    b3 = b.expand(*batch, K, N).reshape(-1, K, N)
    return _ScaledMatmul.apply(a3, b3, arith, accum, backward).reshape(*batch, M, N)


def _scaled_mul_forward(x: Tensor, y: Tensor, arith: str, fmt: str) -> tuple[Tensor, Tensor, Tensor]:
    ex, ey = scale_exponent(x, fmt), scale_exponent(y, fmt)
    sx, sy = scale_saturate(x, ex, fmt), scale_saturate(y, ey, fmt)
    shape = torch.broadcast_shapes(x.shape, y.shape)
    r = torch.ops.lmul.mul(sx.expand(shape).contiguous(), sy.expand(shape).contiguous(), arith, "ste")
    return _pow2_mul(r, -(ex + ey)), ex, ey


class _ScaledMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, arith: str, backward: str) -> Tensor:  # type: ignore[override]
        fmt = _scaled_format("scaled_mul", arith)
        r, ex, ey = _scaled_mul_forward(_f32(x), _f32(y), arith, fmt)
        ctx.arith, ctx.backward, ctx.fmt = arith, backward, fmt
        ctx.save_for_backward(x, y, ex, ey)
        return _back(r, x.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        x, y, ex, ey = ctx.saved_tensors
        g32 = g.to(torch.float32)
        gx = gy = None

        def unbroadcast(t: Tensor, shape: torch.Size) -> Tensor:
            while t.dim() > len(shape):
                t = t.sum(0)
            for i, n in enumerate(shape):
                if n == 1 and t.shape[i] != 1:
                    t = t.sum(i, keepdim=True)
            return t

        if ctx.backward == "ste":
            if ctx.needs_input_grad[0]:
                gx = unbroadcast(g32 * _dequantized(_f32(y), ey, ctx.arith, ctx.fmt), x.shape).to(x.dtype)
            if ctx.needs_input_grad[1]:
                gy = unbroadcast(g32 * _dequantized(_f32(x), ex, ctx.arith, ctx.fmt), y.shape).to(y.dtype)
        else:
            if ctx.needs_input_grad[0]:
                gx = unbroadcast(_scaled_mul_forward(g32, _f32(y), ctx.arith, ctx.fmt)[0], x.shape).to(x.dtype)
            if ctx.needs_input_grad[1]:
                gy = unbroadcast(_scaled_mul_forward(g32, _f32(x), ctx.arith, ctx.fmt)[0], y.shape).to(y.dtype)
        return gx, gy, None, None


def scaled_mul(x: Tensor, y: Tensor, arith: str, backward: str = "ste") -> Tensor:
    """:func:`mul` at a scaled site: x and y (broadcastable) are one tensor each."""
    x, y = _promote("scaled_mul", x, y)
    _check_args("scaled_mul", (x, y), arith, backward)
    if _broadcast(tuple(x.shape), tuple(y.shape)) is None:
        raise ValueError(
            f"lmul.torch.scaled_mul: shapes {tuple(x.shape)} and {tuple(y.shape)} are not broadcastable"
        )
    return _ScaledMul.apply(x, y, arith, backward)
