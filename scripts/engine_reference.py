"""NumPy reference forward pass of a Llama-architecture GGUF model.

Written from PyPI `gguf` (llama.cpp's own Python package: GGUFReader + its
dequantize) and the Llama equations, independently of lmul's C++ engine. Every
operation runs in float64 on the exactly dequantized float32 weights, so this is
the "infinitely precise" forward that an fp32 engine should approximate.

  h = rmsnorm(x) * g;  q,k,v = h Wq^T, h Wk^T, h Wv^T
  RoPE, llama.cpp "normal" mode: pairs (2i, 2i+1), theta_i = pos * base^(-2i/rope_dim)
  p = softmax(q k^T / sqrt(head_dim) + causal mask);  o = p v;  x += o Wo^T
  h = rmsnorm(x) * g2;  x += (silu(h Wg^T) * (h Wu^T)) Wd^T
  logits = (rmsnorm(x) * g_out) Wout^T     (Wout = token_embd when output.weight is absent)

Used by scripts/make_engine_goldens.py; needs a reference venv $LMUL_REF_VENV (gguf, numpy; tests/testdata/engine/README.md).
"""

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def _field(reader, key):
    f = reader.fields[key]
    return f.contents()


class LlamaReference:
    def __init__(self, path):
        r = GGUFReader(path)
        self.reader = r
        arch = _field(r, "general.architecture")
        assert arch == "llama", arch
        a = arch + "."
        self.n_layer = int(_field(r, a + "block_count"))
        self.d_model = int(_field(r, a + "embedding_length"))
        self.n_head = int(_field(r, a + "attention.head_count"))
        self.n_kv_head = int(_field(r, a + "attention.head_count_kv"))
        self.head_dim = self.d_model // self.n_head
        self.rope_dim = int(_field(r, a + "rope.dimension_count"))
        self.rope_base = float(_field(r, a + "rope.freq_base"))
        self.eps = float(_field(r, a + "attention.layer_norm_rms_epsilon"))
        self.tensors = {t.name: t for t in r.tensors}
        self.embd = self.weight("token_embd.weight")
        self.out = self.weight("output.weight") if "output.weight" in self.tensors else self.embd
        self.layers = []
        for l in range(self.n_layer):
            p = f"blk.{l}."
            self.layers.append({n: self.weight(p + n + ".weight") for n in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")})
        self.out_norm = self.weight("output_norm.weight")

    def weight(self, name):
        """Dequantized float32 tensor, outermost dimension first, as float64."""
        t = self.tensors[name]
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(d) for d in reversed(t.shape)]
        return w.reshape(shape).astype(np.float64)

    def rmsnorm(self, x, g):
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(ms + self.eps) * g

    def rope(self, x, pos):
        # x: (n, heads, head_dim); rotate pairs (2i, 2i+1) of the first rope_dim dims.
        rd = self.rope_dim
        i = np.arange(rd // 2, dtype=np.float64)
        inv_freq = self.rope_base ** (-2.0 * i / rd)
        theta = np.asarray(pos, dtype=np.float64)[:, None] * inv_freq[None, :]  # (n, rd/2)
        c = np.cos(theta)[:, None, :]
        s = np.sin(theta)[:, None, :]
        y = x.copy()
        x0 = x[..., 0:rd:2]
        x1 = x[..., 1:rd:2]
        y[..., 0:rd:2] = x0 * c - x1 * s
        y[..., 1:rd:2] = x0 * s + x1 * c
        return y

    def forward(self, tokens, last_only=False):
        """Logits (n_tokens, n_vocab) float64 for a whole sequence starting at position 0."""
        tokens = np.asarray(tokens)
        n = len(tokens)
        hd, nh, nkv = self.head_dim, self.n_head, self.n_kv_head
        x = self.embd[tokens]
        pos = np.arange(n)
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        for L in self.layers:
            h = self.rmsnorm(x, L["attn_norm"])
            q = (h @ L["attn_q"].T).reshape(n, nh, hd)
            k = (h @ L["attn_k"].T).reshape(n, nkv, hd)
            v = (h @ L["attn_v"].T).reshape(n, nkv, hd)
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            o = np.empty((n, nh, hd))
            group = nh // nkv
            for hh in range(nh):
                g = hh // group
                s = q[:, hh, :] @ k[:, g, :].T / np.sqrt(hd) + mask
                s = s - s.max(axis=-1, keepdims=True)
                p = np.exp(s)
                p /= p.sum(axis=-1, keepdims=True)
                o[:, hh, :] = p @ v[:, g, :]
            x = x + o.reshape(n, nh * hd) @ L["attn_output"].T
            h = self.rmsnorm(x, L["ffn_norm"])
            gate = h @ L["ffn_gate"].T
            up = h @ L["ffn_up"].T
            act = gate / (1.0 + np.exp(-gate)) * up
            x = x + act @ L["ffn_down"].T
        if last_only:
            x = x[-1:]
        return self.rmsnorm(x, self.out_norm) @ self.out.T

    def greedy(self, tokens, n_new):
        seq = list(tokens)
        out = []
        for _ in range(n_new):
            logits = self.forward(seq, last_only=True)[0]
            t = int(np.argmax(logits))
            out.append(t)
            seq.append(t)
        return out


class Gemma3Reference(LlamaReference):
    """NumPy float64 reference forward of a `gemma3` GGUF (Gemma 3), written from PyPI gguf's
    dequantization and llama.cpp's gemma3 graph (src/models/gemma3*.cpp, llama-model.cpp):

      x = embd[tokens] * sqrt(d_model)
      per layer L (sliding-window layer unless (L + 1) % 6 == 0):
        h = rmsnorm(x) * attn_norm
        q, k, v = h Wq^T, h Wk^T, h Wv^T            (head_dim = attention.key_length)
        q, k = rmsnorm_head(q) * attn_q_norm, rmsnorm_head(k) * attn_k_norm   (per head)
        RoPE, NEOX mode: pairs (i, i + rope_dim/2), theta_i = pos * base^(-2i/rope_dim),
          base = 10000 on sliding-window layers, rope.freq_base (1e6) on global layers
        p = softmax(q k^T / sqrt(head_dim) + mask); mask: causal, and on sliding-window
          layers also key positions j with pos - j >= sliding_window
        x += rmsnorm(o Wo^T) * post_attention_norm
        h = rmsnorm(x) * ffn_norm
        x += rmsnorm((gelu_tanh(h Wg^T) * (h Wu^T)) Wd^T) * post_ffw_norm
      logits = (rmsnorm(x) * output_norm) embd^T     (tied)
    Norm weights are used as stored: llama.cpp's converter already adds Gemma's +1.
    """

    SWA_PATTERN = 6
    ROPE_BASE_SWA = 10000.0

    def __init__(self, path):
        r = GGUFReader(path)
        self.reader = r
        arch = _field(r, "general.architecture")
        assert arch == "gemma3", arch
        a = arch + "."
        self.n_layer = int(_field(r, a + "block_count"))
        self.d_model = int(_field(r, a + "embedding_length"))
        self.n_head = int(_field(r, a + "attention.head_count"))
        self.n_kv_head = int(_field(r, a + "attention.head_count_kv"))
        self.head_dim = int(_field(r, a + "attention.key_length"))
        assert int(_field(r, a + "attention.value_length")) == self.head_dim
        self.rope_dim = self.head_dim
        self.rope_base = float(_field(r, a + "rope.freq_base"))
        self.window = int(_field(r, a + "attention.sliding_window"))
        self.eps = float(_field(r, a + "attention.layer_norm_rms_epsilon"))
        assert a + "rope.scaling.type" not in r.fields, "rope scaling not implemented"
        self.tensors = {t.name: t for t in r.tensors}
        self.embd = self.weight("token_embd.weight")
        self.out = self.weight("output.weight") if "output.weight" in self.tensors else self.embd
        self.layers = []
        for l in range(self.n_layer):
            p = f"blk.{l}."
            self.layers.append({n: self.weight(p + n + ".weight") for n in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_q_norm", "attn_k_norm",
                "attn_output", "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up",
                "ffn_down", "post_ffw_norm")})
        self.out_norm = self.weight("output_norm.weight")

    def is_swa(self, layer):
        return (layer + 1) % self.SWA_PATTERN != 0

    def rope_neox(self, x, pos, base):
        rd = self.rope_dim
        half = rd // 2
        i = np.arange(half, dtype=np.float64)
        inv_freq = base ** (-2.0 * i / rd)
        theta = np.asarray(pos, dtype=np.float64)[:, None] * inv_freq[None, :]
        c = np.cos(theta)[:, None, :]
        s = np.sin(theta)[:, None, :]
        y = x.copy()
        x0 = x[..., 0:half]
        x1 = x[..., half:rd]
        y[..., 0:half] = x0 * c - x1 * s
        y[..., half:rd] = x0 * s + x1 * c
        return y

    @staticmethod
    def gelu_tanh(x):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))

    def forward(self, tokens, last_only=False):
        tokens = np.asarray(tokens)
        n = len(tokens)
        hd, nh, nkv = self.head_dim, self.n_head, self.n_kv_head
        x = self.embd[tokens] * np.sqrt(float(self.d_model))
        pos = np.arange(n)
        causal = np.triu(np.full((n, n), -np.inf), k=1)
        window = np.where(pos[:, None] - pos[None, :] >= self.window, -np.inf, 0.0)
        for li, L in enumerate(self.layers):
            swa = self.is_swa(li)
            base = self.ROPE_BASE_SWA if swa else self.rope_base
            mask = causal + window if swa else causal
            h = self.rmsnorm(x, L["attn_norm"])
            q = (h @ L["attn_q"].T).reshape(n, nh, hd)
            k = (h @ L["attn_k"].T).reshape(n, nkv, hd)
            v = (h @ L["attn_v"].T).reshape(n, nkv, hd)
            q = self.rmsnorm(q, L["attn_q_norm"])
            k = self.rmsnorm(k, L["attn_k_norm"])
            q = self.rope_neox(q, pos, base)
            k = self.rope_neox(k, pos, base)
            o = np.empty((n, nh, hd))
            group = nh // nkv
            for hh in range(nh):
                g = hh // group
                s = q[:, hh, :] @ k[:, g, :].T / np.sqrt(hd) + mask
                s = s - s.max(axis=-1, keepdims=True)
                p = np.exp(s)
                p /= p.sum(axis=-1, keepdims=True)
                o[:, hh, :] = p @ v[:, g, :]
            attn = o.reshape(n, nh * hd) @ L["attn_output"].T
            x = x + self.rmsnorm(attn, L["post_attention_norm"])
            h = self.rmsnorm(x, L["ffn_norm"])
            act = self.gelu_tanh(h @ L["ffn_gate"].T) * (h @ L["ffn_up"].T)
            x = x + self.rmsnorm(act @ L["ffn_down"].T, L["post_ffw_norm"])
        if last_only:
            x = x[-1:]
        return self.rmsnorm(x, self.out_norm) @ self.out.T


def load_reference(path):
    """LlamaReference or Gemma3Reference by general.architecture."""
    arch = _field(GGUFReader(path), "general.architecture")
    return Gemma3Reference(path) if arch == "gemma3" else LlamaReference(path)
