"""PyTorch custom ops over lmul's kernels (torch.library), with fake kernels and autograd.

Ops (CPU, and CUDA when the module was built with -DLMUL_CUDA=ON; float32, bfloat16, float16
or float64 tensors, computed on the fp32 carrier and returned in the input dtype):

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
    "HAS_CUDA",
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


# (fn, arith, backward, accum) combinations already checked: an op called in a loop checks its
# strings once (the C++ module caches the parsed arith likewise). Bounded.
_checked: set[tuple[str, str, str, str | None]] = set()


def _check_strings(fn: str, arith: str, backward: str, accum: str | None = None) -> None:
    key = (fn, arith, backward, accum)
    if key in _checked:
        return
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
    if len(_checked) >= 1024:
        _checked.clear()
    _checked.add(key)


def _check_dtypes(fn: str, tensors: tuple[Tensor, ...]) -> None:
    dtype = tensors[0].dtype
    for t in tensors:
        if t.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"lmul.{fn}: dtype {t.dtype} is not supported (float32, bfloat16, float16, float64)")
        if t.dtype != dtype:
            raise TypeError(f"lmul.{fn}: operands have dtypes {dtype} and {t.dtype}; expected equal dtypes")


def _check_args(
    fn: str, tensors: tuple[Tensor, ...], arith: str, backward: str, accum: str | None = None
) -> None:
    _check_strings(fn, arith, backward, accum)
    _check_dtypes(fn, tensors)


def _f32(t: Tensor) -> Tensor:
    """t as float32 values in memory the kernels can read through data_ptr() (no copy when
    it already is: a float32 tensor without a lazy negation bit)."""
    if t.dtype is not torch.float32:
        t = t.to(torch.float32)
    return t.resolve_neg() if t.is_neg() else t


# The C++ paths of the elementwise sites (python/src/module.cc): on plain CPU fp32 tensors the
# op multiplies broadcast or transposed operands without materialising them
# (_lmul.mul_strided_ptr) and the ste gradient g * reduce(y) is one pass (_lmul.mul_reduced_ptr);
# lmul.torch.patch's exp gradient is one pass too (_lmul.exp_grad_ptr). Each computes the
# values and the memory layout of the torch formulation it replaces;
# python/tests/test_fast_paths.py compares both bit for bit. False takes the torch formulations.
_ELEMENTWISE_FAST = True


def _plain_f32(t: Tensor) -> bool:
    """A float32 CPU tensor whose memory holds its values (not fake/functional, no lazy
    negation): the C++ paths may read it through data_ptr() and its strides."""
    return (type(t) in (Tensor, torch.nn.Parameter) and t.dtype is torch.float32
            and t.device.type == "cpu" and not t.is_neg())


def _back(out: Tensor, dtype: torch.dtype) -> Tensor:
    return out if dtype is torch.float32 else out.to(dtype)


# The ops are defined with torch.library's low-level API (define + impl + register_fake + an
# Autograd kernel, _register_autograd) rather than torch.library.custom_op: the same
# dispatcher entries, but custom_op wraps each call in a dynamo-disable frame and an output
# aliasing check (~3 us; a 64x64 GEMM takes ~15). The CPU kernels pass the tensors'
# addresses and strides to the C++ module (_lmul.*_ptr) instead of NumPy views
# (tensor.numpy() costs ~1 us per tensor). bench/python_matmul_bench.py measures the
# per-call cost; docs/python.md ("Per-call cost") explains it.
_lib = torch.library.Library("lmul", "DEF")  # noqa: TOR901 - kept alive: it owns the defs
_lib.define("reduce(Tensor x, str fmt, str rounding) -> Tensor")
_lib.define("mul(Tensor x, Tensor y, str arith, str backward) -> Tensor")
_lib.define("matmul(Tensor a, Tensor b, str arith, str accum, str backward) -> Tensor")
_lib.define("bmm(Tensor a, Tensor b, str arith, str accum, str backward) -> Tensor")

_AFTER_AUTOGRAD = torch._C._after_autograd_keyset
_CPU_KEY = torch._C.DispatchKey.CPU


def _register_autograd(name: str, cpu_kernel: Any, setup_context: Any, backward: Any) -> None:
    """The op's Autograd kernel: what torch.library.register_autograd registers (an
    autograd.Function whose forward redispatches below autograd, then setup_context), plus
    one shortcut: without gradients, on plain CPU tensors (nothing between autograd and the
    CPU kernel: no fake/functional tensors, no Python mode, no subclass), it calls the CPU
    kernel itself instead of a second trip through the dispatcher (~4 us of a ~15 us call).
    """
    op = getattr(torch.ops.lmul, name).default

    class Function(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, keyset: Any, *args: Any) -> Tensor:  # type: ignore[override]
            with torch._C._AutoDispatchBelowAutograd():
                out = op.redispatch(keyset & _AFTER_AUTOGRAD, *args)
            setup_context(ctx, args, out)
            return out

        @staticmethod
        def backward(ctx: Any, *grads: Tensor) -> Any:  # type: ignore[override]
            needs = ctx.needs_input_grad
            ctx.needs_input_grad = needs[1:]  # without the keyset
            try:
                return (None, *backward(ctx, *grads))
            finally:
                ctx.needs_input_grad = needs

    Function.__name__ = f"LmulBackward_{name}"

    def autograd_kernel(keyset: Any, *args: Any) -> Tensor:
        if torch.is_grad_enabled() and torch._C._any_requires_grad(*args):
            return Function.apply(keyset, *args)
        below = keyset & _AFTER_AUTOGRAD
        if below.highestPriorityTypeId() == _CPU_KEY:
            return cpu_kernel(*args)
        with torch._C._AutoDispatchBelowAutograd():
            return op.redispatch(below, *args)

    _lib.impl(name, autograd_kernel, "Autograd", with_keyset=True)


# ---- reduce ----


def _reduce_cpu(x: Tensor, fmt: str, rounding: str) -> Tensor:
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"lmul.reduce: dtype {x.dtype} is not supported (float32, bfloat16, float16, float64)")
    x32 = _f32(x).contiguous()
    out = torch.empty(x.shape, dtype=torch.float32)
    _lmul.reduce_ptr(x32.data_ptr(), out.data_ptr(), out.numel(), fmt, rounding, get_threads())
    return _back(out, x.dtype)


def _reduce_in_layout(x: Tensor, fmt: str, rounding: str) -> Tensor:
    """reduce(x) of a plain CPU float32 tensor, in x's own memory layout when x is contiguous
    or a transpose of a contiguous tensor (a Linear's W.t()): the reduction is elementwise,
    so the storage is reduced in place order without the copy that .contiguous() makes.
    Other layouts are copied first, as the op does. No autograd (backward use)."""
    if not (x.is_contiguous() or (x.dim() >= 2 and x.mT.is_contiguous())):
        x = x.contiguous()
    out = torch.empty_like(x)
    if out.stride() != x.stride():  # not expected for these layouts; the op's path then
        return _reduce_cpu(x, fmt, rounding)
    _lmul.reduce_ptr(x.data_ptr(), out.data_ptr(), out.numel(), fmt, rounding, get_threads())
    return out


_lib.impl("reduce", _reduce_cpu, "CPU")


@torch.library.register_fake("lmul::reduce", lib=_lib)
def _(x: Tensor, fmt: str, rounding: str) -> Tensor:
    return x.new_empty(x.shape)


def _reduce_setup(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    pass


def _reduce_backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
    return g, None, None  # straight-through


_register_autograd("reduce", _reduce_cpu, _reduce_setup, _reduce_backward)


# ---- mul ----


def _mul_cpu(x: Tensor, y: Tensor, arith: str, backward: str) -> Tensor:
    _check_strings("mul", arith, backward)
    dtype = x.dtype
    if dtype is not torch.float32 or y.dtype is not torch.float32:
        _check_dtypes("mul", (x, y))
    if x.shape != y.shape:
        raise ValueError(
            f"lmul.mul: shapes {tuple(x.shape)} and {tuple(y.shape)} differ "
            "(torch.ops.lmul.mul takes equal shapes; lmul.torch.mul broadcasts)"
        )
    if (_ELEMENTWISE_FAST and 1 <= x.dim() <= 4 and not (x.is_contiguous() and y.is_contiguous())
            and _plain_f32(x) and _plain_f32(y)):
        # A broadcast (stride 0) or transposed operand, read in place: the values (and the
        # contiguous output) of the .contiguous() copies below.
        out = torch.empty(x.shape, dtype=torch.float32)
        _lmul.mul_strided_ptr(x.data_ptr(), list(x.stride()), y.data_ptr(), list(y.stride()),
                              out.data_ptr(), list(x.shape), arith)
        return out
    x32, y32 = _f32(x).contiguous(), _f32(y).contiguous()
    out = torch.empty(x.shape, dtype=torch.float32)
    _lmul.mul_ptr(x32.data_ptr(), y32.data_ptr(), out.data_ptr(), out.numel(), arith)
    return _back(out, dtype)


_lib.impl("mul", _mul_cpu, "CPU")


@torch.library.register_fake("lmul::mul", lib=_lib)
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
    t = t.to(torch.float32)
    if info["format"] == "fp32":
        return t
    if any(st == 0 and n > 1 for n, st in zip(t.shape, t.stride())):
        # A broadcast operand (lmul.torch.mul expands x * scale, x * gamma): reduce the
        # values it holds once and broadcast the result (reduction is elementwise).
        base = t.as_strided([1 if st == 0 else n for n, st in zip(t.shape, t.stride())],
                            [1 if st == 0 else st for st in t.stride()])
        return _reduced(base, arith).expand(t.shape)
    if (type(t) is Tensor and t.device.type == "cpu" and not t.is_neg()
            and not (t.requires_grad and torch.is_grad_enabled())):
        # A plain CPU tensor (not fake/functional under torch.compile): no dispatcher trip
        # and no copy of a transposed weight (the values are the op's).
        return _reduce_in_layout(t, info["format"], info["rounding"])
    return torch.ops.lmul.reduce(t, info["format"], info["rounding"])


def _times_reduced(g32: Tensor, t: Tensor, arith: str) -> Tensor:
    """g32 * _reduced(t, arith) (fp32 multiply): one C++ pass where g32 and t are plain,
    contiguous fp32 tensors of one shape (the product of two contiguous tensors is
    contiguous, as torch's); otherwise the torch formulation."""
    info = _info(arith)
    if (_ELEMENTWISE_FAST and info["format"] != "fp32" and t.shape == g32.shape
            and _plain_f32(t) and _plain_f32(g32) and t.is_contiguous() and g32.is_contiguous()
            and not (t.requires_grad and torch.is_grad_enabled())):
        out = torch.empty_like(g32)
        _lmul.mul_reduced_ptr(g32.data_ptr(), t.data_ptr(), out.data_ptr(), out.numel(),
                              info["format"], info["rounding"])
        return out
    return g32 * _reduced(t, arith)


def _mul_backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
    x, y = ctx.saved_tensors
    gx = gy = None
    if ctx.backward == "ste":
        g32 = g.to(torch.float32)
        if ctx.needs_input_grad[0]:
            gx = _times_reduced(g32, y, ctx.arith).to(x.dtype)
        if ctx.needs_input_grad[1]:
            gy = _times_reduced(g32, x, ctx.arith).to(y.dtype)
    else:
        g = g.to(x.dtype)
        if ctx.needs_input_grad[0]:
            gx = torch.ops.lmul.mul(g, y, ctx.arith, ctx.backward)
        if ctx.needs_input_grad[1]:
            gy = torch.ops.lmul.mul(g, x, ctx.arith, ctx.backward)
    return gx, gy, None, None


_register_autograd("mul", _mul_cpu, _mul_setup, _mul_backward)


# ---- matmul (2-D) and bmm (3-D) ----


def _matmul_cpu(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    _check_strings("matmul", arith, backward, accum)
    dtype = a.dtype
    if dtype is not torch.float32 or b.dtype is not torch.float32:
        _check_dtypes("matmul", (a, b))
        a, b = _f32(a), _f32(b)
    elif a.is_neg() or b.is_neg():
        a, b = _f32(a), _f32(b)
    sa, sb = a.shape, b.shape
    if len(sa) != 2 or len(sb) != 2 or sa[1] != sb[0]:
        _shape_error("matmul", 2, a, b)
    out = torch.empty((sa[0], sb[1]), dtype=torch.float32)
    ta, tb = a.stride(), b.stride()
    _lmul.matmul_ptr(a.data_ptr(), 0, ta[0], ta[1], b.data_ptr(), 0, tb[0], tb[1], out.data_ptr(),
                     1, sa[0], sa[1], sb[1], arith, accum, get_threads())
    return _back(out, dtype)


def _bmm_cpu(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    _check_strings("bmm", arith, backward, accum)
    dtype = a.dtype
    if dtype is not torch.float32 or b.dtype is not torch.float32 or a.is_neg() or b.is_neg():
        _check_dtypes("bmm", (a, b))
        a, b = _f32(a), _f32(b)
    sa, sb = a.shape, b.shape
    if len(sa) != 3 or len(sb) != 3 or sa[2] != sb[1] or sa[0] != sb[0]:
        _shape_error("bmm", 3, a, b)
    out = torch.empty((sa[0], sa[1], sb[2]), dtype=torch.float32)
    ta, tb = a.stride(), b.stride()
    _lmul.matmul_ptr(a.data_ptr(), ta[0], ta[1], ta[2], b.data_ptr(), tb[0], tb[1], tb[2],
                     out.data_ptr(), sa[0], sa[1], sa[2], sb[2], arith, accum, get_threads())
    return _back(out, dtype)


def _shape_error(fn: str, nd: int, a: Tensor, b: Tensor) -> None:
    what = "(M, K) . (K, N)" if nd == 2 else "(B, M, K) . (B, K, N)"
    raise ValueError(
        f"lmul.{fn}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match: expected {what}"
    )


_lib.impl("matmul", _matmul_cpu, "CPU")
_lib.impl("bmm", _bmm_cpu, "CPU")


def _matmul_fake(fn: str, nd: int) -> Any:
    def fake(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
        _check_args(fn, (a, b), arith, backward, accum)
        torch._check(a.dim() == nd and b.dim() == nd, lambda: f"lmul.{fn}: expected {nd}-D operands")
        torch._check(a.shape[-1] == b.shape[-2], lambda: f"lmul.{fn}: inner dimensions differ")
        if nd == 3:
            torch._check(a.shape[0] == b.shape[0], lambda: f"lmul.{fn}: batch sizes differ")
        return a.new_empty((*a.shape[:-1], b.shape[-1]))

    return fake


torch.library.register_fake("lmul::matmul", _matmul_fake("matmul", 2), lib=_lib)
torch.library.register_fake("lmul::bmm", _matmul_fake("bmm", 3), lib=_lib)


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
                ar = _reduced(a, ctx.arith)
                if b.dim() == 2 and not b.is_contiguous() and b.mT.is_contiguous():
                    # b is a transposed view (a Linear's W.t()): dB^T = G^T . Ar computed in
                    # W's own layout, which autograd accumulates without a transposing copy
                    # of every weight gradient. The same products and sums as Ar^T . G (BLAS
                    # order either way; bit-identical for the shapes of SmolLM2 with MKL, tested).
                    gb = torch.matmul(g32.mT, ar).mT.to(b.dtype)
                else:
                    gb = torch.matmul(ar.mT, g32).to(b.dtype)
        else:
            op = getattr(torch.ops.lmul, op_name)
            g = g.to(a.dtype)
            if ctx.needs_input_grad[0]:
                ga = op(g, b.mT, ctx.arith, ctx.accum, ctx.backward)
            if ctx.needs_input_grad[1]:
                gb = op(a.mT, g, ctx.arith, ctx.accum, ctx.backward)
        return ga, gb, None, None, None

    return backward_fn


_register_autograd("matmul", _matmul_cpu, _matmul_setup, _matmul_backward_fn("matmul"))
_register_autograd("bmm", _bmm_cpu, _matmul_setup, _matmul_backward_fn("bmm"))


# ---- CUDA: kernels/cuda, when the module was built with -DLMUL_CUDA=ON ----

HAS_CUDA: bool = bool(getattr(_lmul, "has_cuda", False))
"""True when lmul._lmul was built with -DLMUL_CUDA=ON: the ops then run CUDA tensors on
kernels/cuda (bit-exact with the CPU kernels); otherwise a CUDA tensor raises
NotImplementedError (no CUDA kernel registered)."""


def _cuda_stream(t: Tensor) -> int:
    return int(torch.cuda.current_stream(t.device).cuda_stream)


def _cuda_gemm(fn: str, nd: int, a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    _check_strings(fn, arith, backward, accum)
    dtype = a.dtype
    _check_dtypes(fn, (a, b))
    if a.device != b.device:
        raise ValueError(f"lmul.{fn}: operands on {a.device} and {b.device}; expected one device")
    a, b = _f32(a), _f32(b)
    sa, sb = a.shape, b.shape
    if len(sa) != nd or len(sb) != nd or sa[-1] != sb[-2] or (nd == 3 and sa[0] != sb[0]):
        _shape_error(fn, nd, a, b)
    a3 = (a if nd == 3 else a.unsqueeze(0)).contiguous()  # kernels/cuda reads A row-major
    b3 = b if nd == 3 else b.unsqueeze(0)
    batch, m, k, n = a3.shape[0], a3.shape[1], a3.shape[2], b3.shape[2]
    st = b3.stride()
    if st[2] == 1 and st[1] >= n:  # row-major B, used in place
        b_trans, ldb = False, st[1]
    elif st[1] == 1 and st[2] >= k:  # column-major B (w.T of a Linear), used in place
        b_trans, ldb = True, st[2]
    else:
        b3 = b3.contiguous()
        st = b3.stride()
        b_trans, ldb = False, max(n, 1)
    out = torch.empty((batch, m, n), dtype=torch.float32, device=a.device)
    with torch.cuda.device(a.device):
        _lmul.cuda_matmul_ptr(a3.data_ptr(), a3.stride(0), max(k, 1), b3.data_ptr(), st[0], ldb,
                              b_trans, out.data_ptr(), batch, m, k, n, arith, accum, _cuda_stream(a))
    return _back(out if nd == 3 else out.squeeze(0), dtype)


def _matmul_cuda(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    return _cuda_gemm("matmul", 2, a, b, arith, accum, backward)


def _bmm_cuda(a: Tensor, b: Tensor, arith: str, accum: str, backward: str) -> Tensor:
    return _cuda_gemm("bmm", 3, a, b, arith, accum, backward)


def _mul_cuda(x: Tensor, y: Tensor, arith: str, backward: str) -> Tensor:
    _check_strings("mul", arith, backward)
    _check_dtypes("mul", (x, y))
    if x.shape != y.shape or x.device != y.device:
        raise ValueError(
            f"lmul.mul: shapes {tuple(x.shape)} and {tuple(y.shape)} on {x.device} and {y.device}: "
            "expected equal shapes on one device"
        )
    x32, y32 = _f32(x).contiguous(), _f32(y).contiguous()
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    with torch.cuda.device(x.device):
        _lmul.cuda_mul_ptr(x32.data_ptr(), y32.data_ptr(), out.data_ptr(), out.numel(), arith,
                           _cuda_stream(x))
    return _back(out, x.dtype)


def _reduce_cuda(x: Tensor, fmt: str, rounding: str) -> Tensor:
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"lmul.reduce: dtype {x.dtype} is not supported (float32, bfloat16, float16, float64)")
    x32 = _f32(x).contiguous()
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    with torch.cuda.device(x.device):
        _lmul.cuda_reduce_ptr(x32.data_ptr(), out.data_ptr(), out.numel(), fmt, rounding,
                              _cuda_stream(x))
    return _back(out, x.dtype)


if HAS_CUDA:
    _lib.impl("matmul", _matmul_cuda, "CUDA")
    _lib.impl("bmm", _bmm_cuda, "CUDA")
    _lib.impl("mul", _mul_cuda, "CUDA")
    _lib.impl("reduce", _reduce_cuda, "CUDA")


# ---- Python wrappers (broadcasting, batch dims, dtypes) ----


def _promote(fn: str, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"lmul.torch.{fn}: expected tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.dtype is y.dtype and x.dtype in _FLOAT_DTYPES:
        return x, y  # the common case, without two no-op .to() calls
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
    if a.dim() == 2 and b.dim() == 2:  # the op itself (it checks the shapes)
        return torch.ops.lmul.matmul(a, b, arith, accum, backward)
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


# The C++ paths of the scaled sites (python/src/module.cc over engine/model/scaling.h): on
# plain CPU fp32 tensors stored densely they compute the values (and the memory layout) of
# the torch formulations below, one pass over the tensor instead of ~10 torch ops with
# float64 temporaries. python/tests/test_fast_paths.py compares both bit for bit; False takes
# the torch formulations everywhere.
_SCALED_FAST = True
_PLAIN = (Tensor, torch.nn.Parameter)  # not fake/functional tensors or other subclasses


def _dense(shape: Any, strides: Any) -> bool:
    """The elements fill numel consecutive storage values in some dim order (no gap, no
    overlap): contiguous, a transpose (a Linear's W.t(), K^T) or a permutation (heads)."""
    expected = 1
    for st, n in sorted((st, n) for n, st in zip(shape, strides) if n != 1):
        if st != expected:
            return False
        expected *= n
    return True


def _blocks(t: Tensor, groups: int) -> bool:
    """t's storage is `groups` dense blocks of equal size, one per tensor: a plain CPU fp32
    tensor with groups 1 (any dense layout), or a 3-D tensor with groups its leading dim
    (one matrix per batch entry, each dense, one after the other)."""
    if not (_SCALED_FAST and type(t) in _PLAIN and t.device.type == "cpu"
            and t.dtype is torch.float32 and not t.is_neg() and t.numel() > 0):
        return False
    if groups == 1:
        return _dense(t.shape, t.stride())
    return (t.dim() == 3 and t.shape[0] == groups and _dense(t.shape[1:], t.stride()[1:])
            and t.stride(0) == t.numel() // groups)


def _e_groups(t: Tensor, e: Tensor) -> int:
    """How many blocks of t the exponents e cover without changing t's shape when broadcast
    (1: one for all, t.shape[0]: e is (B, 1, 1) of a 3-D t), or 0 (the torch path)."""
    if type(e) is not Tensor or e.dtype is not torch.int64 or e.device.type != "cpu":
        return 0
    if e.numel() == 1:
        return 1 if e.dim() <= t.dim() else 0
    return e.numel() if t.dim() == 3 and tuple(e.shape) == (t.shape[0], 1, 1) else 0


def _fast_out(t: Tensor, e: Tensor) -> tuple[Tensor, int] | None:
    """(an output in t's layout, blocks) when the C++ path applies to t and e, else None."""
    g = _e_groups(t, e)
    if g == 0 or not _blocks(t, g):
        return None
    out = torch.empty_like(t)  # t's strides (dense layouts keep them), as torch's ops give
    return (out, g) if out.stride() == t.stride() else None


def _pow2_mul(y: Tensor, e: Tensor) -> Tensor:
    """y * 2^e (e broadcast) rounded once to fp32, as the engine's Pow2Mul."""
    fast = _fast_out(y, e)
    if fast is not None:
        out, g = fast
        e = e.contiguous()
        _lmul.pow2_mul_ptr(y.data_ptr(), out.data_ptr(), g, y.numel() // g, e.data_ptr(), e.numel())
        return out
    return (y.to(torch.float64) * _pow2(e)).to(torch.float32)


def _pow2_mul_(y: Tensor, e: Tensor) -> Tensor:
    """_pow2_mul(y, e), in y's memory where the C++ path applies (y a temporary)."""
    g = _e_groups(y, e)
    if g and _blocks(y, g):
        e = e.contiguous()
        _lmul.pow2_mul_ptr(y.data_ptr(), y.data_ptr(), g, y.numel() // g, e.data_ptr(), e.numel())
        return y
    return _pow2_mul(y, e)


def scale_exponent(t: Tensor, fmt: str, dims: tuple[int, ...] | None = None) -> Tensor:
    """The scale exponent e (int64) of each tensor: over all of t (dims None, a 0-d result)
    or over ``dims`` (kept as size-1 dims). amax is taken over finite values; e = 0 when
    amax is 0, else floor(log2(max / amax)) exactly: e' = emax(fmt) - floor(log2 amax)
    (amax * 2^e' in the top binade), minus 1 where amax * 2^e' > max (subnormal amax
    included)."""
    emax, mx = _limits(fmt)
    groups = 1 if dims is None else (t.shape[0] if t.dim() == 3 and sorted(d % 3 for d in dims) == [1, 2] else 0)
    if groups and _blocks(t, groups):
        e = torch.empty(() if dims is None else (groups, 1, 1), dtype=torch.int64)
        _lmul.scale_exponents_ptr(t.data_ptr(), groups, t.numel() // groups, fmt, e.data_ptr())
        return e
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
    fast = _fast_out(t, e)
    if fast is not None:
        out, g = fast
        e = e.contiguous()
        _lmul.scale_saturate_ptr(t.data_ptr(), out.data_ptr(), g, t.numel() // g, e.data_ptr(), e.numel(), fmt)
        return out
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
    fast = _fast_out(t, e)
    if fast is not None:
        out, g = fast
        e = e.contiguous()
        _lmul.dequantize_ptr(t.data_ptr(), out.data_ptr(), g, t.numel() // g, e.data_ptr(), e.numel(),
                             fmt, info["rounding"], get_threads())
        return out.contiguous()  # the layout of the torch path (the reduce op's output)
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
    return _pow2_mul_(y, -(ea + eb)), ea, eb


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
    return _pow2_mul_(r, -(ex + ey)), ex, ey


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
