"""lmul: L-Mul arithmetic (Luo & Sun, arXiv 2410.00907) from Python.

The same bit-exact spec and kernels as the C++ library and the `lmul` CLI:

- :func:`mul` elementwise products, :func:`matmul` L-Matmul (canonical accumulation
  order, docs/kernels.md), :func:`reduce` values reduced to a format; NumPy float32 in and out.
- :func:`policy_sites` the engine's per-site arithmetic policies (``lmul run --arith``).
- :mod:`lmul.engine` the C++ transformer engine (GGUF models).
- :mod:`lmul.torch` PyTorch custom ops (needs torch; ``import lmul`` does not).

Errors: a bad spec, shape or file raises ValueError with the CLI's message; a wrong dtype
raises TypeError. The GIL is released while the kernels run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lmul import _lmul

__all__ = [
    "ArithInfo",
    "arith_info",
    "matmul",
    "mul",
    "policy_presets",
    "policy_sites",
    "reduce",
    "Policy",
    "SITES",
]
__version__ = "0.1.0"

# The engine's multiplication sites (engine/model/policy.h), in order.
SITES: tuple[str, ...] = ("attn.qk", "attn.av", "attn.proj", "mlp", "lm_head", "elementwise")

ArithInfo = dict[str, Any]


def _as_f32(x: Any, name: str, fn: str) -> np.ndarray:
    """x as a float32 ndarray: arrays must already be float32; scalars and lists are converted."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.float32:
            raise TypeError(
                f"lmul.{fn}: {name} has dtype {x.dtype}, expected float32 "
                f"(hint: {name}.astype(numpy.float32))"
            )
        return x
    if hasattr(x, "__array__") or hasattr(x, "__dlpack__"):
        arr = np.asarray(x)
        if arr.dtype != np.float32:
            raise TypeError(f"lmul.{fn}: {name} has dtype {arr.dtype}, expected float32")
        return arr
    return np.asarray(x, dtype=np.float32)


def mul(x: npt.ArrayLike, y: npt.ArrayLike, arith: str) -> np.ndarray:
    """Elementwise ``arith`` products (``Arith::Mul``): bit-exact with ``lmul mul --arith``.

    x, y: float32 arrays of broadcastable shapes; arith: a spec as on the CLI
    ("lmul/e8m3", "exact/e4m3,wide", ...). Returns a new float32 array of the broadcast shape.
    """
    xa = _as_f32(x, "x", "mul")
    ya = _as_f32(y, "y", "mul")
    if xa.shape != ya.shape:
        try:
            xa, ya = np.broadcast_arrays(xa, ya)
        except ValueError:
            raise ValueError(
                f"lmul.mul: shapes {xa.shape} and {ya.shape} are not broadcastable"
            ) from None
    out = np.empty(xa.shape, dtype=np.float32)
    _lmul.mul(np.ascontiguousarray(xa), np.ascontiguousarray(ya), out, arith)
    return out


def matmul(
    a: npt.ArrayLike, b: npt.ArrayLike, arith: str, accum: str = "fp32", threads: int = 0
) -> np.ndarray:
    """L-Matmul C = A . B: every product ``arith``, sums in the canonical order.

    a: float32 (M, K); b: float32 (K, N) (row- or column-major views are used in place,
    other layouts copied). accum: "fp32" (canonical order), "bf16" (accumulator rounded to
    bf16 after every add) or "bf16dot" (the vdpbf16ps order; lmul/mitchell on formats that
    fit bf16). threads: 0 = all cores; results do not depend on it. Returns (M, N) float32.
    """
    aa = _as_f32(a, "a", "matmul")
    ba = _as_f32(b, "b", "matmul")
    if aa.ndim != 2 or ba.ndim != 2:
        raise ValueError(
            f"lmul.matmul: expected 2-D a (M, K) and b (K, N), got shapes {aa.shape} and {ba.shape}"
        )
    if aa.shape[1] != ba.shape[0]:
        raise ValueError(
            f"lmul.matmul: shapes {aa.shape} and {ba.shape} do not match: expected (M, K) and (K, N)"
        )
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(f"lmul.matmul: threads must be an int >= 0 (0 = all cores), got {threads!r}")
    out = np.empty((aa.shape[0], ba.shape[1]), dtype=np.float32)
    _lmul.matmul(aa, ba, out, arith, accum, threads)
    return out


def reduce(x: npt.ArrayLike, fmt: str, rounding: str = "rne") -> np.ndarray:
    """x reduced to format ``fmt`` ("bf16", "e4m3", "e8m3", ...) on the fp32 carrier.

    rounding: "rne" (nearest even; overflow to Inf, e4m3 saturates to +-448) or "trunc"
    (toward zero; overflow to +-max finite). The spec's ``lmul::Reduce``.
    """
    xa = _as_f32(x, "x", "reduce")
    out = np.empty(xa.shape, dtype=np.float32)
    _lmul.reduce(np.ascontiguousarray(xa), out, fmt, rounding)
    return out


def arith_info(arith: str) -> ArithInfo:
    """What a spec means: {"op", "format", "rounding", "wide", "output_format", "name",
    "supports_bf16dot"} ("name" is the canonical spelling). ValueError on a bad spec."""
    return dict(_lmul.arith_info(arith))


def policy_sites(text: str) -> dict[str, str]:
    """A policy (preset name or inline "attn=lmul/e8m4,*=exact/fp32") as site -> arith spec.

    Keys: the six sites of :data:`SITES`, "accum" ("fp32" or "bf16") and "name" (the preset
    name, or the canonical inline form). Parsed by the engine's ``Policy::Parse``.
    """
    return {str(k): str(v) for k, v in _lmul.policy_sites(text).items()}


def policy_presets() -> list[str]:
    """The preset names ``lmul run --arith`` accepts (fp32, bf16, lmul-attn, ...)."""
    return list(_lmul.policy_presets())


class Policy:
    """A parsed policy: ``Policy.parse("lmul-attn").sites["attn.qk"] == "lmul/bf16"``."""

    def __init__(self, sites: dict[str, str]) -> None:
        self.sites: dict[str, str] = {s: sites[s] for s in SITES}
        self.accum: str = sites["accum"]
        self.name: str = sites["name"]

    @classmethod
    def parse(cls, text: str) -> Policy:
        return cls(policy_sites(text))

    def __getitem__(self, site: str) -> str:
        return self.sites[site]

    def __repr__(self) -> str:
        return f"Policy({self.name!r})"

    def describe(self) -> str:
        """One line per site (the engine's startup banner)."""
        return str(_lmul.policy_describe(self.name))


from lmul import engine  # noqa: E402  (needs _lmul above)

__all__.append("engine")
