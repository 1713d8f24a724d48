"""A client for tests/tools/sweep_algo_tool (trainscope's samplers and pruners behind a JSON
line protocol), shared by the sweep conformance tests."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def tool_path() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    exe = (Path(tools_dir) if tools_dir else REPO_ROOT / "build" / "tests") / "sweep_algo_tool"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(
            f"{exe} not found: build it first (ninja -C build sweep_algo_tool), or point "
            "TRAINSCOPE_TOOLS_DIR at the folder that holds it",
            pytrace=False,
        )
    return exe


def number(v: float) -> float | str:
    """JSON has no NaN or infinities: send them as Python's json spells them, quoted."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


class SweepTool:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(tool_path())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def request(self, req: dict) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req, allow_nan=False) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"sweep_algo_tool: {answer['error']} (request {req['op']})")
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def trial_json(t) -> dict:
    """An optuna FrozenTrial as the tool reads it (external parameter values)."""
    return {
        "number": t.number,
        "state": t.state.name,
        "value": None if t.value is None else number(t.value),
        "params": dict(t.params),
        "intermediate_values": {str(s): number(v) for s, v in t.intermediate_values.items()},
        "system_attrs": dict(t.system_attrs),
    }
