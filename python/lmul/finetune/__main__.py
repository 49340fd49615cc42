"""python -m lmul.finetune (docs/finetune.md)."""

from lmul.finetune.cli import main

main()
