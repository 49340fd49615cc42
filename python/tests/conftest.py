"""Shared fixtures of the lmul Python tests (scripts/test.sh runs them; docs/python.md).

Environment: LMUL_CLI (the C++ CLI the bit-exact tests compare against; default
build/release/lmul), LMUL_MODEL (the default GGUF model; model tests skip without it).
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli() -> pathlib.Path:
    """The `lmul` CLI: LMUL_CLI if set (then it must exist), else build/release/lmul if built."""
    env = os.environ.get("LMUL_CLI")
    if env:
        path = pathlib.Path(env)
        assert path.is_file(), f"LMUL_CLI={env} does not exist"
        return path
    path = REPO / "build" / "release" / "lmul"
    if not path.is_file():
        pytest.skip("build/release/lmul not built (set LMUL_CLI or build the CLI)")
    return path


def cli_mul(cli: pathlib.Path, arith: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`lmul mul --arith ARITH` on pairs given as fp32 bit patterns; result bits (uint32)."""
    xb = x.astype(np.float32).view(np.uint32).ravel()
    yb = y.astype(np.float32).view(np.uint32).ravel()
    text = "".join(f"0x{a:08X} 0x{b:08X}\n" for a, b in zip(xb.tolist(), yb.tolist()))
    r = subprocess.run(
        [str(cli), "mul", "--arith", arith], input=text, capture_output=True, text=True, check=True
    )
    lines = r.stdout.splitlines()
    assert len(lines) == len(xb)
    return np.array([int(line.split()[0], 16) for line in lines], dtype=np.uint32)


@pytest.fixture(scope="session")
def model_path() -> pathlib.Path:
    env = os.environ.get("LMUL_MODEL")
    if not env:
        pytest.skip("LMUL_MODEL not set (scripts/fetch_model.sh prints the default model)")
    path = pathlib.Path(env)
    assert path.is_file(), f"LMUL_MODEL={env} does not exist"
    return path
