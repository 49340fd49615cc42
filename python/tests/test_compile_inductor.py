"""torch.compile with the inductor backend (C++ code generated and compiled by g++ on CPU)
over lmul's ops: the compiled model computes the same bits as eager, forward and backward.

Inductor does not look inside the ops (they are opaque custom ops; it calls them as extern
kernels with the shapes from their fake kernels) but it compiles, fuses and reorders
everything around them. The model keeps its torch steps exactly computable in any order
(relu, a power-of-two scale, one residual add; each parameter used once, so no gradient is a
sum whose order inductor could change), so any difference would be lmul's ops or their
fake/autograd registrations misbehaving under inductor.

Marker `inductor` (pyproject.toml): one inductor compilation of a forward and a backward
graph, ~25 s of CPU on a cold cache; scripts/test.sh runs it with the rest of the suite, and
`pytest -m "not inductor"` leaves it out.
"""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")

import lmul.torch as lt  # noqa: E402

pytestmark = [
    pytest.mark.inductor,
    pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                       reason="inductor on CPU needs a C++ compiler (g++; scripts/setup.sh installs it)"),
]


class TinyAttention(torch.nn.Module):
    """One attention block through lmul's ops: q, k, v and output projections (2-D GEMMs over
    the flattened batch: torch.ops.lmul.matmul), Q.K^T and P.V (torch.ops.lmul.bmm), an
    elementwise product (torch.ops.lmul.mul) of a reduced operand (torch.ops.lmul.reduce)."""

    def __init__(self, d: int, backward: str) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(40)
        self.wq, self.wk, self.wv, self.wo = (
            torch.nn.Parameter(torch.randn(d, d, generator=g) / d**0.5) for _ in range(4))
        self.backward = backward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bw = self.backward
        q = lt.matmul(x, self.wq.T, "lmul/bf16", backward=bw)
        k = lt.matmul(x, self.wk.T, "lmul/e8m3", backward=bw)
        v = lt.matmul(x, self.wv.T, "mitchell/bf16", backward=bw)
        p = torch.relu(lt.matmul(q, k.mT, "lmul/e4m3", backward=bw) * 0.25)
        o = lt.matmul(p, v, "lmul/bf16", accum="bf16", backward=bw)
        r = lt.mul(lt.reduce(o, "bf16"), o, "lmul/e8m4", backward=bw)
        return lt.matmul(r, self.wo.T, "exact/e5m2,wide", backward=bw) + x


def test_inductor_forward_and_backward_bit_identical_to_eager() -> None:
    # backward="same": every gradient product is an lmul op too, so the gradients are
    # bit-exact by construction in eager; "ste" runs torch.matmul in the backward, whose
    # compiled form (inductor may pick another GEMM) is torch's business, not lmul's.
    model = TinyAttention(16, backward="same")
    g = torch.Generator().manual_seed(41)
    x = torch.randn(2, 7, 16, generator=g)
    gy = torch.randn(2, 7, 16, generator=g)

    def run(m: torch.nn.Module) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        y = m(x)
        y.backward(gy)
        return y.detach(), [p.grad.clone() for p in model.parameters()]

    y_eager, grads_eager = run(model)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="inductor", fullgraph=True)
    y_comp, grads_comp = run(compiled)
    assert torch.equal(y_comp, y_eager)
    for ge, gc in zip(grads_eager, grads_comp, strict=True):
        assert torch.equal(gc, ge)
    # ... and the compiled forward under no_grad (the inference graph) as well.
    with torch.no_grad():
        assert torch.equal(compiled(x), y_eager)
    # The ops did run: L-Mul differs from an exact fp32 model.
    with torch.no_grad():
        exact = x @ model.wq.T
        assert not torch.equal(lt.matmul(x, model.wq.T, "lmul/bf16"), exact)
