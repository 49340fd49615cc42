"""lmul.finetune: fine-tuning a Llama GGUF under an lmul arithmetic policy (docs/finetune.md).

    python -m lmul.finetune -m MODEL.gguf --task arc_easy --arith lmul-all-k3 --backward ste \\
        --out runs/arc-k3          # OUT/log.jsonl, OUT/checkpoint.pt, OUT/model.gguf

Modules: data (tasks, splits, batches), gguf_model (GGUF <-> transformers Llama, export),
train (AdamW loop, checkpoints, DDP), cli (flags and checks).
"""
