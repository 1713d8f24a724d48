"""Strings that are not UTF-8 (issue 14, item 4), checked with TensorBoard's own loader.

The C++ side is tests/tools/write_bad_strings.cpp. First the failure itself: a Summary whose tag
is not UTF-8, written past the SDK's checks, makes TensorBoard's loader give up on the file
(records written after it are lost too). Then the fix: the SDK refuses such strings at the call,
naming the tag and the byte, and the run stays loadable with every good record.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tb_helpers

TOOL_NAME = "write_bad_strings"


def tool() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    exe = (Path(tools_dir) if tools_dir else tb_helpers.REPO_ROOT / "build" / "tests") / TOOL_NAME
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C build {TOOL_NAME})", pytrace=False)
    return exe


def write(logdir: Path, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(tool()), str(logdir), mode], capture_output=True, text=True, timeout=60,
                          errors="replace")


def test_a_tag_that_is_not_utf8_costs_tensorboard_the_rest_of_the_file(tmp_path):
    proc = write(tmp_path, "raw")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from google.protobuf.message import DecodeError

    # TensorBoard's loader gives up on the whole log dir: "loss" at steps 0 and 2, both good,
    # are lost with the bad record.
    with pytest.raises(DecodeError, match="bad UTF-8"):
        tb_helpers.load_logdir(tmp_path)


def test_the_sdk_refuses_bad_utf8_at_the_call_and_the_run_loads(tmp_path):
    proc = write(tmp_path, "refused")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    refusals = [line for line in proc.stdout.splitlines() if line.startswith("refused: ")]
    assert len(refusals) == 3, proc.stdout
    assert "add_scalar: tag 'bad\\xff/tag': the tag is not valid UTF-8 (byte 3 is 0xff)" in refusals[0]
    assert "add_text: tag 'note': the text is not valid UTF-8 (byte 3 is 0xc3)" in refusals[1]
    assert "hparam 'optimizer': the value is not valid UTF-8 (byte 2)" in refusals[2]

    loaded = tb_helpers.load_logdir(tmp_path)
    assert tb_helpers.log_problems(loaded.log) == []
    assert loaded.scalars()["loss"] == [(0, 1.0), (2, 3.0)]
    texts = loaded.tensors("text")
    assert [(step, value.item().decode("utf-8")) for step, value in texts["note/text_summary"]] == [(2, "café")]
