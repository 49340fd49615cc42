"""lmul.torch.patch / unpatch: an engine arithmetic policy put into a Hugging Face model.

    model = AutoModelForCausalLM.from_pretrained(...)
    lmul.torch.patch(model, "lmul-attn")      # same policy names as `lmul run --arith`
    out = model(**batch)                      # Q.K^T and P.V in lmul/bf16
    lmul.torch.unpatch(model)                 # bit-identical to before patch()

Sites (docs/python.md, "How policies map to sites"):

- attn.qk, attn.av: attention modules (class name ending in "Attention" with no attention
  module inside) call the attention function registered as "lmul" with transformers'
  ``AttentionInterface``; Q.K^T and P.V go through ``lmul.torch.matmul``, the softmax runs
  in fp32 as the engine's (scale 1/sqrt(head_dim) after Q.K^T, max, exp, sum in float64,
  multiply by the fp32 reciprocal; masked keys are exact zeros).
- attn.proj, mlp, lm_head: ``nn.Linear`` modules: the model's output embeddings -> lm_head,
  a Linear with "attn"/"attention" in a component of its name -> attn.proj, every other
  Linear -> mlp. Their class is swapped for a subclass whose forward is an L-Matmul.
- elementwise (only when the policy's elementwise site is not exact/fp32, whose products
  equal PyTorch's fp32 multiply): RMSNorm's x * (1/rms) and * gamma (rms from a float64
  sum of fp32 squares, as the engine), RoPE's x * cos and rotate_half(x) * sin (sums in
  fp32), SwiGLU's silu(gate) * up (silu as g / (1 + exp(-g))), and nn.LayerNorm's
  (x - mean) * rstd and * gamma (not an engine site: the analogue for encoders such as BERT).

Modules are swapped in place (``module.__class__`` becomes a subclass of its own class), so
parameters, tied weights, hooks, state_dict keys and ``isinstance`` checks are unchanged;
``unpatch`` restores every class and the model's attention implementation.
"""

from __future__ import annotations

import contextvars
import dataclasses
import sys
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

import lmul
from lmul import _lmul
from lmul.torch import ops as _ops
from lmul.torch.ops import BACKWARDS
from lmul.torch.ops import matmul as _lmatmul
from lmul.torch.ops import mul as _lmul_mul
from lmul.torch.ops import scaled_matmul as _scaled_matmul
from lmul.torch.ops import scaled_mul as _scaled_mul

__all__ = ["ATTN_IMPLEMENTATION", "patch", "patched_sites", "unpatch"]

# The name of lmul's attention function in transformers' AttentionInterface.
ATTN_IMPLEMENTATION = "lmul"
_EXACT_FP32 = "exact/fp32"
_SCALED = ",scaled"


def _site_arith(value: str) -> tuple[str, bool]:
    """A policy_sites value -> (arith spec, scaled): "exact/e4m3,wide,scaled" is the arith
    "exact/e4m3,wide" with per-tensor scaling (engine/model/scaling.h)."""
    if value.endswith(_SCALED):
        return value[: -len(_SCALED)], True
    return value, False

Filter = Callable[[str, nn.Module], bool]


@dataclasses.dataclass
class _State:
    """What patch() changed on one model (kept on the model as ``_lmul_patch``)."""

    policy: str
    sites: dict[str, str]
    backward: str
    attn_impl: str | None  # the implementation before patch (None: attention not switched)
    swapped: list[tuple[nn.Module, type]]  # (module, its original class)
    tagged: list[nn.Module]  # attention modules that know the original implementation
    rope_modules: list[types.ModuleType]
    counts: dict[str, int]


# ---------------------------------------------------------------------------------------
# Swapped module classes. Each is mixed into a dynamic subclass of the module's own class;
# the per-module configuration is the instance attribute ``_lmul`` (a dict).


class _LinearMixin:
    """nn.Linear whose y = x . W^T is one L-Matmul (attn.proj, mlp or lm_head)."""

    _lmul: dict[str, Any]
    weight: Tensor
    bias: Tensor | None

    def forward(self, x: Tensor) -> Tensor:
        c = self._lmul
        mm = _scaled_matmul if c.get("scaled") else _lmatmul
        y = mm(x, self.weight.t(), c["arith"], accum=c["accum"], backward=c["backward"])
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        scaled = _SCALED if self._lmul.get("scaled") else ""
        return f"{super().extra_repr()}, lmul={self._lmul['site']}:{self._lmul['arith']}{scaled}"  # type: ignore[misc]


def _ew(x: Tensor, y: Tensor, c: dict[str, Any]) -> Tensor:
    """Elementwise site products x * y (broadcast) in the policy's elementwise arithmetic
    (exact/fp32 is PyTorch's fp32 multiply, bit for bit, so it is used directly)."""
    if c.get("scaled"):
        return _scaled_mul(x, y, c["arith"], backward=c["backward"])
    if c["arith"] == _EXACT_FP32:
        return x * y
    return _lmul_mul(x, y, c["arith"], backward=c["backward"])


def _recip(x: Tensor) -> Tensor:
    """1 / x correctly rounded, as C's 1.0f / x (PyTorch's `1.0 / x` is reciprocal() * 1.0,
    which is not always correctly rounded)."""
    return torch.div(torch.ones_like(x), x)


def _sqrtf(x: Tensor) -> Tensor:
    """Correctly rounded fp32 sqrt, as C's sqrtf (PyTorch's fp32 sqrt on CPU is not always
    correctly rounded); via float64, where rounding twice is exact for sqrt."""
    return torch.sqrt(x.to(torch.float64)).to(torch.float32)


class _ExpF(torch.autograd.Function):
    """expf of a plain CPU fp32 tensor by the C library itself (lmul._lmul.expf_ptr, the
    engine's std::exp): the values of :func:`_expf_portable`. The gradient is that of
    _expf_portable's float64 formulation, fp32(fp64(g) * exp(fp64(x))), recomputed from x
    instead of keeping the float64 exp of the forward (half the memory, the same bits)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        x = x.contiguous()
        y = torch.empty_like(x)
        _lmul.expf_ptr(x.data_ptr(), y.data_ptr(), y.numel())
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        e = torch.exp(x.to(torch.float64))
        if _ops._ELEMENTWISE_FAST and _ops._plain_f32(g) and g.is_contiguous() and g.shape == x.shape:
            # fp32(fp64(g) * e) in one pass (the formula below; x and g contiguous, so is its result).
            out = torch.empty_like(x)
            _lmul.exp_grad_ptr(g.data_ptr(), e.data_ptr(), out.data_ptr(), out.numel())
            return out
        return (g.to(torch.float64) * e).to(torch.float32)


def _expf(x: Tensor) -> Tensor:
    """exp of fp32 values, bit-identical to the C library's expf that the engine calls; the
    gradient is exp's (computed in float64, rounded to fp32). Plain CPU fp32 tensors call
    expf itself (_ExpF); others (fake tensors under tracing, other devices) take
    :func:`_expf_portable`."""
    if type(x) is Tensor and x.device.type == "cpu" and x.dtype is torch.float32 and not x.is_neg():
        return _ExpF.apply(x)
    return _expf_portable(x)


class _SiLU(torch.autograd.Function):
    """silu(g) = g / (1 + expf(-g)) of a plain, contiguous CPU fp32 tensor in one C++ pass
    (the engine's ops::Silu), with the gradient autograd computes for the torch formulation
    ``g / (1.0 + _expf(-g))`` (DivBackward0, the float64 exp gradient of _ExpF, NegBackward0)
    in one pass: the same bits (python/tests/test_fast_paths.py), ~10 fewer passes over a
    (tokens, d_ff) tensor, and g and the denominator saved instead of g, -g and the denominator."""

    @staticmethod
    def forward(ctx: Any, g: Tensor) -> Tensor:  # type: ignore[override]
        a, d = torch.empty_like(g), torch.empty_like(g)
        _lmul.silu_ptr(g.data_ptr(), a.data_ptr(), d.data_ptr(), g.numel())
        ctx.save_for_backward(g, d)
        return a

    @staticmethod
    def backward(ctx: Any, ga: Tensor) -> Tensor:  # type: ignore[override]
        g, d = ctx.saved_tensors
        e = g.to(torch.float64)
        e.neg_().exp_()  # torch.exp(fp64(-g)), as _ExpF's gradient
        if _ops._plain_f32(ga) and ga.is_contiguous():
            out = torch.empty_like(g)
            _lmul.silu_grad_ptr(ga.data_ptr(), g.data_ptr(), d.data_ptr(), e.data_ptr(), out.data_ptr(),
                                g.numel())
            return out
        # The same steps as torch ops (autograd's formulas for div, then exp's float64 gradient
        # and neg; the two contributions to g added as the engine accumulates them).
        t1 = ga / d
        t2 = -ga * ((g / d) / d)
        return t1 + -((t2.to(torch.float64) * e).to(torch.float32))


def _silu(g32: Tensor) -> Tensor:
    """The engine's SiLU of fp32 values, g / (1 + exp(-g)) in fp32: _SiLU on plain contiguous
    CPU tensors (the C++ path), else the torch formulation."""
    if _ops._ELEMENTWISE_FAST and type(g32) is Tensor and _ops._plain_f32(g32) and g32.is_contiguous():
        return _SiLU.apply(g32)
    return g32 / (1.0 + _expf(-g32))


def _expf_portable(x: Tensor) -> Tensor:
    """exp of fp32 values, bit-identical to the C library's expf that the engine calls:
    computed in float64 and rounded to fp32 (correct rounding), except where the float64
    value lies within 1% of an fp32 ulp of a rounding midpoint (~2% of values), which are
    recomputed by expf itself (glibc's expf is not correctly rounded there). The gradient
    is exp's."""
    e64 = torch.exp(x.to(torch.float64))
    r = e64.to(torch.float32)
    lib = _libm()
    if lib is None:
        return r
    with torch.no_grad():
        r64 = r.detach().to(torch.float64)
        up = torch.nextafter(r.detach(), torch.full_like(r, float("inf"))).to(torch.float64)
        down = torch.nextafter(r.detach(), torch.full_like(r, float("-inf"))).to(torch.float64)
        mid = torch.where(e64 >= r64, (r64 + up) * 0.5, (r64 + down) * 0.5)
        hard = (e64.detach() - mid).abs() < 0.01 * (up - down) * 0.5
        if bool(hard.any()):
            xs = x.detach()[hard].tolist()
            exact = torch.tensor([lib.expf(v) for v in xs], dtype=torch.float32)
            delta = torch.zeros_like(r)
            delta[hard] = exact - r.detach()[hard]
        else:
            delta = None
    return r if delta is None else r + delta


class _RMSNormMixin:
    """Llama-family RMSNorm (weight, variance_epsilon): the engine's RmsNorm."""

    _lmul: dict[str, Any]
    weight: Tensor
    variance_epsilon: float

    def forward(self, x: Tensor) -> Tensor:
        c = self._lmul
        x32 = x.to(torch.float32)
        # Squares in fp32, their sum in float64, the mean rounded to fp32, 1/sqrtf(mean + eps).
        mean = ((x32 * x32).to(torch.float64).sum(-1, keepdim=True) / x32.shape[-1]).to(torch.float32)
        scale = _recip(_sqrtf(mean + self.variance_epsilon))
        h = _ew(x32, scale, c)
        return _ew(h, self.weight.to(torch.float32), c).to(x.dtype)


class _LayerNormMixin:
    """nn.LayerNorm with its two products (x - mean) * rstd and * gamma as elementwise sites."""

    _lmul: dict[str, Any]
    weight: Tensor | None
    bias: Tensor | None
    eps: float
    normalized_shape: tuple[int, ...]

    def forward(self, x: Tensor) -> Tensor:
        c = self._lmul
        dims = tuple(range(-len(self.normalized_shape), 0))
        x32 = x.to(torch.float32)
        centered = x32 - x32.mean(dims, keepdim=True)
        var = (centered * centered).mean(dims, keepdim=True)
        h = _ew(centered, _recip(_sqrtf(var + self.eps)), c)
        if self.weight is not None:
            h = _ew(h, self.weight.to(torch.float32), c)
        if self.bias is not None:
            h = h + self.bias.to(torch.float32)
        return h.to(x.dtype)


class _GatedMlpMixin:
    """Gated MLP (gate_proj, up_proj, down_proj, act_fn): act(gate) * up as an elementwise site;
    SiLU computed as the engine does, g / (1 + exp(-g)) in fp32."""

    _lmul: dict[str, Any]
    gate_proj: nn.Module
    up_proj: nn.Module
    down_proj: nn.Module
    act_fn: nn.Module

    def forward(self, x: Tensor) -> Tensor:
        c = self._lmul
        g = self.gate_proj(x)
        u = self.up_proj(x)
        if isinstance(self.act_fn, nn.SiLU) or type(self.act_fn).__name__ == "SiLUActivation":
            a = _silu(g.to(torch.float32))
        else:
            a = self.act_fn(g).to(torch.float32)
        h = _ew(a, u.to(torch.float32), c).to(u.dtype)
        return self.down_proj(h)


def _libm() -> Any:
    """The C library's cosf/sinf/powf (what the engine calls), or None where unavailable."""
    global _LIBM
    if _LIBM is False:
        try:
            import ctypes
            import ctypes.util

            lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
            for fn in ("cosf", "sinf", "powf", "expf"):
                f = getattr(lib, fn)
                f.restype = ctypes.c_float
                f.argtypes = [ctypes.c_float] * (2 if fn == "powf" else 1)
            _LIBM = lib
        except (OSError, AttributeError):
            _LIBM = None
    return _LIBM


_LIBM: Any = False


def _rope_table(c: dict[str, Any], n_pos: int) -> tuple[Tensor, Tensor]:
    """cos, sin (n_pos, dim/2) of the engine's RoPE angles (ggml_rope_cache_init): theta_0 =
    pos, theta_{i+1} = theta_i * powf(base, -2/dim), all fp32; cosf/sinf of the C library.
    Grown as positions arrive and kept (c["table"])."""
    import math

    import numpy as np

    cos, sin = c.get("table", (None, None))
    have = 0 if cos is None else cos.shape[0]
    if have >= n_pos:
        return cos, sin
    half = c["dim"] // 2
    lib = _libm()
    base, expo = np.float32(c["base"]), np.float32(-2.0) / np.float32(c["dim"])
    scale = np.float32(lib.powf(base, expo)) if lib else np.float32(math.pow(base, expo))
    theta = np.empty((n_pos - have, half), np.float32)
    t = np.arange(have, n_pos, dtype=np.float32)
    for i in range(half):
        theta[:, i] = t
        t = t * scale  # fp32 multiply, rounded as the engine's `theta *= theta_scale`
    flat = theta.ravel().tolist()
    if lib:
        cs = np.array([lib.cosf(v) for v in flat], np.float32)
        sn = np.array([lib.sinf(v) for v in flat], np.float32)
    else:
        cs = np.cos(theta.astype(np.float64)).astype(np.float32).ravel()
        sn = np.sin(theta.astype(np.float64)).astype(np.float32).ravel()
    new_c = torch.from_numpy(cs.reshape(theta.shape))
    new_s = torch.from_numpy(sn.reshape(theta.shape))
    if cos is not None:
        new_c, new_s = torch.cat([cos, new_c]), torch.cat([sin, new_s])
    c["table"] = (new_c, new_s)
    return new_c, new_s


class _RotaryMixin:
    """A default (unscaled) rotary embedding whose cos/sin are the engine's table (RoPE
    angles built by repeated fp32 multiplication, as llama.cpp), in the Hugging Face
    half-split layout: columns i and i + dim/2 hold pair i."""

    _lmul: dict[str, Any]

    def forward(self, x: Tensor, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        cos, sin = _rope_table(self._lmul, int(position_ids.max()) + 1)
        idx = position_ids.to(torch.long).cpu()
        c, s = cos[idx], sin[idx]
        return torch.cat([c, c], -1).to(x.device, x.dtype), torch.cat([s, s], -1).to(x.device, x.dtype)


# The RoPE products of the attention module being run (None: not patched). Attention
# modules with an elementwise site set it around their forward; the modeling module's
# apply_rotary_pos_emb is replaced by a dispatcher that reads it.
_ROPE: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("lmul_rope", default=None)


class _AttentionMixin:
    """Attention module: attn.qk / attn.av through the "lmul" attention function (which reads
    ``_lmul``); with an elementwise site also its RoPE products."""

    _lmul: dict[str, Any]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        rope = self._lmul.get("rope")
        token = _ROPE.set(rope)
        try:
            return self._lmul["orig_class"].forward(self, *args, **kwargs)
        finally:
            _ROPE.reset(token)


_MIXINS: dict[str, type] = {
    "linear": _LinearMixin,
    "rmsnorm": _RMSNormMixin,
    "layernorm": _LayerNormMixin,
    "mlp": _GatedMlpMixin,
    "attention": _AttentionMixin,
    "rotary": _RotaryMixin,
}
_SUBCLASSES: dict[tuple[type, str], type] = {}


def _swap(module: nn.Module, kind: str, config: dict[str, Any], state: _State) -> None:
    cls = type(module)
    sub = _SUBCLASSES.get((cls, kind))
    if sub is None:
        sub = type(f"LMul{cls.__name__}", (_MIXINS[kind], cls), {"__module__": __name__})
        _SUBCLASSES[(cls, kind)] = sub
    config = dict(config, orig_class=cls)
    module._lmul = config  # type: ignore[assignment]
    module.__class__ = sub
    state.swapped.append((module, cls))


# ---------------------------------------------------------------------------------------
# Attention function and mask.


def _causal_mask(q_len: int, kv_len: int, device: torch.device) -> Tensor:
    """(1, 1, q_len, kv_len) bool, True = visible: query i sees keys j <= i + kv_len - q_len."""
    i = torch.arange(q_len, device=device)[:, None] + (kv_len - q_len)
    j = torch.arange(kv_len, device=device)[None, :]
    return (j <= i)[None, None]


def _engine_softmax(s: Tensor) -> Tensor:
    """Softmax over the last dim as the engine: max, exp(s - max), sum in float64, multiply by
    (float)(1 / sum). -inf entries (masked keys) give exact zeros; fully masked rows give 0.
    Plain contiguous CPU fp32 scores take _EngineSoftmax (the same values and gradient)."""
    if (_ops._ELEMENTWISE_FAST and type(s) is Tensor and _ops._plain_f32(s) and s.is_contiguous()
            and s.dim() >= 1 and s.numel() > 0):
        return _EngineSoftmax.apply(s)
    return _engine_softmax_torch(s)


def _recip_where(total: Tensor) -> Tensor:
    """(float)(1 / total) where total > 0, else 0 (total float64)."""
    return torch.where(total > 0, _recip(total), torch.zeros_like(total)).to(torch.float32)


def _finite_or_zero(mx: Tensor) -> Tensor:
    return torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))


class _EngineSoftmax(torch.autograd.Function):
    """:func:`_engine_softmax_torch` with its elementwise passes in C++ (python/src/module.cc)
    and its gradient computed as autograd computes the torch formulation's, node by node:
    p = e * inv gives e the gradient g * inv and inv the row sum of g * e; inv's and mx's row
    chains run through autograd itself (tiny tensors); the float64 sum's gradient reaches e
    cast to fp32 and is added after g * inv; exp's gradient is fp32(fp64(ge) * exp(fp64(x))),
    x = s - mx; the shift gives s that gradient and mx minus its row sum; amax's gradient,
    split among the row's maxima, is added last. ~9 passes over the (B, H, S, S) scores
    instead of ~20 and no float64 copy of them in the forward; the bits are the torch
    formulation's (python/tests/test_fast_paths.py), NaN sign and payload aside."""

    @staticmethod
    def forward(ctx: Any, s: Tensor) -> Tensor:  # type: ignore[override]
        n = s.shape[-1]
        rows = s.numel() // n
        mxr = s.amax(-1, keepdim=True)
        mx = _finite_or_zero(mxr)
        e, count = torch.empty_like(s), torch.empty_like(mxr)
        _lmul.softmax_exp_ptr(s.data_ptr(), mx.data_ptr(), mxr.data_ptr(), e.data_ptr(), count.data_ptr(), rows, n)
        total = e.sum(-1, keepdim=True, dtype=torch.float64)
        inv = _recip_where(total)
        p = torch.empty_like(s)
        _lmul.row_mul_ptr(e.data_ptr(), inv.data_ptr(), p.data_ptr(), rows, n)
        ctx.save_for_backward(s, e, mxr, mx, count, total, inv)
        return p

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:  # type: ignore[override]
        s, e, mxr, mx, count, total, inv = ctx.saved_tensors
        if not (_ops._plain_f32(g) and g.is_contiguous() and g.shape == s.shape):
            with torch.enable_grad():  # the torch formulation's own graph
                leaf = s.detach().requires_grad_()
                p = _engine_softmax_torch(leaf)
            return torch.autograd.grad(p, leaf, g)[0]
        n = s.shape[-1]
        rows = s.numel() // n
        g_inv = (g * e).sum(-1, keepdim=True)  # MulBackward0 (other), summed to inv's shape
        with torch.enable_grad():
            tot = total.detach().requires_grad_()
            inv2 = _recip_where(tot)
        (g_tot,) = torch.autograd.grad(inv2, tot, g_inv)
        g_tot32 = g_tot.to(torch.float32)  # the sum's gradient, cast to e's dtype
        e64 = torch.empty(s.shape, dtype=torch.float64)
        _lmul.softmax_shift64_ptr(s.data_ptr(), mx.data_ptr(), e64.data_ptr(), rows, n)
        e64.exp_()
        gx, neg = torch.empty_like(s), torch.empty_like(s)
        _lmul.softmax_grad_ptr(g.data_ptr(), inv.data_ptr(), g_tot32.data_ptr(), e64.data_ptr(), gx.data_ptr(),
                               neg.data_ptr(), rows, n)
        del e64
        g_mx = neg.sum(-1, keepdim=True)  # SubBackward0 (other): -gx summed to mx's shape
        with torch.enable_grad():
            m = mxr.detach().requires_grad_()
            mx2 = _finite_or_zero(m)
        (g_mxr,) = torch.autograd.grad(mx2, m, g_mx)
        _lmul.softmax_max_grad_ptr(gx.data_ptr(), s.data_ptr(), mxr.data_ptr(), g_mxr.data_ptr(), count.data_ptr(),
                                   rows, n)
        return gx


def _engine_softmax_torch(s: Tensor) -> Tensor:
    """:func:`_engine_softmax` as torch ops (the formulation _EngineSoftmax reproduces)."""
    mx = _finite_or_zero(s.amax(-1, keepdim=True))
    e = _expf(s - mx)
    inv = _recip_where(e.sum(-1, keepdim=True, dtype=torch.float64))
    return e * inv


def lmul_attention_forward(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Tensor, Tensor]:
    """The "lmul" attention function: query (batch, n_head, q_len, head_dim), key/value
    (batch, n_kv_head, kv_len, head_dim) -> (output (batch, q_len, n_head, head_dim),
    probabilities (batch, n_head, q_len, kv_len)). Modules patch() did not select run the
    model's original attention implementation."""
    c: dict[str, Any] | None = getattr(module, "_lmul", None)
    if c is None or "qk" not in c:
        return _original_attention(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
    n_rep = query.shape[1] // key.shape[1]
    if n_rep > 1:  # grouped-query attention: head h reads kv head h // n_rep
        key = key.repeat_interleave(n_rep, dim=1)
        value = value.repeat_interleave(n_rep, dim=1)
    dtype = query.dtype
    q, k, v = (t.to(torch.float32) for t in (query, key, value))
    if c.get("pair_order"):
        # Sum q.k over the head dim in RoPE-pair order (i, i + d/2): the engine's order on
        # the GGUF layout (llama.cpp's interleaved pairs), so fp32 sums round the same.
        d = q.shape[-1]
        perm = torch.arange(d, device=q.device).reshape(2, d // 2).t().reshape(-1)
        q, k = q.index_select(-1, perm), k.index_select(-1, perm)
    # scores (batch, n_head, q_len, kv_len) = q . k^T in attn.qk, then the fp32 scale.
    qk_mm = _scaled_matmul if c.get("qk_scaled") else _lmatmul
    s = qk_mm(q, k.transpose(-1, -2), c["qk"], accum=c["accum"], backward=c["backward"])
    s = s * (scaling if scaling is not None else q.shape[-1] ** -0.5)
    mask = attention_mask
    if mask is None and kwargs.get("is_causal", getattr(module, "is_causal", False)) and q.shape[2] > 1:
        mask = _causal_mask(q.shape[2], k.shape[2], q.device)
    if mask is not None:
        mask = mask[..., : k.shape[2]]
        if mask.dtype == torch.bool:
            s = s.masked_fill(~mask, float("-inf"))
        else:  # an additive float mask (0 / large negative), as eager attention takes it
            s = s + mask.to(torch.float32)
    p = _engine_softmax(s)
    if dropout > 0.0 and module.training:
        p = nn.functional.dropout(p, p=dropout, training=True)
    av_mm = _scaled_matmul if c.get("av_scaled") else _lmatmul
    o = av_mm(p, v, c["av"], accum=c["accum"], backward=c["backward"])
    return o.transpose(1, 2).contiguous().to(dtype), p.to(dtype)


def _original_attention(
    module: nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    scaling: float | None,
    dropout: float,
    **kwargs: Any,
) -> tuple[Tensor, Tensor]:
    """A module patch() left alone: the implementation the model had before (the mask is the
    "lmul" mask, boolean, converted for eager attention)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    impl = getattr(module, "_lmul_orig_attn", None) or "sdpa"
    if impl == "eager":
        fn = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
        if fn is None:
            raise RuntimeError(f"lmul: {type(module).__name__} has no eager_attention_forward")
        if attention_mask is not None and attention_mask.dtype == torch.bool:
            zero = torch.zeros((), dtype=query.dtype, device=query.device)
            attention_mask = torch.where(attention_mask, zero, torch.finfo(query.dtype).min)
    else:
        fn = ALL_ATTENTION_FUNCTIONS[impl]
    return fn(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)


def _lmul_mask(*args: Any, **kwargs: Any) -> Tensor | None:
    """Boolean masks (True = visible) that are never skipped for causal attention: the
    "lmul" attention function applies them itself."""
    from transformers.masking_utils import sdpa_mask

    kwargs.pop("dtype", None)
    kwargs.pop("config", None)
    kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(*args, **kwargs)


_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTN_IMPLEMENTATION, lmul_attention_forward)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, _lmul_mask)
    _registered = True


# ---------------------------------------------------------------------------------------
# RoPE: the modeling module's apply_rotary_pos_emb, dispatched while a patched attention
# module runs. Installed once per modeling module; unpatch of the last model restores it.

_rope_users: dict[str, int] = {}
_rope_originals: dict[str, Callable[..., Any]] = {}


def _install_rope(mod: types.ModuleType) -> bool:
    name = mod.__name__
    if name in _rope_originals:
        _rope_users[name] += 1
        return True
    orig = getattr(mod, "apply_rotary_pos_emb", None)
    rotate_half = getattr(mod, "rotate_half", None)
    if orig is None or rotate_half is None:
        return False

    def apply_rotary_pos_emb(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor, *args: Any, **kwargs: Any) -> Any:
        c = _ROPE.get()
        if c is None:
            return orig(q, k, cos, sin, *args, **kwargs)
        unsqueeze_dim = kwargs.get("unsqueeze_dim", args[-1] if args else 1)
        cos32 = cos.to(torch.float32).unsqueeze(unsqueeze_dim)
        sin32 = sin.to(torch.float32).unsqueeze(unsqueeze_dim)

        def rotate(x: Tensor) -> Tensor:
            # x * cos + rotate_half(x) * sin: two products in the elementwise arithmetic,
            # their sum in fp32 (the engine's x*C + swap(x)*S; (-a)*b == a*(-b) in every arith).
            x32 = x.to(torch.float32)
            return (_ew(x32, cos32, c) + _ew(rotate_half(x32), sin32, c)).to(x.dtype)

        return rotate(q), rotate(k)

    apply_rotary_pos_emb.__wrapped__ = orig  # type: ignore[attr-defined]
    _rope_originals[name] = orig
    _rope_users[name] = 1
    mod.apply_rotary_pos_emb = apply_rotary_pos_emb  # type: ignore[attr-defined]
    return True


def _release_rope(mod: types.ModuleType) -> None:
    name = mod.__name__
    _rope_users[name] -= 1
    if _rope_users[name] == 0:
        mod.apply_rotary_pos_emb = _rope_originals.pop(name)  # type: ignore[attr-defined]
        del _rope_users[name]


# ---------------------------------------------------------------------------------------
# Site discovery.

def _is_attention_module(m: nn.Module) -> bool:
    """A leaf attention module: class name ends in "Attention" and no such module inside."""
    if not type(m).__name__.endswith("Attention"):
        return False
    return not any(type(c).__name__.endswith("Attention") for c in m.modules() if c is not m)


def _linear_site(name: str, module: nn.Module, lm_head: nn.Module | None) -> str:
    if module is lm_head:
        return "lm_head"
    if any("attn" in part.lower() or "attention" in part.lower() for part in name.split(".")):
        return "attn.proj"
    return "mlp"


def _is_rmsnorm(m: nn.Module) -> bool:
    return (
        type(m).__name__.endswith("RMSNorm")
        and isinstance(getattr(m, "weight", None), Tensor)
        and hasattr(m, "variance_epsilon")
    )


def _default_rope(m: nn.Module) -> dict[str, Any] | None:
    """{"base", "dim"} of an unscaled default rotary embedding module, else None."""
    if not type(m).__name__.endswith("RotaryEmbedding") or getattr(m, "rope_type", None) != "default":
        return None
    if getattr(m, "attention_scaling", 1.0) != 1.0:
        return None
    cfg = getattr(m, "config", None)
    params = getattr(cfg, "rope_parameters", None) or {}
    base = params.get("rope_theta")
    inv_freq = getattr(m, "inv_freq", None)
    if base is None or not isinstance(inv_freq, Tensor) or params.get("partial_rotary_factor", 1.0) != 1.0:
        return None
    return {"base": float(base), "dim": 2 * inv_freq.shape[-1]}


def _is_gated_mlp(m: nn.Module) -> bool:
    return all(isinstance(getattr(m, a, None), nn.Module) for a in ("gate_proj", "up_proj", "down_proj", "act_fn"))


def patch(
    model: nn.Module,
    policy: str,
    backward: str = "ste",
    filter: Filter | None = None,  # noqa: A002  (the issue's name)
) -> nn.Module:
    """Puts an arithmetic policy (a preset such as "lmul-attn", or an inline
    "attn=lmul/e8m4,*=exact/fp32", exactly as ``lmul run --arith``) into a Hugging Face
    transformers model, in place; returns the model.

    backward: "ste" or "same" (the ops' backward modes). filter(name, module) -> bool
    selects sites by qualified module name (Linear, attention, norm and MLP modules); the
    rest keep their original computation. A model patched before is unpatched first.
    """
    if backward not in BACKWARDS:
        raise ValueError(f"lmul.torch.patch: backward must be 'ste' or 'same', got {backward!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"lmul.torch.patch: expected a torch.nn.Module, got {type(model).__name__}")
    sites = lmul.policy_sites(policy)  # ValueError with the engine's message on a bad policy
    if getattr(model, "_lmul_patch", None) is not None:
        unpatch(model)
    accum = sites["accum"]
    ew, ew_scaled = _site_arith(sites["elementwise"])
    do_ew = ew != _EXACT_FP32 or ew_scaled
    state = _State(policy=sites["name"], sites=sites, backward=backward, attn_impl=None,
                   swapped=[], tagged=[], rope_modules=[], counts={})

    def count(site: str) -> None:
        state.counts[site] = state.counts.get(site, 0) + 1

    lm_head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    ew_cfg = {"arith": ew, "scaled": ew_scaled, "backward": backward, "site": "elementwise"}
    attention: list[nn.Module] = []
    targets: list[tuple[str, nn.Module, str, dict[str, Any]]] = []
    all_attention: list[nn.Module] = []
    for name, m in model.named_modules():
        if _is_attention_module(m):
            all_attention.append(m)
        if filter is not None and not filter(name, m):
            continue
        if isinstance(m, nn.Linear):
            site = _linear_site(name, m, lm_head)
            arith, scaled = _site_arith(sites[site])
            targets.append((name, m, "linear", {"site": site, "arith": arith, "scaled": scaled,
                                               "accum": accum, "backward": backward}))
        elif _is_attention_module(m):
            attention.append(m)
            qk, qk_scaled = _site_arith(sites["attn.qk"])
            av, av_scaled = _site_arith(sites["attn.av"])
            targets.append((name, m, "attention", {"qk": qk, "qk_scaled": qk_scaled, "av": av,
                                                  "av_scaled": av_scaled, "accum": accum,
                                                  "backward": backward}))
        elif _is_rmsnorm(m):  # the engine's formula; its products are sites when do_ew
            targets.append((name, m, "rmsnorm", ew_cfg))
        elif do_ew and type(m) is nn.LayerNorm:
            targets.append((name, m, "layernorm", ew_cfg))
        elif _is_gated_mlp(m):  # the engine's silu; act * up a site when do_ew
            targets.append((name, m, "mlp", ew_cfg))
        elif (rope := _default_rope(m)) is not None:
            targets.append((name, m, "rotary", rope))

    config = getattr(model, "config", None)
    if attention:
        if config is None or not hasattr(model, "set_attn_implementation"):
            raise ValueError(
                f"lmul.torch.patch: {type(model).__name__} is not a transformers PreTrainedModel "
                "(attention needs its AttentionInterface; hint: filter out attention modules)"
            )
        if hasattr(model, "_can_set_attn_implementation") and not model._can_set_attn_implementation():
            raise ValueError(
                f"lmul.torch.patch: {type(model).__name__} does not dispatch attention through "
                "transformers' AttentionInterface, so attn.qk/attn.av cannot be patched "
                "(hint: filter=lambda name, m: not name.endswith('attn'))"
            )
        _register()
        state.attn_impl = config._attn_implementation
    try:
        if attention:
            for m in all_attention:  # filtered-out ones run this implementation
                m._lmul_orig_attn = state.attn_impl  # type: ignore[assignment]
                state.tagged.append(m)
        for name, m, kind, cfg in targets:
            cfg = dict(cfg)
            if kind == "attention":
                mod = sys.modules[type(m).__module__]
                cfg["pair_order"] = callable(getattr(mod, "rotate_half", None))
                if do_ew and _install_rope(mod):
                    state.rope_modules.append(mod)
                    cfg["rope"] = ew_cfg
                    count("elementwise:rope")
                count("attn.qk")
                count("attn.av")
            elif kind == "linear":
                count(cfg["site"])
            elif do_ew and kind != "rotary":
                count(f"elementwise:{kind}")
            _swap(m, kind, cfg, state)
        if attention:
            model.set_attn_implementation(ATTN_IMPLEMENTATION)
    except Exception:
        model._lmul_patch = state  # type: ignore[assignment]
        unpatch(model)
        raise
    model._lmul_patch = state  # type: ignore[assignment]
    return model


def unpatch(model: nn.Module) -> nn.Module:
    """Undoes :func:`patch`: original module classes and attention implementation; the
    model's outputs are bit-identical to before patch(). A no-op on an unpatched model."""
    state: _State | None = getattr(model, "_lmul_patch", None)
    if state is None:
        return model
    for m, cls in reversed(state.swapped):
        m.__class__ = cls
        m.__dict__.pop("_lmul", None)
    for m in state.tagged:
        m.__dict__.pop("_lmul_orig_attn", None)
    for mod in state.rope_modules:
        _release_rope(mod)
    if state.attn_impl is not None and model.config._attn_implementation != state.attn_impl:
        model.set_attn_implementation(state.attn_impl)
    del model._lmul_patch
    return model


def patched_sites(model: nn.Module) -> dict[str, int]:
    """How many modules patch() put on each site ({} for an unpatched model), e.g.
    {"attn.qk": 30, "attn.av": 30, "attn.proj": 120, "mlp": 90, "lm_head": 1}."""
    state: _State | None = getattr(model, "_lmul_patch", None)
    return dict(state.counts) if state is not None else {}
