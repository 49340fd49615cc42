"""lmul.torch on CUDA tensors (kernels/cuda, module built with -DLMUL_CUDA=ON): every op
bit-exact with the CPU path (itself bit-exact with the CLI and the scalar reference), special
values, layouts, batches, gradients. Skipped, with the reason, where the module was built
without CUDA or no GPU is visible; docs/python.md ("CUDA") says how to build it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lmul  # noqa: E402
import lmul.torch as lt  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not lt.HAS_CUDA, reason="lmul._lmul built without -DLMUL_CUDA=ON (docs/python.md, CUDA)"),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch"),
]

ARITHS = ["lmul/bf16", "lmul/e8m3", "lmul/e4m3", "mitchell/bf16", "exact/fp32", "exact/e5m2,wide",
          "lmul/fp16,rne"]


def bits(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).contiguous().numpy().view(np.uint32)


def randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


def special_values() -> torch.Tensor:
    f = np.array([0.0, -0.0, 1.0, -1.5, 3.0e38, -3.0e38, 1.0e-38, 1.0e-45, -1.0e-45, 448.0, 500.0,
                  65504.0, 1.0e-8, np.inf, -np.inf, np.nan, 2.0**-126, 1.9999999], np.float32)
    return torch.from_numpy(f)


@pytest.mark.parametrize("arith", ARITHS)
def test_mul_cuda_equals_cpu_including_special_values(arith: str) -> None:
    s = special_values()
    x = s.repeat_interleave(len(s))  # every pair of special values
    y = s.repeat(len(s))
    x = torch.cat([x, randn(1000, seed=1)])  # and a SIMD-tail-sized random part
    y = torch.cat([y, randn(1000, seed=2)])
    want = lmul.mul(x.numpy(), y.numpy(), arith)
    got = torch.ops.lmul.mul(x.cuda(), y.cuda(), arith, "ste")
    assert got.is_cuda
    assert np.array_equal(bits(got), want.view(np.uint32))


@pytest.mark.parametrize("fmt,rounding", [("bf16", "rne"), ("e4m3", "rne"), ("e5m2", "trunc"), ("e8m3", "trunc")])
def test_reduce_cuda_equals_cpu(fmt: str, rounding: str) -> None:
    x = torch.cat([special_values(), randn(777, seed=3) * 300])
    want = lmul.reduce(x.numpy(), fmt, rounding)
    assert np.array_equal(bits(torch.ops.lmul.reduce(x.cuda(), fmt, rounding)), want.view(np.uint32))


@pytest.mark.parametrize("arith", ARITHS)
@pytest.mark.parametrize("accum", ["fp32", "bf16"])
def test_matmul_and_bmm_cuda_equal_cpu(arith: str, accum: str) -> None:
    a, b = randn(37, 129, seed=4), randn(129, 65, seed=5)
    want = lmul.matmul(a.numpy(), b.numpy(), arith, accum)
    got = torch.ops.lmul.matmul(a.cuda(), b.cuda(), arith, accum, "ste")
    assert np.array_equal(bits(got), want.view(np.uint32))
    # column-major B (x @ W.T of a Linear weight) used in place, and a transposed A (copied)
    wt = b.T.contiguous().cuda().T
    assert np.array_equal(bits(torch.ops.lmul.matmul(a.cuda(), wt, arith, accum, "ste")), want.view(np.uint32))
    at = a.T.contiguous().cuda().T
    assert np.array_equal(bits(torch.ops.lmul.matmul(at, b.cuda(), arith, accum, "ste")), want.view(np.uint32))
    a3, b3 = randn(3, 9, 40, seed=6), randn(3, 40, 11, seed=7)
    got3 = torch.ops.lmul.bmm(a3.cuda(), b3.cuda(), arith, accum, "ste")
    for i in range(3):
        want_i = lmul.matmul(a3[i].numpy(), b3[i].numpy(), arith, accum)
        assert np.array_equal(bits(got3[i]), want_i.view(np.uint32))


def test_wrappers_dtypes_and_gradients_cuda_equal_cpu() -> None:
    x, w = randn(2, 5, 48, seed=8), randn(24, 48, seed=9)
    for dtype in (torch.float32, torch.bfloat16):
        cpu = lt.matmul(x.to(dtype), w.to(dtype).T, "lmul/e8m4")
        gpu = lt.matmul(x.to(dtype).cuda(), w.to(dtype).cuda().T, "lmul/e8m4")
        assert gpu.dtype == dtype and torch.equal(gpu.cpu(), cpu)
    # backward "same": every gradient product is an lmul op, so CPU and CUDA agree bit for bit
    xc, wc = x.clone().requires_grad_(), w.clone().requires_grad_()
    xg, wg = x.cuda().requires_grad_(), w.cuda().requires_grad_()
    lt.matmul(xc, wc.T, "lmul/bf16", backward="same").square().sum().backward()
    lt.matmul(xg, wg.T, "lmul/bf16", backward="same").square().sum().backward()
    assert torch.equal(xg.grad.cpu(), xc.grad) and torch.equal(wg.grad.cpu(), wc.grad)


def test_empty_and_bad_inputs_cuda() -> None:
    z = torch.ops.lmul.matmul(torch.empty(3, 0, device="cuda"), torch.empty(0, 4, device="cuda"),
                              "lmul/bf16", "fp32", "ste")
    assert torch.equal(z.cpu(), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="do not match"):
        torch.ops.lmul.matmul(torch.ones(2, 3, device="cuda"), torch.ones(2, 3, device="cuda"),
                              "lmul/bf16", "fp32", "ste")
    with pytest.raises(ValueError, match="bad arithmetic"):
        torch.ops.lmul.mul(torch.ones(2, device="cuda"), torch.ones(2, device="cuda"), "lmul/e9m9", "ste")
