#!/usr/bin/env python3
"""scripts/doc_test.py on small markdown files: a failing block fails the run (naming its
line), directives skip or substitute, a malformed directive is a usage error, and blocks of one
file share a shell. Needs a build folder with an lmul binary (argv[1]); no model is used.

    python3 tests/scripts/test_doc_test.py build/release
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(sys.argv.pop(1) if len(sys.argv) > 1 else REPO / "build" / "release").resolve()


def doc_test(text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as d:
        md = Path(d) / "x.md"
        md.write_text(text)
        env = dict(os.environ, LMUL_MODEL="/nonexistent.gguf", LMUL_DATA=d)
        return subprocess.run([sys.executable, str(REPO / "scripts" / "doc_test.py"), "--build",
                               str(BUILD), *extra, str(md)], capture_output=True, text=True,
                              env=env)


class DocTestTest(unittest.TestCase):
    def test_green_blocks_share_a_shell(self) -> None:
        r = doc_test("a\n```sh\nX=42\nlmul --version\n```\n\n```sh\ntest \"$X\" = 42\n```\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok   ", r.stdout)
        self.assertIn("all green", r.stdout)

    def test_failing_block_fails_and_names_its_line(self) -> None:
        r = doc_test("a\n```sh\ntrue\n```\n\n```sh\necho oops; false\n```\n\n```sh\ntrue\n```\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("x.md:6: exit status 1", r.stdout)
        self.assertIn("oops", r.stdout)

    def test_stale_command_fails(self) -> None:
        r = doc_test("```sh\nlmul no-such-subcommand\n```\n")
        self.assertEqual(r.returncode, 1)

    def test_skip_and_instead(self) -> None:
        r = doc_test("<!-- doc-test: skip: takes hours -->\n```sh\nfalse\n```\n"
                     "<!-- doc-test: instead: true -->\n```sh\nfalse\n```\n"
                     "```text\nfalse\n```\n")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("SKIP", r.stdout)
        self.assertIn("takes hours", r.stdout)
        self.assertIn("(instead: true)", r.stdout)

    def test_malformed_directive_is_a_usage_error(self) -> None:
        for bad in ("<!-- doc-test: skip -->", "<!-- doc-test skip: x -->",
                    "<!-- doc-test: skip: a -->\n<!-- doc-test: instead: true -->"):
            r = doc_test(bad + "\n```sh\ntrue\n```\n")
            self.assertEqual(r.returncode, 2, bad + "\n" + r.stdout + r.stderr)

    def test_list(self) -> None:
        r = doc_test("```sh\ntrue\n```\n<!-- doc-test: skip: why -->\n```bash\nfalse\n```\n",
                     "--list")
        self.assertEqual(r.returncode, 0)
        self.assertEqual([line.split(": ", 1)[1] for line in r.stdout.splitlines()],
                         ["run", "skip: why"])


if __name__ == "__main__":
    unittest.main()
