"""Fine-tuning data: the shared data layout (docs/eval.md, ../shared/data/README.md), read as
untrusted input, tokenized by the engine's tokenizer (llama.cpp's, as ``lmul eval``), cut into
training sequences, and planned into batches.

A sequence is (token ids, first target index): the loss is on ids[first:] (each token predicted
from the ones before it); first >= 1.

- wikitext2: the split's articles (title lines `` = T = ``), each detokenized as lm-eval's
  ``wikitext_detokenizer`` (the text ``lmul eval`` scores), prefixed with BOS (else EOS, as
  lm-eval's prefix token), concatenated into one token stream and cut into windows of
  seq_len tokens (the remainder dropped); loss on every token but each window's first.
- arc_easy: ``Question: {stem}\\nAnswer:`` followed by `` {correct choice}`` (lm-eval's
  arc_easy prompt, the text ``lmul eval`` scores); loss on the answer tokens.
- gsm8k: ``Question: {question}\\nAnswer:`` followed by `` {answer}`` (the worked solution
  and ``#### N``); loss on the solution tokens.

Test splits are refused: this module only ever opens the files of SPLITS.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["SPLITS", "DataError", "Sequence_", "load_task", "plan_epoch", "wikitext_detokenize"]


class DataError(ValueError):
    """Bad data (one line: FILE:LINE: field, what was expected, what was found)."""


# task -> split -> file under the data dir. Test splits are deliberately absent.
SPLITS: dict[str, dict[str, str]] = {
    "wikitext2": {"validation": "wikitext-2-raw/wiki.valid.raw", "train": "wikitext-2-raw/wiki.train.raw"},
    "arc_easy": {"train": "arc-easy/ARC-Easy-Train.jsonl", "validation": "arc-easy/ARC-Easy-Dev.jsonl"},
    "gsm8k": {"train": "gsm8k/train.jsonl"},
}
DEFAULT_SPLIT = {"wikitext2": "validation", "arc_easy": "train", "gsm8k": "train"}
# Names that mean a split we refuse to train on.
TEST_SPLITS = ("test",)


@dataclasses.dataclass(frozen=True)
class Sequence_:
    ids: tuple[int, ...]
    first: int  # index of the first target token (>= 1)

    @property
    def n_targets(self) -> int:
        return len(self.ids) - self.first


Tokenize = Callable[[str], list[int]]


def wikitext_detokenize(s: str) -> str:
    """lm-eval's wikitext_detokenizer (lm_eval/tasks/wikitext/preprocess_wikitext.py), the
    transformation ``lmul eval`` applies to each test article (eval/wikitext.h)."""
    s = s.replace("s '", "s'")
    s = re.sub(r"/' [0-9]/", r"/'[0-9]/", s)
    for a, b in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" : ", ": "), (" ; ", "; "),
                 (" . ", ". "), (" ! ", "! "), (" ? ", "? "), (" , ", ", ")):
        s = s.replace(a, b)
    s = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", s)
    s = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", s)
    s = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", s)
    s = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', s)
    s = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", s)
    for a, b in (("= = = =", "===="), ("= = =", "==="), ("= =", "=="), (" " + chr(176) + " ", chr(176)),
                 (" \n", "\n"), ("\n ", "\n"), (" N ", " 1 "), (" 's", "'s")):
        s = s.replace(a, b)
    return s


_TITLE = re.compile(r"^ = [^=].* = $")


def split_articles(text: str) -> list[str]:
    """WikiText raw text -> articles, each from its title line (`` = T = ``) to the next title."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _TITLE.match(line.rstrip("\n"))
              and (i == 0 or not lines[i - 1].strip()) and (i + 1 >= len(lines) or not lines[i + 1].strip())]
    if not starts:
        return [text] if text.strip() else []
    bounds = starts + [len(lines)]
    return ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])]


def _read(path: pathlib.Path) -> str:
    if not path.is_file():
        raise DataError(f"{path}: no such file (hint: --data-dir must hold the shared data layout; "
                        "scripts/data_dir.sh prints it)")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: byte {e.start}: expected UTF-8 text") from e


def _jsonl(path: pathlib.Path) -> list[tuple[int, dict[str, object]]]:
    rows = []
    for n, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{n}: expected a JSON object, found invalid JSON") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: expected a JSON object, found {type(obj).__name__}")
        rows.append((n, obj))
    if not rows:
        raise DataError(f"{path}: expected at least one example, found none")
    return rows


def _field(path: pathlib.Path, n: int, obj: object, dotted: str, kind: type) -> object:
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise DataError(f"{path}:{n}: field '{dotted}': expected {kind.__name__}, found nothing")
        cur = cur[part]
    if not isinstance(cur, kind):
        raise DataError(f"{path}:{n}: field '{dotted}': expected {kind.__name__}, found {type(cur).__name__}")
    return cur


def _pair(tokenize: Tokenize, context: str, continuation: str) -> tuple[list[int], int]:
    """lm-eval's _encode_pair: context tokens = encode(context); continuation tokens =
    encode(context + continuation)[len(context tokens):]. Returns (all ids, first target)."""
    ctx = tokenize(context)
    whole = tokenize(context + continuation)
    return whole, len(ctx)


def _arc(path: pathlib.Path, tokenize: Tokenize) -> list[tuple[list[int], int]]:
    out = []
    for n, obj in _jsonl(path):
        stem = _field(path, n, obj, "question.stem", str)
        choices = _field(path, n, obj, "question.choices", list)
        key = _field(path, n, obj, "answerKey", str)
        texts = {}
        for i, c in enumerate(choices):  # type: ignore[arg-type]
            texts[str(_field(path, n, c, "label", str))] = _field(path, n, c, "text", str)
            del i
        if key not in texts:
            raise DataError(f"{path}:{n}: field 'answerKey': expected one of the labels {sorted(texts)}, "
                            f"found {key!r}")
        out.append(_pair(tokenize, f"Question: {stem}\nAnswer:", f" {texts[key]}"))
    return out


def _gsm8k(path: pathlib.Path, tokenize: Tokenize) -> list[tuple[list[int], int]]:
    out = []
    for n, obj in _jsonl(path):
        q = _field(path, n, obj, "question", str)
        a = _field(path, n, obj, "answer", str)
        out.append(_pair(tokenize, f"Question: {q}\nAnswer:", f" {a}"))
    return out


def _wikitext(path: pathlib.Path, tokenize: Tokenize, prefix: int, seq_len: int) -> list[tuple[list[int], int]]:
    stream: list[int] = []
    for article in split_articles(_read(path)):
        stream.append(prefix)
        stream += tokenize(wikitext_detokenize(article))
    n = len(stream) // seq_len
    if n == 0:
        raise DataError(f"{path}: expected at least --seq-len {seq_len} tokens, found {len(stream)}")
    return [(stream[i * seq_len:(i + 1) * seq_len], 1) for i in range(n)]


def split_path(data_dir: pathlib.Path, task: str, split: str) -> pathlib.Path:
    """The file of (task, split); ValueError for an unknown or a test split."""
    if split in TEST_SPLITS:
        raise ValueError(f"--split: {split!r} is a test split; training on it is refused "
                         f"(hint: {task} has {', '.join(SPLITS[task])})")
    if split not in SPLITS[task]:
        raise ValueError(f"--split: {task} has no split {split!r} (expected one of {', '.join(SPLITS[task])})")
    return data_dir / SPLITS[task][split]


def load_task(task: str, path: pathlib.Path, tokenize: Tokenize, prefix: int,
              seq_len: int) -> tuple[list[Sequence_], dict[str, int]]:
    """The training sequences of a task file, and counts (examples, truncated, dropped)."""
    if task == "wikitext2":
        raw = _wikitext(path, tokenize, prefix, seq_len)
    elif task == "arc_easy":
        raw = _arc(path, tokenize)
    elif task == "gsm8k":
        raw = _gsm8k(path, tokenize)
    else:
        raise ValueError(f"--task: unknown task {task!r}")
    seqs, truncated, dropped = [], 0, 0
    for ids, first in raw:
        first = max(first, 1)  # the first token has nothing to be predicted from
        if len(ids) > seq_len:
            ids, truncated = ids[:seq_len], truncated + 1
        if len(ids) <= first:
            dropped += 1
            continue
        seqs.append(Sequence_(tuple(ids), first))
    if not seqs:
        raise DataError(f"{path}: no example has a target token within --seq-len {seq_len}")
    return seqs, {"examples": len(raw), "sequences": len(seqs), "truncated": truncated, "dropped": dropped}


def plan_epoch(seqs: Sequence[Sequence_], batch_tokens: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch: the sequences in a permutation drawn from (seed, epoch),
    taken in order, a batch closed when the next sequence would exceed batch_tokens tokens
    (every batch has at least one sequence). Deterministic; independent of the process count."""
    perm = np.random.default_rng([seed, epoch]).permutation(len(seqs))
    batches: list[list[int]] = []
    cur: list[int] = []
    tokens = 0
    for i in perm.tolist():
        n = len(seqs[i].ids)
        if cur and tokens + n > batch_tokens:
            batches.append(cur)
            cur, tokens = [], 0
        cur.append(i)
        tokens += n
    if cur:
        batches.append(cur)
    return batches
