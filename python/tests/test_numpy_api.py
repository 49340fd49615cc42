"""lmul.mul / lmul.matmul / lmul.reduce: bit-exact against the C++ CLI (`lmul mul`, whose
products are the scalar spec Arith::Mul) and against a reference GEMM built from lmul.mul
and the canonical accumulation order of docs/kernels.md, written here in NumPy."""

from __future__ import annotations

import subprocess
import zlib

import ml_dtypes
import numpy as np
import pytest
from conftest import cli_mul

import lmul

# (exp_bits, man_bits, bias, has_inf) of each format family.
FORMATS = {
    "fp32": (8, 23, 127, True),
    "bf16": (8, 7, 127, True),
    "fp16": (5, 10, 15, True),
    "e5m2": (5, 2, 15, True),
    "e4m3": (4, 3, 7, False),
    **{f"e8m{k}": (8, k, 127, True) for k in (1, 2, 3, 4, 5, 6, 10, 16, 22)},
}


def special_values(fmt: str) -> np.ndarray:
    """The special-value matrix of a format: zeros, subnormals, min normal, max finite, just
    above max, Inf, NaN (quiet, signalling payload), rounding ties, fp32 extremes; both signs."""
    e, m, bias, has_inf = FORMATS[fmt]
    min_normal = 2.0 ** (1 - bias)
    min_sub = 2.0 ** (1 - bias - m)
    if has_inf:
        max_finite = (2.0 - 2.0**-m) * 2.0 ** ((2**e - 2) - bias)
    else:
        max_finite = 448.0
    vals = [
        0.0, 1.0, 1.5, 3.0, 0.1, min_normal, min_sub, min_normal - min_sub, 2 * min_sub,
        max_finite, max_finite * 1.0625, max_finite * 0.999, 1.0 + 2.0 ** -(m + 1),
        1.0 + 3 * 2.0 ** -(m + 2), 1.0 - 2.0 ** -(m + 2), float("inf"), 2.0**60, 2.0**-60,
    ]
    v = np.array([x for x in vals if abs(x) < 3.5e38 or np.isinf(x)], dtype=np.float64).astype(np.float32)
    bits = np.array(
        [0x00000001, 0x00400000, 0x00800000, 0x7F7FFFFF, 0x7FC00000, 0x7F800001, 0x7FFFFFFF],
        dtype=np.uint32,
    ).view(np.float32)
    v = np.concatenate([v, bits])
    return np.concatenate([v, -v]).astype(np.float32)


def generated_pairs(fmt: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of special values, plus random fp32 bit patterns and log-uniform values
    spanning the format's range (products that underflow, overflow and stay in range)."""
    rng = np.random.default_rng(seed)
    s = special_values(fmt)
    xs, ys = np.meshgrid(s, s, indexing="ij")
    e, m, bias, _ = FORMATS[fmt]
    lo, hi = 1 - bias - 2, (2**e - 2) - bias + 1
    n = 1500
    logu = (2.0 ** rng.uniform(lo, hi, size=(2, n)) * rng.choice([-1.0, 1.0], size=(2, n)))
    logu = np.clip(logu, -3e38, 3e38).astype(np.float32)
    rand_bits = rng.integers(0, 2**32, size=(2, 400), dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([xs.ravel(), logu[0], rand_bits[0]])
    y = np.concatenate([ys.ravel(), logu[1], rand_bits[1]])
    return x.astype(np.float32), y.astype(np.float32)


def all_ariths() -> list[str]:
    out = []
    for f in FORMATS:
        out += [f"lmul/{f}", f"mitchell/{f}", f"exact/{f}", f"exact/{f},wide"]
    out += ["lmul/bf16,rne", "lmul/e4m3,rne", "lmul/e8m3,rne", "mitchell/fp16,rne",
            "exact/bf16,trunc", "exact/e5m2,trunc,wide", "exact/e4m3,trunc"]
    return out


@pytest.mark.parametrize("arith", all_ariths())
def test_mul_bit_exact_with_cli(cli, arith: str) -> None:
    fmt = arith.split("/")[1].split(",")[0]
    x, y = generated_pairs(fmt, seed=zlib.crc32(arith.encode()))
    want = cli_mul(cli, arith, x, y)
    got = lmul.mul(x, y, arith).view(np.uint32)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, (
        f"{bad.size} of {x.size} differ; first: {x[bad[0]]!r} * {y[bad[0]]!r} = "
        f"0x{got[bad[0]]:08X}, CLI 0x{want[bad[0]]:08X}"
    )


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("rounding", ["rne", "trunc"])
def test_reduce_matches_cli_exact_wide_times_one(cli, fmt: str, rounding: str) -> None:
    # exact/F,R,wide on (x, 1.0) is x reduced to F with rounding R, kept in fp32: the CLI's
    # route to the spec's Reduce.
    x, _ = generated_pairs(fmt, seed=7)
    spec = f"exact/{fmt},{rounding},wide"
    want = cli_mul(cli, spec, x, np.ones_like(x)).view(np.float32)
    got = lmul.reduce(x, fmt, rounding)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


@pytest.mark.parametrize(
    "fmt,dtype",
    [("bf16", ml_dtypes.bfloat16), ("fp16", np.float16), ("e5m2", ml_dtypes.float8_e5m2),
     ("e4m3", ml_dtypes.float8_e4m3fn)],
)
def test_reduce_rne_agrees_with_ml_dtypes_except_e4m3_overflow(fmt: str, dtype: type) -> None:
    x, _ = generated_pairs(fmt, seed=11)
    x = x[np.isfinite(x)]
    got = lmul.reduce(x, fmt, "rne")
    with np.errstate(over="ignore"):
        ref = x.astype(dtype).astype(np.float32)
    if fmt == "e4m3":
        # ml_dtypes (and torch's float8_e4m3fn cast) turn |x| >= 464 into NaN; lmul saturates.
        over = np.abs(x) >= 464
        assert over.any()
        assert np.all(np.isnan(ref[over]))
        assert np.array_equal(got[over], np.copysign(np.float32(448), x[over]))
        x, got, ref = x[~over], got[~over], ref[~over]
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))


def test_reduce_trunc_never_grows() -> None:
    x, _ = generated_pairs("e8m3", seed=3)
    x = x[np.isfinite(x)]
    r = lmul.reduce(x, "e8m3", "trunc")
    assert np.all(np.abs(r) <= np.abs(x))


def test_mul_broadcasts_and_keeps_shape() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 3)).astype(np.float32)
    y = rng.standard_normal((5, 1)).astype(np.float32)
    got = lmul.mul(x, y, "lmul/e8m3")
    assert got.shape == (4, 5, 3) and got.dtype == np.float32
    xb, yb = np.broadcast_arrays(x, y)
    flat = lmul.mul(np.ascontiguousarray(xb).ravel(), np.ascontiguousarray(yb).ravel(), "lmul/e8m3")
    assert np.array_equal(got.ravel().view(np.uint32), flat.view(np.uint32))
    # scalars and lists are converted to float32
    assert lmul.mul([1.5, 2.0], 2.0, "exact/fp32").tolist() == [3.0, 4.0]


# ---- matmul against the scalar reference ----


def round_bf16_rne(x: np.ndarray) -> np.ndarray:
    b = x.view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), x, r)


def ftz(x: np.ndarray) -> np.ndarray:
    tiny = (np.abs(x) < np.float32(2.0**-126)) & (x != 0)
    return np.where(tiny, np.copysign(np.float32(0), x), x).astype(np.float32)


def reference_matmul(a: np.ndarray, b: np.ndarray, arith: str, accum: str) -> np.ndarray:
    """Products by lmul.mul (bit-exact with the CLI, above), summed in the canonical order:
    acc = +0; for k: acc = acc + p (fp32, rne; bf16: rounded to bf16 after every add);
    bf16dot: pairs, odd k first, FTZ/DAZ (docs/kernels.md section 1.1)."""
    M, K = a.shape
    N = b.shape[1]
    p = lmul.mul(a[:, :, None], b[None, :, :], arith)  # (M, K, N)
    acc = np.zeros((M, N), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        return _accumulate(p, acc, K, accum)


def _accumulate(p: np.ndarray, acc: np.ndarray, K: int, accum: str) -> np.ndarray:
    if accum == "bf16dot":
        for k in range(0, K, 2):
            if k + 1 < K:
                acc = ftz(acc + ftz(p[:, k + 1, :]))
            acc = ftz(acc + ftz(p[:, k, :]))
        return acc
    for k in range(K):
        acc = acc + p[:, k, :]
        if accum == "bf16":
            acc = round_bf16_rne(acc)
    return acc


def assert_same_bits_nan_as_nan(got: np.ndarray, want: np.ndarray) -> None:
    # GEMM NaNs: "both NaN" (docs/kernels.md section 1: sign/payload of a NaN sum unspecified).
    assert got.shape == want.shape
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    bad = np.nonzero(got[~nan].view(np.uint32) != want[~nan].view(np.uint32))[0]
    assert bad.size == 0, f"{bad.size} elements differ, first {got[~nan][bad[0]]} vs {want[~nan][bad[0]]}"


MATMUL_ARITHS = [
    "lmul/bf16", "lmul/e8m3", "lmul/e8m4,rne", "lmul/e4m3", "lmul/e5m2", "lmul/fp16", "lmul/fp32",
    "mitchell/e8m4", "exact/fp32", "exact/bf16", "exact/e4m3,wide", "exact/fp16", "exact/e8m12",
]
SHAPES = [(1, 1, 1), (2, 3, 5), (7, 13, 33), (13, 31, 65), (25, 300, 37), (12, 64, 32)]


def operands(M: int, K: int, N: int, seed: int, special: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    a[rng.random((M, K)) < 0.1] = 0.0
    b[rng.random((K, N)) < 0.1] = -0.0
    if special:
        pool = np.concatenate([special_values("e4m3"), special_values("bf16")])
        ia = rng.random((M, K)) < 0.15
        ib = rng.random((K, N)) < 0.15
        a[ia] = rng.choice(pool, size=ia.sum())
        b[ib] = rng.choice(pool, size=ib.sum())
    return a, b


@pytest.mark.parametrize("arith", MATMUL_ARITHS)
@pytest.mark.parametrize("special", [False, True])
def test_matmul_matches_reference(arith: str, special: bool) -> None:
    for i, (M, K, N) in enumerate(SHAPES):
        a, b = operands(M, K, N, seed=i, special=special)
        want = reference_matmul(a, b, arith, "fp32")
        assert_same_bits_nan_as_nan(lmul.matmul(a, b, arith, threads=1), want)
        assert_same_bits_nan_as_nan(lmul.matmul(a, b, arith, threads=2), want)


@pytest.mark.parametrize("arith", ["lmul/bf16", "lmul/e8m3", "exact/fp32", "exact/bf16,wide"])
def test_matmul_bf16_accumulation(arith: str) -> None:
    for i, (M, K, N) in enumerate(SHAPES):
        a, b = operands(M, K, N, seed=10 + i, special=False)
        assert_same_bits_nan_as_nan(lmul.matmul(a, b, arith, accum="bf16"),
                                    reference_matmul(a, b, arith, "bf16"))


@pytest.mark.parametrize("arith", ["lmul/bf16", "lmul/e8m3", "lmul/e4m3", "mitchell/e5m2"])
def test_matmul_bf16dot_order(arith: str) -> None:
    for i, (M, K, N) in enumerate(SHAPES):
        a, b = operands(M, K, N, seed=20 + i, special=False)
        assert_same_bits_nan_as_nan(lmul.matmul(a, b, arith, accum="bf16dot"),
                                    reference_matmul(a, b, arith, "bf16dot"))


def test_matmul_layouts_give_the_same_bits() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((9, 70)).astype(np.float32)
    b = rng.standard_normal((70, 37)).astype(np.float32)
    want = lmul.matmul(a, b, "lmul/e8m4")
    bt = np.ascontiguousarray(b.T).T  # column-major view: used in place (b_trans)
    assert not bt.flags.c_contiguous
    assert np.array_equal(lmul.matmul(a, bt, "lmul/e8m4"), want)
    af = np.asfortranarray(a)  # column-major a: copied
    assert np.array_equal(lmul.matmul(af, b, "lmul/e8m4"), want)
    wide = np.zeros((9, 140), np.float32)
    wide[:, ::2] = a  # strided columns
    assert np.array_equal(lmul.matmul(wide[:, ::2], b, "lmul/e8m4"), want)
    rev = b[::-1][::-1]
    assert np.array_equal(lmul.matmul(a, rev, "lmul/e8m4"), want)
    neg = np.ascontiguousarray(b[::-1])[::-1]  # negative row stride
    assert np.array_equal(lmul.matmul(a, neg, "lmul/e8m4"), want)
    row = a[:1]
    bcast = np.broadcast_to(row, (9, 70))  # zero row stride
    assert np.array_equal(lmul.matmul(bcast, b, "lmul/e8m4"), np.repeat(lmul.matmul(row, b, "lmul/e8m4"), 9, 0))


def test_matmul_empty_and_k0() -> None:
    assert lmul.matmul(np.zeros((0, 3), np.float32), np.zeros((3, 4), np.float32), "lmul/bf16").shape == (0, 4)
    c = lmul.matmul(np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32), "lmul/bf16")
    assert c.shape == (2, 3) and np.all(c.view(np.uint32) == 0)


# ---- bad input: exceptions, never a crash ----


def cli_error(cli, arith: str) -> str:
    r = subprocess.run([str(cli), "mul", "--arith", arith], input="1 2\n", capture_output=True, text=True)
    assert r.returncode != 0
    first = r.stderr.split("\n  hint:")[0]
    prefix = "lmul mul: error: "
    assert first.startswith(prefix)
    return first[len(prefix):].rstrip("\n")


@pytest.mark.parametrize("spec", ["lmul/e9m3", "foo/bf16", "lmul", "lmul/bf16,wide", "exact/bf16,rne,trunc"])
def test_bad_spec_raises_the_cli_message(cli, spec: str) -> None:
    want = cli_error(cli, spec)
    x = np.ones(3, np.float32)
    for call in (lambda: lmul.mul(x, x, spec), lambda: lmul.matmul(x[None], x[:, None], spec)):
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) == want


def test_bad_inputs_raise() -> None:
    f32 = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="float64"):
        lmul.mul(np.ones(3), np.ones(3, np.float32), "lmul/bf16")
    with pytest.raises(TypeError, match="int32"):
        lmul.matmul(np.ones((2, 3), np.int32), f32.T, "lmul/bf16")
    with pytest.raises(ValueError, match="broadcastable"):
        lmul.mul(np.ones(3, np.float32), np.ones(4, np.float32), "lmul/bf16")
    with pytest.raises(ValueError, match="do not match"):
        lmul.matmul(f32, f32, "lmul/bf16")
    with pytest.raises(ValueError, match="2-D"):
        lmul.matmul(np.ones((2, 2, 2), np.float32), f32, "lmul/bf16")
    with pytest.raises(ValueError, match="accum"):
        lmul.matmul(f32, f32.T, "lmul/bf16", accum="fp64")
    with pytest.raises(ValueError, match="bf16dot"):
        lmul.matmul(f32, f32.T, "exact/fp32", accum="bf16dot")
    with pytest.raises(ValueError, match="bf16dot"):
        lmul.matmul(f32, f32.T, "lmul/fp16", accum="bf16dot")
    with pytest.raises(ValueError, match="threads"):
        lmul.matmul(f32, f32.T, "lmul/bf16", threads=-1)
    with pytest.raises(ValueError, match="unknown format"):
        lmul.reduce(f32, "e9m9")
    with pytest.raises(ValueError, match="rounding"):
        lmul.reduce(f32, "bf16", "up")


def test_arith_info_and_policies() -> None:
    info = lmul.arith_info("exact/e4m3,wide")
    assert info["op"] == "exact" and info["format"] == "e4m3" and info["wide"]
    assert info["output_format"] == "fp32" and info["rounding"] == "rne"
    assert lmul.arith_info("lmul/bf16")["rounding"] == "trunc"
    presets = lmul.policy_presets()
    for name in ["fp32", "bf16", "fp8-e4m3-attn", "fp8-e5m2-attn", "lmul-attn", "lmul-attn-k4",
                 "lmul-attn-k3", "lmul-all"]:
        assert name in presets
        sites = lmul.policy_sites(name)
        assert set(sites) == set(lmul.SITES) | {"accum", "name"}
        assert sites["name"] == name
    s = lmul.policy_sites("lmul-attn")
    assert s["attn.qk"] == s["attn.av"] == "lmul/bf16"
    assert s["attn.proj"] == s["mlp"] == s["lm_head"] == s["elementwise"] == "exact/fp32"
    assert s["accum"] == "fp32"
    s = lmul.policy_sites("attn.qk=exact/e4m3,wide,*=lmul/e8m4,accum=bf16")
    assert s["attn.qk"] == "exact/e4m3,wide" and s["mlp"] == "lmul/e8m4" and s["accum"] == "bf16"
    assert lmul.Policy.parse("lmul-all")["mlp"] == "lmul/bf16"
    with pytest.raises(ValueError, match="policy"):
        lmul.policy_sites("lmul-everything")
    with pytest.raises(ValueError, match="unknown site"):
        lmul.policy_sites("attn.xx=lmul/bf16,*=exact/fp32")
