#!/usr/bin/env python3
"""Writes tiny GGUF models of the model families lmul runs, and their reference logits.

For each family (Llama 3.x with llama3 RoPE scaling, Qwen2, Gemma 2, Mistral) a small,
randomly initialised Hugging Face transformers model is converted to GGUF with PyPI `gguf`
(GGUFWriter) the way llama.cpp's convert_hf_to_gguf.py does it (tensor names, metadata keys,
the Q/K row permutation for Llama-family NORMAL RoPE, Gemma's +1 on norm weights, llama3
RoPE factors as rope_freqs.weight), and the model's fp32 logits on a few hundred token ids
are written beside it as the golden (engine/model/family_golden_test.cc compares lmul).

Outputs, in tests/testdata/engine/families/ (README.md there has the provenance):
  <family>.gguf          the model: 2-D weights F16 (the HF model is run with the same
                         F16-rounded values), norms, biases and RoPE factors F32; no tokenizer
  <family>_logits.gguf   metadata lmul.golden.tokens (int32 array), lmul.golden.positions
                         (the rows kept), provenance strings; tensor `logits` F32
                         (n_positions, n_vocab)

Run: "$(scripts/venv.sh)/bin/python" scripts/make_family_goldens.py [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gguf
import numpy as np
import torch
import transformers

SEED = 1234
N_TOKENS = 256  # token ids per golden
KEEP_EVERY = 4  # golden rows: positions 3, 7, ..., 255
VOCAB = 256


@dataclass
class Family:
    name: str  # file stem
    arch: str  # GGUF general.architecture
    make_config: Callable[[], Any]
    model_class: Any
    permute_qk: bool  # llama.cpp's LlamaModel permutes Wq/Wk for NORMAL RoPE
    norm_plus_one: bool  # Gemma RMSNorm multiplies by (1 + w): the converter stores w + 1
    extra_keys: Callable[[Any, gguf.GGUFWriter], None] = field(default=lambda c, w: None)


def llama3_config() -> Any:
    # original_max_position_embeddings 64 puts the llama3 low/high-frequency bands inside
    # head_dim 16's frequencies, so the scaling matters within N_TOKENS positions.
    return transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
        rms_norm_eps=1e-5, tie_word_embeddings=False,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64})


def qwen2_config() -> Any:
    return transformers.Qwen2Config(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})


def gemma2_config() -> Any:
    # Soft-caps small enough to bite at these logit sizes; query_pre_attn_scalar = head_dim
    # (llama.cpp's gemma2 graph scales scores by 1/sqrt(head_dim)); window 32 < N_TOKENS.
    return transformers.Gemma2Config(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
        max_position_embeddings=1024, rms_norm_eps=1e-6, sliding_window=32,
        attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
        hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def mistral_config() -> Any:
    return transformers.MistralConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
        rms_norm_eps=1e-5, sliding_window=32, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def rope_theta(c: Any) -> float:
    return float(c.rope_parameters["rope_theta"])


def llama3_keys(c: Any, w: gguf.GGUFWriter) -> None:
    del c, w  # llama3 scaling travels as the tensor rope_freqs.weight (see tensors())


def gemma2_keys(c: Any, w: gguf.GGUFWriter) -> None:
    w.add_sliding_window(c.sliding_window)
    w.add_attn_logit_softcapping(c.attn_logit_softcapping)
    w.add_final_logit_softcapping(c.final_logit_softcapping)


def mistral_keys(c: Any, w: gguf.GGUFWriter) -> None:
    w.add_sliding_window(c.sliding_window)


FAMILIES = [
    Family("llama3", "llama", llama3_config, transformers.LlamaForCausalLM, True, False,
           llama3_keys),
    Family("qwen2", "qwen2", qwen2_config, transformers.Qwen2ForCausalLM, False, False),
    Family("gemma2", "gemma2", gemma2_config, transformers.Gemma2ForCausalLM, False, True,
           gemma2_keys),
    Family("mistral", "llama", mistral_config, transformers.MistralForCausalLM, True, False,
           mistral_keys),
]


def randomize(model: torch.nn.Module, norm_plus_one: bool) -> None:
    """Weights of unit-order activations (HF's 0.02 init gives near-zero logits); 2-D
    weights rounded to F16 so the GGUF holds exactly what the reference runs."""
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                scale = 1.0 if "embed_tokens" in name else 1.0 / math.sqrt(p.shape[1])
                v = torch.randn(p.shape, generator=g) * scale
                p.copy_(v.half().float())
            elif "norm" in name:
                base = 0.0 if norm_plus_one else 1.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            else:  # biases
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def permute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute (rotate_half -> adjacent pairs)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama3_rope_factors(c: Any) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py LlamaModel.generate_extra_tensors (llama3)."""
    rp = c.rope_parameters
    dim = c.head_dim
    freqs = 1.0 / (rope_theta(c) ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
    old_ctx = rp["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def tensors(f: Family, c: Any, model: torch.nn.Module) -> list[tuple[str, np.ndarray]]:
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out: list[tuple[str, np.ndarray]] = []

    def add(name: str, a: np.ndarray, norm: bool = False) -> None:
        if norm and f.norm_plus_one:
            a = a + 1.0
        out.append((name, a.astype(np.float16) if a.ndim == 2 else a.astype(np.float32)))

    add("token_embd.weight", sd["model.embed_tokens.weight"])
    n_kv = c.num_key_value_heads
    for i in range(c.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        if f.permute_qk:
            q, k = permute(q, c.num_attention_heads, c.num_attention_heads), permute(
                k, c.num_attention_heads, n_kv)
        add(b + "attn_norm.weight", sd[p + "input_layernorm.weight"], norm=True)
        add(b + "attn_q.weight", q)
        add(b + "attn_k.weight", k)
        add(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        for proj in ("q", "k", "v"):
            key = p + f"self_attn.{proj}_proj.bias"
            if key in sd:  # Qwen2 (NEOX RoPE: no permutation)
                add(b + f"attn_{proj}.bias", sd[key])
        add(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        if p + "pre_feedforward_layernorm.weight" in sd:  # Gemma 2: pre + post norms
            add(b + "post_attention_norm.weight", sd[p + "post_attention_layernorm.weight"],
                norm=True)
            add(b + "ffn_norm.weight", sd[p + "pre_feedforward_layernorm.weight"], norm=True)
            add(b + "post_ffw_norm.weight", sd[p + "post_feedforward_layernorm.weight"],
                norm=True)
        else:
            add(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], norm=True)
        add(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        add(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        add(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    add("output_norm.weight", sd["model.norm.weight"], norm=True)
    if not c.tie_word_embeddings:
        add("output.weight", sd["lm_head.weight"])
    if c.rope_parameters.get("rope_type") == "llama3":
        add("rope_freqs.weight", llama3_rope_factors(c))
    return out


def provenance() -> dict[str, str]:
    return {
        "lmul.golden.script": "scripts/make_family_goldens.py",
        "lmul.golden.tools": (f"python {platform.python_version()}, torch {torch.__version__}, "
                              f"transformers {transformers.__version__}, numpy {np.__version__}, "
                              f"gguf {importlib.metadata.version('gguf')}"),
        "lmul.golden.seed": str(SEED),
    }


def write_family(f: Family, out_dir: Path) -> None:
    torch.manual_seed(SEED)
    c = f.make_config()
    model = f.model_class._from_config(c, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    randomize(model, f.norm_plus_one)
    if c.tie_word_embeddings:
        model.tie_weights()

    w = gguf.GGUFWriter(str(out_dir / f"{f.name}.gguf"), f.arch)
    w.add_name(f"lmul tiny {f.name} (random weights)")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(rope_theta(c))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    f.extra_keys(c, w)
    for k, v in provenance().items():
        w.add_string(k, v)
    for name, a in tensors(f, c, model):
        w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    rng = np.random.default_rng(SEED)
    tokens = rng.integers(0, c.vocab_size, size=N_TOKENS, dtype=np.int64)
    with torch.no_grad():
        logits = model(torch.from_numpy(tokens)[None, :]).logits[0].float().numpy()
    positions = np.arange(KEEP_EVERY - 1, N_TOKENS, KEEP_EVERY)
    g = gguf.GGUFWriter(str(out_dir / f"{f.name}_logits.gguf"), "lmul-golden")
    g.add_array("lmul.golden.tokens", [int(t) for t in tokens])
    g.add_array("lmul.golden.positions", [int(p) for p in positions])
    g.add_string("lmul.golden.model", f"{f.name}.gguf")
    g.add_string("lmul.golden.reference",
                 f"transformers {f.model_class.__name__} fp32, eager attention, whole sequence")
    for k, v in provenance().items():
        g.add_string(k, v)
    g.add_tensor("logits", np.ascontiguousarray(logits[positions], dtype=np.float32))
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()
    print(f"{f.name}: arch {f.arch}, logits range [{logits.min():.2f}, {logits.max():.2f}], "
          f"{len(positions)} golden rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent.parent / "tests/testdata/engine/families")
    ap.add_argument("--only", nargs="*", help="family names (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for f in FAMILIES:
        if not args.only or f.name in args.only:
            write_family(f, args.out)


if __name__ == "__main__":
    main()
