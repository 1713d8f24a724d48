"""Fixtures shared by the conformance tests (see tb_helpers.py for the helpers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tb_helpers  # noqa: E402


@pytest.fixture(scope="session")
def write_summaries_tool() -> Path:
    """The C++ write_summaries program; the test fails (not skips) when it was not built."""
    return tb_helpers.tool_path()


@pytest.fixture
def manifest(tmp_path) -> tb_helpers.Manifest:
    return tb_helpers.Manifest(tmp_path / "inputs")
