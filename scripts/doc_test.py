#!/usr/bin/env python3
"""Runs every shell command of README.md and docs/*.md, so none goes stale.

A fenced block whose info string is `sh` (or `bash`) runs as written, unless the line just
above its opening fence is a directive:

  <!-- doc-test: skip: REASON -->        never run (hours long, needs a GPU or other hardware,
                                          the README commands themselves, ...); REASON required
  <!-- doc-test: instead: COMMAND -->    run COMMAND instead (a small-limit substitute); several
                                          such lines in a row join into one script

Blocks of one file run in order in one bash session (variables carry over: `M=...` in one block
is seen by the next), under `set -eo pipefail`, in a scratch copy of the checkout: docs/ is
copied (a block may write into it), everything else is a symlink, and build/<any> points at the
build folder given. `lmul` on PATH is that build's binary; `MODEL.gguf`, `M.gguf` and $M are
the default model (scripts/fetch_model.sh or $LMUL_MODEL), $G and `G.gguf` Gemma 3
(scripts/fetch_gemma3.sh or $LMUL_GEMMA3), $LMUL_DATA the datasets (scripts/fetch_data.sh).

    scripts/doc_test.py --build build/release [FILE.md ...]   # default: README.md docs/*.md
    scripts/doc_test.py --list                                # the blocks and what happens
Exit 0 when every block ran green, 1 when one failed (its file, line and output are printed),
2 for a malformed directive, 77 (ctest: skipped) without the model or the datasets.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_LANGS = {"sh", "bash"}
DIRECTIVE = re.compile(r"^<!--\s*doc-test:\s*(\w+)\s*:?\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    file: Path
    line: int  # 1-based line of the opening fence
    code: str
    action: str  # "run", "skip", "instead"
    arg: str = ""  # skip: the reason; instead: the command


class DirectiveError(Exception):
    pass


def parse(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1  # the closing fence
        if lang not in RUN_LANGS:
            continue
        directives = []
        j = start - 1
        while j >= 0 and lines[j].strip().startswith("<!--") and "doc-test" in lines[j]:
            d = DIRECTIVE.match(lines[j].strip())
            if not d:
                raise DirectiveError(f"{path}:{j + 1}: malformed directive {lines[j].strip()!r}; "
                                     "expected <!-- doc-test: skip: REASON --> or "
                                     "<!-- doc-test: instead: COMMAND -->")
            directives.insert(0, (d.group(1), d.group(2)))
            j -= 1
        kinds = {k for k, _ in directives}
        if not directives:
            blocks.append(Block(path, start + 1, "\n".join(body), "run"))
        elif kinds == {"skip"} and len(directives) == 1 and directives[0][1]:
            blocks.append(Block(path, start + 1, "\n".join(body), "skip", directives[0][1]))
        elif kinds == {"instead"} and all(a for _, a in directives):
            blocks.append(Block(path, start + 1, "\n".join(body), "instead",
                                "\n".join(a for _, a in directives)))
        else:
            raise DirectiveError(f"{path}:{start + 1}: directives {directives}: expected one "
                                 "'skip: REASON' or one or more 'instead: COMMAND' lines")
    return blocks


def rel(p: Path) -> str:
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def fetch(script: str, env_name: str) -> str:
    if os.environ.get(env_name):
        return os.environ[env_name]
    out = subprocess.run([str(REPO / "scripts" / script)], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def scratch(build: Path, model: str, gemma: str) -> Path:
    """A scratch checkout: symlinks to the repo's entries, docs/ copied, build/* -> build."""
    root = Path(tempfile.mkdtemp(prefix="lmul_doc_test_"))
    for entry in REPO.iterdir():
        if entry.name in {".git", "build", "docs"}:
            continue
        (root / entry.name).symlink_to(entry)
    shutil.copytree(REPO / "docs", root / "docs")
    (root / "build").mkdir()
    for name in ("release", "precision", "eval", "engine", "kernels", "analysis"):
        (root / "build" / name).symlink_to(build)
    (root / "bin").mkdir()
    (root / "bin" / "lmul").symlink_to(build / "lmul")
    for name, target in (("MODEL.gguf", model), ("M.gguf", model), ("G.gguf", gemma)):
        if target:
            (root / name).symlink_to(target)
    return root


def run_file(blocks: list[Block], root: Path, env: dict[str, str], timeout: float) -> bool:
    """Runs the file's blocks in one bash session; False on the first failure."""
    # Each block's output goes to its own log; a marker file records which block runs.
    parts = ["set -eo pipefail", f"cd {root}"]
    runnable = [b for b in blocks if b.action != "skip"]
    for k, b in enumerate(runnable):
        code = b.arg if b.action == "instead" else b.code
        parts.append(f"echo {k} > {root}/.doc_test_current")
        parts.append(f"exec > {root}/.doc_test_out_{k} 2>&1")
        parts.append(code)
    parts.append(f"echo done > {root}/.doc_test_current")
    for b in blocks:
        if b.action == "skip":
            print(f"  SKIP {rel(b.file)}:{b.line}: {b.arg}")
    if not runnable:
        return True
    t0 = time.monotonic()
    try:
        p = subprocess.run(["bash", "-c", "\n".join(parts)], env=env, cwd=root, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = -1
    state = (root / ".doc_test_current").read_text().strip() \
        if (root / ".doc_test_current").exists() else "0"
    done = len(runnable) if state == "done" else int(state)
    for k, b in enumerate(runnable[:done]):
        print(f"  ok   {rel(b.file)}:{b.line}"
              + (" (instead: " + b.arg.splitlines()[0][:70] + ")" if b.action == "instead" else ""))
    if state == "done" and rc == 0:
        print(f"  ({time.monotonic() - t0:.0f} s)")
        return True
    b = runnable[done] if done < len(runnable) else runnable[-1]
    out = root / f".doc_test_out_{done}"
    why = "timed out" if rc == -1 else f"exit status {rc}"
    print(f"  FAIL {rel(b.file)}:{b.line}: {why}; the block:")
    print("    " + (b.arg if b.action == "instead" else b.code).replace("\n", "\n    "))
    if out.exists():
        tail = out.read_text(errors="replace").splitlines()[-30:]
        print("  its output (last 30 lines):\n    " + "\n    ".join(tail))
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="markdown files (default README.md docs/*.md)")
    ap.add_argument("--build", type=Path, default=REPO / "build" / "release",
                    help="build folder with the lmul binary (default build/release)")
    ap.add_argument("--list", action="store_true", help="list the blocks, run nothing")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per file (default 1800)")
    a = ap.parse_args()
    files = [f.resolve() for f in a.files] or [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
    try:
        per_file = [(f, parse(f)) for f in files]
    except (DirectiveError, OSError) as e:
        print(f"doc_test: {e}", file=sys.stderr)
        return 2
    if a.list:
        for f, blocks in per_file:
            for b in blocks:
                print(f"{rel(f)}:{b.line}: {b.action}" + (f": {b.arg}" if b.arg else ""))
        return 0
    build = a.build.resolve()
    if not (build / "lmul").exists():
        print(f"doc_test: --build {build}: no lmul binary there; hint: build it first",
              file=sys.stderr)
        return 2
    model = fetch("fetch_model.sh", "LMUL_MODEL")
    gemma = os.environ.get("LMUL_GEMMA3", "")
    data = fetch("fetch_data.sh", "LMUL_DATA")
    if not model or not data:
        print(f"doc_test: no {'model' if not model else 'datasets'} (scripts/fetch_model.sh, "
              "scripts/fetch_data.sh failed): skipped, as the other model and data tests are")
        return 77
    failed = 0
    total = sum(len(b) for _, b in per_file)
    print(f"doc_test: {total} sh blocks in {len(files)} files (model {model or '-'}, "
          f"data {data or '-'})")
    for f, blocks in per_file:
        if not blocks:
            continue
        print(f"{rel(f)}:")
        root = scratch(build, model, gemma)
        env = dict(os.environ, PATH=f"{root / 'bin'}:{os.environ.get('PATH', '')}",
                   M=model, G=gemma, LMUL_MODEL=model, LMUL_DATA=data, LMUL_BUILD_DIR=str(build))
        try:
            if not run_file(blocks, root, env, a.timeout):
                failed += 1
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"doc_test: {'FAILED in ' + str(failed) + ' file(s)' if failed else 'all green'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
