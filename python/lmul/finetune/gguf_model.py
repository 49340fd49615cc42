"""A Llama-family GGUF as a Hugging Face ``LlamaForCausalLM`` with fp32 master weights, and back.

Weights are the engine's own dequantization (``lmul.engine.load_tensors``: the fp32 values
``lmul run`` computes with, bit-exact with PyPI gguf); llama.cpp's converter stores the rows of
``attn_q`` / ``attn_k`` permuted for its interleaved RoPE, so they are un-permuted on load and
permuted back on export (an exact row shuffle: a model exported without training has the very
same tensors as the input, dequantized).

Export writes F32 (or BF16 for the 2-D weights; norms stay F32 as llama.cpp keeps them) with every
metadata key of the input copied (tokenizer, chat template, hyper-parameters), general.file_type
set to the new type, and a few ``lmul.finetune.*`` keys recording how the model was trained.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np
import torch

import lmul.engine

__all__ = ["GgufError", "export_gguf", "load_llama", "permute_qk", "tokenizer_meta", "unpermute_qk"]


class GgufError(ValueError):
    """A GGUF the fine-tuner cannot use (one line naming the file and the field)."""


# Per-layer GGUF tensor name -> Hugging Face Llama parameter name (blk.N. prefix / model.layers.N.).
_LAYER = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_GLOBAL = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's attn_q/attn_k row order (pairs 2i, 2i+1 per head) -> Hugging Face's
    (half-split: i, i + head_dim/2). w: (n_head * head_dim, d_model)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of :func:`unpermute_qk` (llama.cpp's convert_hf_to_gguf permute)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _config(path: str, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    if cfg is None:
        cfg = lmul.engine.Model(path).config
    if cfg.get("arch") != "llama" or cfg.get("gemma"):
        raise GgufError(f"{path}: general.architecture: expected a llama model, found {cfg.get('arch')!r} "
                        "(hint: lmul.finetune supports Llama-family GGUFs such as SmolLM2)")
    unsupported = [k for k in ("post_norms", "qk_norm", "qkv_bias", "sliding_window", "attn_softcap",
                                "final_softcap") if cfg.get(k)]
    if unsupported or cfg.get("embed_scale", 1.0) != 1.0:
        raise GgufError(f"{path}: {(unsupported or ['embed_scale'])[0]}: expected a plain Llama model "
                        "(hint: Gemma-style features are not supported by lmul.finetune)")
    if cfg["rope_dim"] != cfg["head_dim"]:
        raise GgufError(f"{path}: llama.rope.dimension_count: expected head_dim {cfg['head_dim']}, "
                        f"found {cfg['rope_dim']} (partial RoPE is not supported)")
    return cfg


def load_llama(path: str | os.PathLike[str],
               config: dict[str, Any] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(LlamaForCausalLM in fp32, train mode off; engine config) from a Llama GGUF. ``config``:
    the file's ``lmul.engine.Model(path).config`` when the caller already has it (else the
    engine loads the model once more to read it)."""
    import transformers

    p = os.fspath(path)
    cfg = _config(p, config)
    tensors = lmul.engine.load_tensors(p)
    hf_cfg = transformers.LlamaConfig(
        vocab_size=cfg["n_vocab"],
        hidden_size=cfg["d_model"],
        intermediate_size=cfg["d_ff"],
        num_hidden_layers=cfg["n_layer"],
        num_attention_heads=cfg["n_head"],
        num_key_value_heads=cfg["n_kv_head"],
        head_dim=cfg["head_dim"],
        max_position_embeddings=cfg["n_ctx_train"],
        rms_norm_eps=cfg["rms_eps"],
        rope_theta=cfg["rope_freq_base"],
        tie_word_embeddings=bool(cfg["tied_output"]),
        attention_bias=False,
        mlp_bias=False,
        hidden_act="silu",
        attention_dropout=0.0,
    )
    hf_cfg.rope_parameters = {"rope_type": "default", "rope_theta": float(cfg["rope_freq_base"])}
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(hf_cfg)
    state: dict[str, torch.Tensor] = {}
    for name, hf_name in _names(cfg):
        if name not in tensors:
            raise GgufError(f"{p}: tensor {name}: missing (hint: not a complete Llama GGUF)")
        w = tensors.pop(name)
        if name.endswith("attn_q.weight"):
            w = unpermute_qk(w, cfg["n_head"])
        elif name.endswith("attn_k.weight"):
            w = unpermute_qk(w, cfg["n_kv_head"])
        state[hf_name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    model.load_state_dict(state, strict=False, assign=True)
    if cfg["tied_output"]:
        model.tie_weights()
    # Buffers (RoPE inv_freq) were on meta: rebuild them on the CPU.
    model.model.rotary_emb = type(model.model.rotary_emb)(config=hf_cfg)
    missing = [n for n, t in model.named_parameters() if t.is_meta]
    if missing:
        raise GgufError(f"{p}: tensor for {missing[0]}: missing")
    return model.float().eval(), cfg


def tokenizer_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """{"add_bos": bool, "bos": id or None, "eos": id or None} from the GGUF's tokenizer keys."""
    import gguf

    fields = gguf.GGUFReader(os.fspath(path)).fields

    def get(key: str) -> Any:
        f = fields.get(key)
        return None if f is None else f.contents()

    return {"add_bos": bool(get("tokenizer.ggml.add_bos_token") or False),
            "bos": get("tokenizer.ggml.bos_token_id"), "eos": get("tokenizer.ggml.eos_token_id")}


def _names(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(g, h) for g, h in _GLOBAL.items() if not (g == "output.weight" and cfg["tied_output"])]
    for layer in range(cfg["n_layer"]):
        out += [(f"blk.{layer}.{g}", f"model.layers.{layer}.{h}") for g, h in _LAYER.items()]
    return out


def export_gguf(model: torch.nn.Module, cfg: dict[str, Any], src: str | os.PathLike[str],
                out: str | os.PathLike[str], export_type: str = "f32",
                extra: dict[str, str] | None = None) -> None:
    """Writes ``model``'s weights as a GGUF with ``src``'s metadata (written to a temporary
    name, then renamed). export_type: "f32" or "bf16" (2-D weights; 1-D norms stay F32)."""
    import gguf

    if export_type not in ("f32", "bf16"):
        raise ValueError(f"export_type: expected f32 or bf16, got {export_type!r}")
    src, out = os.fspath(src), pathlib.Path(out)
    reader = gguf.GGUFReader(src)
    arch = str(reader.fields["general.architecture"].contents())
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    skip = {"general.architecture", "general.file_type", "general.alignment"}
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in skip:
            continue
        _copy_field(writer, key, field)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if export_type == "f32" else gguf.LlamaFileType.MOSTLY_BF16)
    for k, v in (extra or {}).items():
        writer.add_string(f"lmul.finetune.{k}", v)
    params = {n: t.detach().to(torch.float32).cpu().numpy() for n, t in model.state_dict().items()}
    for name, hf_name in _names(cfg):
        w = params[hf_name]
        if name.endswith("attn_q.weight"):
            w = permute_qk(w, cfg["n_head"])
        elif name.endswith("attn_k.weight"):
            w = permute_qk(w, cfg["n_kv_head"])
        w = np.ascontiguousarray(w, dtype=np.float32)
        if export_type == "bf16" and w.ndim == 2:
            q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.BF16)
            writer.add_tensor(name, q, raw_shape=w.shape, raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            writer.add_tensor(name, w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)


def _copy_field(writer: Any, key: str, field: Any) -> None:
    """One metadata key, value type preserved (strings as their raw bytes)."""
    import gguf

    vt = gguf.GGUFValueType
    main = field.types[0]
    if main == vt.ARRAY:
        sub = field.types[-1]
        if sub == vt.STRING:
            val: Any = [bytes(field.parts[i]) for i in field.data]
        else:
            val = [field.parts[i].tolist()[0] for i in field.data]
        writer.add_key_value(key, val, main, sub_type=sub)
    elif main == vt.STRING:
        writer.add_key_value(key, bytes(field.parts[-1]), main)
    else:
        writer.add_key_value(key, field.parts[-1].tolist()[0], main)
