#!/usr/bin/env python3
"""Gets the evaluation datasets (the 11 files of ../shared/data/README.md) and prints their folder.

Sources, in order (see scripts/fetch_data.sh for the command-line contract):
  1. a local copy: $LMUL_DATA if set, else scripts/data_dir.sh's folder (../shared/data). Every file is
     checked against its sha256; a complete, verified copy is used as it is (nothing copied).
  2. the upstream source each folder's PROVENANCE.md names (pinned commits), downloaded into
     the cache ($LMUL_CACHE/data, default ~/.cache/lmul/data), converted where PROVENANCE says
     so, and checked against the same sha256 before it is kept.
A file whose digest is wrong is never used: a corrupt local copy is an error (exit 1, one line
naming the file, the digests and a hint), as is a download whose digest does not match.
Standard library only (urllib, zipfile, bz2, hashlib, json).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

GH = "https://raw.githubusercontent.com"
WIKITEXT_ZIP = "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip"
ARC_BENCH = f"{GH}/FormulaMonks/llm-benchmarker-suite/5d3c8009ab8f5adab4899c34dd203cbf7afcb372/data/ARC/ARC-e"
ARC_HF = f"{GH}/zhaoxlpku/HKU-DASC7606-A2/fcca017f3468a25901ad298913e976c42ad9165e/data"
PIQA = f"{GH}/ybisk/ybisk.github.io/21edab439af693b961be2f069e8690a88d3b4e37/piqa/data"
HELLASWAG = f"{GH}/klosax/hellaswag_text_data/1105d370f8340eac3c63a91fd1fa58e8999f9505"
LAMBADA = f"{GH}/cybertronai/bflm/620fff70127e0a7c741ee229ed2e33e25dd5185a/lambada_test.jsonl"
GSM8K = f"{GH}/openai/grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data"


def unzip_member(member: str) -> Callable[[bytes], bytes]:
    def convert(data: bytes) -> bytes:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read(member)
    return convert


def bunzip2(data: bytes) -> bytes:
    return bz2.decompress(data)


def arc_from_hf_rows(data: bytes) -> bytes:
    """The procedure of arc-easy/PROVENANCE.md: HF rows -> original AI2 JSONL, byte for byte."""
    out = []
    for line in data.decode("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        choices = [{"text": t, "label": lab}
                   for t, lab in zip(row["choices"]["text"], row["choices"]["label"], strict=True)]
        item = {"id": row["id"], "question": {"stem": row["question"], "choices": choices},
                "answerKey": row["answerKey"]}
        out.append(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(out).encode("utf-8")


def as_is(data: bytes) -> bytes:
    return data


@dataclass(frozen=True)
class Source:
    url: str
    convert: Callable[[bytes], bytes] = as_is


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the data folder
    sha256: str  # as in ../shared/data/README.md
    sources: tuple[Source, ...]  # tried in order until one gives the right digest


FILES: tuple[DataFile, ...] = (
    DataFile("wikitext-2-raw/wiki.test.raw",
             "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
             (Source(WIKITEXT_ZIP, unzip_member("wikitext-2-raw/wiki.test.raw")),)),
    DataFile("wikitext-2-raw/wiki.valid.raw",
             "4cd0f6876d07a413aa911261ff6d363c72d757d47f0fdd6015702014c89cb9c7",
             (Source(WIKITEXT_ZIP, unzip_member("wikitext-2-raw/wiki.valid.raw")),
              Source(f"{GH}/DRAGNLabs/LLMHumanModeling/67cb89ec83ca316877b9101d6b8b1227aa7cf8e4/data/wiki.valid.raw"))),
    DataFile("arc-easy/ARC-Easy-Test.jsonl",
             "ce32a0774b4beb1977d2c6b16dda5dd2b24fdc9c7f506882c452678676bd09be",
             (Source(f"{ARC_BENCH}/ARC-Easy-Test.jsonl"),
              Source(f"{ARC_HF}/ARC-Easy-test.jsonl", arc_from_hf_rows))),
    DataFile("arc-easy/ARC-Easy-Dev.jsonl",
             "f4364b808a68df6bf500ce1070fb0105d40cacd2391c210deb00ff83ba75d1f4",
             (Source(f"{ARC_BENCH}/ARC-Easy-Dev.jsonl"),
              Source(f"{ARC_HF}/ARC-Easy-validation.jsonl", arc_from_hf_rows))),
    DataFile("arc-easy/ARC-Easy-Train.jsonl",
             "c62e5482d8c01f2d5a7f24239ac9db3b12f9e47267c4e3f088c6ffe41d5545ef",
             (Source(f"{ARC_HF}/ARC-Easy-train.jsonl", arc_from_hf_rows),)),
    DataFile("piqa/valid.jsonl",
             "93503cc97c679e459b065c3d13e848282e44b2a25213985bed3e5d458abef72d",
             (Source(f"{PIQA}/valid.jsonl"), Source("https://yonatanbisk.com/piqa/data/valid.jsonl"))),
    DataFile("piqa/valid-labels.lst",
             "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb",
             (Source(f"{PIQA}/valid-labels.lst"),
              Source("https://yonatanbisk.com/piqa/data/valid-labels.lst"))),
    DataFile("hellaswag/hellaswag_val_full.txt",
             "d572539320eb2050e858ca34b495bbe2103e3b3f1391a9c3bcdf215b0bb93bd1",
             (Source(f"{HELLASWAG}/hellaswag_val_full.txt.bz2", bunzip2),)),
    DataFile("lambada-openai/lambada_test.jsonl",
             "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226",
             (Source(LAMBADA),
              Source("https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl"))),
    DataFile("gsm8k/test.jsonl",
             "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
             (Source(f"{GSM8K}/test.jsonl"),)),
    DataFile("gsm8k/train.jsonl",
             "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
             (Source(f"{GSM8K}/train.jsonl"),)),
)

MAX_DOWNLOAD = 64 << 20  # bytes; every source is under 10 MB


class FetchError(Exception):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def local_copy() -> Path | None:
    """$LMUL_DATA if set (it must exist), else the folder scripts/data_dir.sh finds (../shared/data
    beside the checkout, or the developers' shared copy), else None."""
    env = os.environ.get("LMUL_DATA", "")
    if env:
        p = Path(env)
        if not p.is_dir():
            raise FetchError(f"LMUL_DATA={env}: not a folder; hint: unset it to download the data")
        return p.resolve()
    script = Path(__file__).resolve().parent / "data_dir.sh"
    out = subprocess.run([str(script)], capture_output=True, text=True, check=False).stdout.strip()
    return Path(out) if out and Path(out).is_dir() else None


def check_local(folder: Path, f: DataFile) -> bool:
    """True when folder holds f with its digest; False when absent; FetchError when corrupt."""
    p = folder / f.path
    if not p.is_file():
        return False
    got = sha256_file(p)
    if got != f.sha256:
        raise FetchError(f"{p}: sha256 {got}, expected {f.sha256} (../shared/data/README.md); "
                         "hint: the copy is damaged or another version: replace it, or unset "
                         "LMUL_DATA to download it")
    return True


def download(url: str) -> bytes:
    print(f"fetch_data: downloading {url}", file=sys.stderr)
    req = urllib.request.Request(url, headers={"User-Agent": "lmul-fetch-data"})
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read(MAX_DOWNLOAD + 1)
    if len(data) > MAX_DOWNLOAD:
        raise FetchError(f"{url}: more than {MAX_DOWNLOAD} bytes; expected a file under 10 MB")
    return data


def fetch(f: DataFile, dest: Path, cache: dict[str, bytes]) -> None:
    errors = []
    for s in f.sources:
        try:
            if s.url not in cache:
                cache[s.url] = download(s.url)
            data = s.convert(cache[s.url])
        except Exception as e:  # network, HTTP, zip, bz2, JSON: try the next source
            errors.append(f"{s.url}: {e}")
            continue
        got = hashlib.sha256(data).hexdigest()
        if got != f.sha256:
            errors.append(f"{s.url}: sha256 {got}, expected {f.sha256}")
            continue
        out = dest / f.path
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, out)
        os.chmod(out, 0o644)
        return
    raise FetchError(f"{f.path}: no source gave the expected file ({'; '.join(errors)}); hint: "
                     "copy the data folder by hand and set LMUL_DATA (see ../shared/data/README.md)")


def main() -> int:
    cache_root = Path(os.environ.get("LMUL_CACHE", Path.home() / ".cache" / "lmul"))
    dest = cache_root / "data"
    try:
        local = local_copy()
        if local is not None:
            present = [f for f in FILES if check_local(local, f)]
            if len(present) == len(FILES):
                print(local)
                return 0
            print(f"fetch_data: {local} has {len(present)} of {len(FILES)} files; "
                  f"completing a copy in {dest}", file=sys.stderr)
        downloads: dict[str, bytes] = {}
        for f in FILES:
            cached = dest / f.path
            if cached.is_file():
                if sha256_file(cached) == f.sha256:
                    continue
                print(f"fetch_data: {cached}: wrong sha256, fetching it again", file=sys.stderr)
                cached.unlink()
            if local is not None and check_local(local, f):
                (dest / f.path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local / f.path, dest / f.path)
                continue
            fetch(f, dest, downloads)
    except FetchError as e:
        print(f"fetch_data: {e}", file=sys.stderr)
        return 1
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
