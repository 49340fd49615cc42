"""The C++ transformer engine (engine/): GGUF tensors, models, sessions.

    model = lmul.engine.Model("SmolLM2-135M-Instruct-Q4_1.gguf")
    ids = model.tokenize("The capital of France is")
    logits = lmul.engine.Session(model, "lmul-attn").forward(ids)   # (n_tokens, n_vocab)

Everything runs through the same code as ``lmul run`` (``Model::Load``,
``Session::Forward``); results are bit-identical to the CLI's for the same policy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lmul import _lmul

__all__ = ["Model", "Session", "load_tensors"]


def _check_path(path: str | os.PathLike[str]) -> str:
    p = os.fspath(path)
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p}: no such file (hint: scripts/fetch_model.sh prints the default model's path)")
    return p


def load_tensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every tensor of a GGUF file dequantized to float32, by GGUF name.

    Shapes are outermost first (GGUF's ne reversed): ``blk.0.attn_q.weight`` is
    (n_head * head_dim, d_model), as a PyTorch ``nn.Linear`` weight. Note that llama.cpp's
    converter permutes the rows of attn_q / attn_k of Llama models (RoPE pairs (2i, 2i+1));
    undo that to load them into a Hugging Face model.
    """
    return dict(_lmul.load_tensors(_check_path(path)))


class Model:
    """A GGUF model loaded by the engine (weights stay memory-mapped)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._m = _lmul.Model(_check_path(path))

    @property
    def config(self) -> dict[str, Any]:
        """n_vocab, d_model, n_layer, n_head, n_kv_head, head_dim, d_ff, n_ctx_train,
        rope_dim, rope_freq_base, rms_eps, tied_output, arch, name, gemma, ..."""
        return dict(self._m.config)

    @property
    def path(self) -> str:
        return str(self._m.path)

    def tokenize(self, text: str, add_bos: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text`` (llama.cpp's tokenization); add_bos prepends BOS if the model
        has one; parse_special recognises control-token texts such as ``<|im_start|>``."""
        return list(self._m.tokenize(text, add_bos, parse_special))

    def detokenize(self, ids: list[int]) -> str:
        """The text of token ids (invalid UTF-8 from partial tokens becomes U+FFFD)."""
        return bytes(self._m.detokenize(list(ids))).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        c = self.config
        return f"lmul.engine.Model({self.path!r}, arch={c['arch']}, n_layer={c['n_layer']})"


class Session:
    """One sequence run through a model under a policy (KV cache, packed weights).

    policy: a preset ("fp32", "lmul-attn", ...) or an inline policy, as ``lmul run --arith``.
    n_ctx: KV cache capacity (0: the model's training context); threads: GEMM threads
    (0 = all cores; results do not depend on it).
    """

    def __init__(self, model: Model, policy: str, n_ctx: int = 0, threads: int = 1) -> None:
        if not isinstance(model, Model):
            raise TypeError(f"Session: model must be a lmul.engine.Model, got {type(model).__name__}")
        self.model = model
        self._s = _lmul.Session(model._m, policy, int(n_ctx), int(threads))

    def forward(self, tokens: list[int]) -> np.ndarray:
        """Runs tokens at positions pos..pos+n-1 (appending them to the cache); returns the
        next-token logits after each, float32 (n_tokens, n_vocab)."""
        ids = [int(t) for t in tokens]
        for i, t in enumerate(ids):
            if not 0 <= t < 2**31:
                raise ValueError(f"Session.forward: token {t} at index {i} outside the vocabulary")
        return self._s.forward(ids)

    def rewind(self, pos: int) -> None:
        """Keeps the first ``pos`` cached tokens (0 <= pos <= self.pos)."""
        self._s.rewind(int(pos))

    @property
    def pos(self) -> int:
        """Tokens currently in the KV cache."""
        return int(self._s.pos)

    @property
    def n_ctx(self) -> int:
        return int(self._s.n_ctx)

    @property
    def policy(self) -> str:
        """The policy's canonical name."""
        return str(self._s.policy)
