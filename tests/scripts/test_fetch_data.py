#!/usr/bin/env python3
"""Tests of scripts/fetch_data.py without the network: the local-copy path, the checksum
failures, and the download path with `download` replaced by a fake upstream built from the
local copy (so every conversion of PROVENANCE.md runs and must reproduce the digest).

Needs a complete local copy ($LMUL_DATA or scripts/data_dir.sh's folder); skips without one.
    python3 tests/scripts/test_fetch_data.py
"""

from __future__ import annotations

import bz2
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import fetch_data as fd  # noqa: E402


def find_data() -> Path | None:
    env = os.environ.get("LMUL_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    out = subprocess.run([str(REPO / "scripts" / "data_dir.sh")], capture_output=True, text=True)
    return Path(out.stdout.strip()) if out.stdout.strip() else None


DATA = find_data()


def hf_rows(ai2_jsonl: bytes) -> bytes:
    """The Hugging Face export form of an AI2 ARC file (what the upstream train file holds)."""
    rows = []
    for line in ai2_jsonl.decode().splitlines():
        q = json.loads(line)
        rows.append(json.dumps({
            "id": q["id"], "question": q["question"]["stem"],
            "choices": {"text": [c["text"] for c in q["question"]["choices"]],
                        "label": [c["label"] for c in q["question"]["choices"]]},
            "answerKey": q["answerKey"]}))
    return ("\n".join(rows) + "\n").encode()


def fake_upstream(data: Path) -> dict[str, bytes]:
    """URL -> bytes, as each upstream would serve it, rebuilt from the local copy."""
    def read(rel: str) -> bytes:
        return (data / rel).read_bytes()
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        for name in ("wiki.test.raw", "wiki.valid.raw"):
            zf.writestr(f"wikitext-2-raw/{name}", read(f"wikitext-2-raw/{name}"))
    return {
        fd.WIKITEXT_ZIP: z.getvalue(),
        f"{fd.ARC_BENCH}/ARC-Easy-Test.jsonl": read("arc-easy/ARC-Easy-Test.jsonl"),
        f"{fd.ARC_BENCH}/ARC-Easy-Dev.jsonl": read("arc-easy/ARC-Easy-Dev.jsonl"),
        f"{fd.ARC_HF}/ARC-Easy-train.jsonl": hf_rows(read("arc-easy/ARC-Easy-Train.jsonl")),
        f"{fd.PIQA}/valid.jsonl": read("piqa/valid.jsonl"),
        f"{fd.PIQA}/valid-labels.lst": read("piqa/valid-labels.lst"),
        f"{fd.HELLASWAG}/hellaswag_val_full.txt.bz2": bz2.compress(read("hellaswag/hellaswag_val_full.txt")),
        fd.LAMBADA: read("lambada-openai/lambada_test.jsonl"),
        f"{fd.GSM8K}/test.jsonl": read("gsm8k/test.jsonl"),
        f"{fd.GSM8K}/train.jsonl": read("gsm8k/train.jsonl"),
    }


@unittest.skipIf(DATA is None, "no local data copy (LMUL_DATA / ../shared/data): skipped")
class FetchDataTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="lmul_fetch_data_"))
        self.env = mock.patch.dict(os.environ, {"LMUL_CACHE": str(self.tmp / "cache")})
        self.env.start()

    def tearDown(self) -> None:
        self.env.stop()
        shutil.rmtree(self.tmp)

    def run_main(self, data: Path | None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        env = {"LMUL_DATA": str(data)} if data else {}
        with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            if data is None:
                os.environ.pop("LMUL_DATA", None)
            rc = fd.main()
        return rc, out.getvalue().strip(), err.getvalue()

    def copy_of_data(self, skip: tuple[str, ...] = ()) -> Path:
        dst = self.tmp / "local"
        for f in fd.FILES:
            if f.path not in skip:
                (dst / f.path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(DATA / f.path, dst / f.path)
        return dst

    def test_digests_match_the_data_readme(self) -> None:
        readme = (DATA / "README.md").read_text()
        listed = {line.split()[1]: line.split()[0] for line in readme.splitlines()
                  if len(line.split()) == 2 and len(line.split()[0]) == 64}
        self.assertEqual(listed, {f.path: f.sha256 for f in fd.FILES})

    def test_complete_local_copy_is_used_in_place(self) -> None:
        rc, out, _ = self.run_main(DATA)
        self.assertEqual((rc, out), (0, str(DATA.resolve())))
        self.assertFalse((self.tmp / "cache").exists())

    def test_corrupt_local_copy_is_an_error(self) -> None:
        local = self.copy_of_data()
        p = local / "piqa" / "valid-labels.lst"
        p.write_bytes(p.read_bytes()[:-2] + b"9\n")
        with mock.patch.object(fd, "download", side_effect=AssertionError("no download")):
            rc, out, err = self.run_main(local)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("piqa/valid-labels.lst: sha256", err)
        self.assertIn("expected b4192dc3", err)

    def test_missing_local_folder_is_an_error(self) -> None:
        rc, _, err = self.run_main(self.tmp / "nowhere")
        self.assertEqual(rc, 1)
        self.assertIn("not a folder", err)

    def test_partial_local_copy_is_completed_in_the_cache(self) -> None:
        local = self.copy_of_data(skip=("gsm8k/train.jsonl",))
        upstream = fake_upstream(DATA)
        with mock.patch.object(fd, "download", side_effect=lambda url: upstream[url]) as dl:
            rc, out, _ = self.run_main(local)
        self.assertEqual((rc, out), (0, str(self.tmp / "cache" / "data")))
        self.assertEqual([c.args[0] for c in dl.call_args_list], [f"{fd.GSM8K}/train.jsonl"])
        for f in fd.FILES:
            self.assertEqual(fd.sha256_file(self.tmp / "cache" / "data" / f.path), f.sha256)

    def test_download_path_with_every_conversion(self) -> None:
        upstream = fake_upstream(DATA)
        with mock.patch.object(fd, "local_copy", return_value=None), \
                mock.patch.object(fd, "download", side_effect=lambda url: upstream[url]) as dl:
            rc, out, _ = self.run_main(None)
        self.assertEqual((rc, out), (0, str(self.tmp / "cache" / "data")))
        self.assertEqual(dl.call_count, len(upstream))  # the zip is downloaded once
        for f in fd.FILES:
            self.assertEqual(fd.sha256_file(self.tmp / "cache" / "data" / f.path), f.sha256)
        # Second run: everything cached and verified, nothing downloaded.
        with mock.patch.object(fd, "local_copy", return_value=None), \
                mock.patch.object(fd, "download", side_effect=AssertionError("cached")):
            self.assertEqual(self.run_main(None)[0], 0)

    def test_wrong_download_is_rejected_and_next_source_tried(self) -> None:
        upstream = fake_upstream(DATA)
        good = upstream[fd.LAMBADA]
        upstream[fd.LAMBADA] = good.replace(b"the", b"teh", 1)
        upstream["https://openaipublic.blob.core.windows.net/gpt-2/data/lambada_test.jsonl"] = good
        with mock.patch.object(fd, "local_copy", return_value=None), \
                mock.patch.object(fd, "download", side_effect=lambda url: upstream[url]):
            rc, _, _ = self.run_main(None)
        self.assertEqual(rc, 0)
        # Only wrong sources: an error naming the file and both digests; nothing kept.
        shutil.rmtree(self.tmp / "cache")
        upstream[fd.GSM8K + "/test.jsonl"] = b"{}\n"
        with mock.patch.object(fd, "local_copy", return_value=None), \
                mock.patch.object(fd, "download", side_effect=lambda url: upstream[url]):
            rc, out, err = self.run_main(None)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("gsm8k/test.jsonl: no source gave the expected file", err)
        self.assertIn("expected 3730d312", err)
        self.assertFalse((self.tmp / "cache" / "data" / "gsm8k" / "test.jsonl").exists())

    def test_network_failure_is_one_error_line(self) -> None:
        def offline(url: str) -> bytes:
            raise OSError("Network is unreachable")
        with mock.patch.object(fd, "local_copy", return_value=None), \
                mock.patch.object(fd, "download", side_effect=offline):
            rc, out, err = self.run_main(None)
        self.assertEqual((rc, out), (1, ""))
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("Network is unreachable", err)

    def test_corrupt_cache_file_is_fetched_again(self) -> None:
        upstream = fake_upstream(DATA)
        with mock.patch.object(fd, "local_copy", return_value=None), \
                mock.patch.object(fd, "download", side_effect=lambda url: upstream[url]):
            self.assertEqual(self.run_main(None)[0], 0)
            p = self.tmp / "cache" / "data" / "piqa" / "valid.jsonl"
            p.write_bytes(b"x")
            rc, _, err = self.run_main(None)
        self.assertEqual(rc, 0)
        self.assertIn("wrong sha256, fetching it again", err)
        self.assertEqual(fd.sha256_file(p), fd.FILES[5].sha256)


if __name__ == "__main__":
    unittest.main()
