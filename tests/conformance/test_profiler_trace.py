"""The profiler plugin through the real CLI: its Chrome trace parses as JSON with ProfilerStep
ranges and operator events, its top-operators table agrees with the trace, and its phase
timings are positive and nested as the phases are.

One `trainscope run` of simple_cnn on 64 synthetic samples (4 batches x 2 epochs = 8 steps)
with the profiler on the schedule wait=1, warmup=1, active=2, repeat=1: steps 3 and 4 are
recorded.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest

import tb_helpers

CONFIG = """
[run]
name = "prof"
log_dir = "{log_dir}"
seed = 2
device = "cpu"

[trainer]
epochs = 2
batch_size = 16
optimizer = "sgd"
lr = 0.01
log_every_n_steps = 2
checkpoint_every_n_epochs = 0

[data]
dataset = "synthetic"
synthetic_samples = 64
synthetic_classes = 4

[model]
name = "simple_cnn"

[[plugin]]
name = "profiler"
on_error = "abort"
wait = 1
warmup = 1
active = 2
repeat = 1
top_ops = 100
"""

TRACE_NAME = re.compile(r"(?P<host>.+)_(?P<pid>[0-9]+)\.(?P<ns>[0-9]+)\.pt\.trace\.json")
ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<calls>[0-9]+) \| (?P<self>[0-9.]+) \| (?P<total>[0-9.]+) \|", re.M)


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build trainscope profiler)", pytrace=False)
    return exe


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiler")
    cfg = root / "prof.toml"
    cfg.write_text(CONFIG.format(log_dir=root / "runs"))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "was disabled" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    run_dir = root / "runs" / "prof"
    traces = sorted((run_dir / "plugins" / "profile").glob("*"))
    assert len(traces) == 1, traces
    with traces[0].open() as f:
        trace = json.load(f)  # the acceptance check: it parses as JSON
    return run_dir, traces[0], trace, tb_helpers.load_logdir(root / "runs")


def complete_events(trace: dict) -> list[dict]:
    return [e for e in trace["traceEvents"] if e.get("ph") == "X"]


def test_trace_file_name(profiled):
    _, path, _, _ = profiled
    m = TRACE_NAME.fullmatch(path.name)
    assert m, path.name
    assert m["host"] == socket.gethostname()
    assert int(m["ns"]) > 0


def test_trace_has_profiler_step_ranges_and_operators(profiled):
    _, _, trace, _ = profiled
    assert isinstance(trace.get("traceEvents"), list) and trace["traceEvents"]
    events = complete_events(trace)
    steps = [e for e in events if e["name"].startswith("ProfilerStep#")]
    assert sorted(e["name"] for e in steps) == ["ProfilerStep#3", "ProfilerStep#4"]
    assert all(float(e["dur"]) > 0 for e in steps)

    ops = [e for e in events if e.get("cat") == "cpu_op"]
    names = Counter(e["name"] for e in ops)
    # simple_cnn: conv1, conv2, fc1..fc3 in each of the two recorded forwards.
    assert names["aten::conv2d"] == 2 * 2, names.most_common(20)
    assert names["aten::addmm"] == 3 * 2, names.most_common(20)  # the C++ Linear's op
    # Every convolution of the cycle lies inside a ProfilerStep range of its thread.
    for op in (e for e in ops if e["name"] == "aten::conv2d"):
        start, end = float(op["ts"]), float(op["ts"]) + float(op["dur"])
        assert any(
            s["tid"] == op["tid"] and float(s["ts"]) <= start and end <= float(s["ts"]) + float(s["dur"]) for s in steps
        ), op


def test_top_ops_table_agrees_with_the_trace(profiled):
    _, path, trace, loaded = profiled
    texts = loaded.tensors("text", run="prof")
    (tag,) = [t for t in texts if t.startswith("profiler/top_ops")]
    ((step, value),) = texts[tag]
    assert step == 4  # the cycle's last step
    text = value.item().decode() if hasattr(value, "item") else value
    assert f"Steps 3-4, trace `plugins/profile/{path.name}`" in text
    rows = {m["name"]: m for m in ROW.finditer(text)}
    assert rows, text
    calls = Counter(e["name"] for e in complete_events(trace) if e.get("cat") == "cpu_op")
    for name in ("aten::conv2d", "aten::addmm"):
        assert name in rows, (name, text)
    for name, row in rows.items():
        if name in calls:  # operators: the table counts what the trace holds
            assert int(row["calls"]) == calls[name], (name, row[0])
        assert float(row["self"]) <= float(row["total"]) + 1e-3, row[0]


def test_phase_timings(profiled):
    _, _, _, loaded = profiled
    scalars = loaded.scalars(run="prof")
    phases = ("forward", "backward", "optimizer", "step")
    by = {p: dict(scalars[f"time/{p}_ms"]) for p in phases}
    for p in phases:
        assert sorted(by[p]) == list(range(1, 9)), (p, by[p])
        assert all(v > 0 for v in by[p].values()), (p, by[p])
    assert sorted(dict(scalars["time/data_ms"])) == [2, 3, 4, 6, 7, 8]
    for s in range(1, 9):
        inner = by["forward"][s] + by["backward"][s] + by["optimizer"][s]
        assert inner <= by["step"][s] * (1 + 1e-6), (s, inner, by["step"][s])


# ---- The trainer's phase ranges inside the ProfilerStep ranges ----------------------------

PHASES = (
    "enumerate(DataLoader)#BatchLoader.__next__",
    "Optimizer.zero_grad#SGD.zero_grad",
    "trainscope::forward",
    "trainscope::backward",
    "Optimizer.step#SGD.step",
)


def within(e: dict, outer: dict) -> bool:
    return float(outer["ts"]) <= float(e["ts"]) and float(e["ts"]) + float(e["dur"]) <= float(outer["ts"]) + float(
        outer["dur"]
    )


def test_steps_hold_the_phase_ranges_in_order(profiled):
    _, _, trace, _ = profiled
    assert trace["distributedInfo"] == {"rank": 0, "world_size": 1}
    events = complete_events(trace)
    for step in (e for e in events if e["name"].startswith("ProfilerStep#")):
        phases = [e for e in events if e["name"] in PHASES and within(e, step)]
        # One of each, in the loop's order (steps 3 and 4 are batches 2 and 3 of the first
        # epoch: the range opened at the previous batch's end holds the loading).
        assert [e["name"] for e in sorted(phases, key=lambda e: float(e["ts"]))] == list(PHASES), step["name"]
        # Operator ranges, not user annotations (torch-tb-profiler 0.4.3 drops those).
        assert all(e["cat"] == "cpu_op" and float(e["dur"]) > 0 for e in phases), phases


def test_first_batch_of_an_epoch_loads_before_its_step(tmp_path):
    # skip_first 2, wait 0, warmup 1, active 3: steps 4, 5, 6 recorded; 5 is epoch 1's first batch.
    cfg = tmp_path / "prof.toml"
    text = CONFIG.format(log_dir=tmp_path / "runs").replace("wait = 1\n", "skip_first = 2\nwait = 0\n")
    cfg.write_text(text.replace("active = 2\n", "active = 3\n"))
    proc = subprocess.run([str(cli()), "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = (tmp_path / "runs" / "prof" / "plugins" / "profile").glob("*.pt.trace.json")
    events = complete_events(json.loads(path.read_text()))
    steps = {int(e["name"].split("#")[1]): e for e in events if e["name"].startswith("ProfilerStep#")}
    assert sorted(steps) == [4, 5, 6]
    loads = sorted((e for e in events if e["name"] == PHASES[0]), key=lambda e: float(e["ts"]))
    assert [any(within(d, steps[s]) for d in loads) for s in (4, 5, 6)] == [True, False, True]
    # Epoch 1's first load ran after step 4 and before step 5 began (validation between).
    first = [d for d in loads if float(steps[4]["ts"]) + float(steps[4]["dur"]) <= float(d["ts"])][0]
    assert float(first["ts"]) + float(first["dur"]) <= float(steps[5]["ts"])
    for s in (4, 5, 6):  # the other phases lie in every step
        assert {e["name"] for e in events if e["name"] in PHASES[1:] and within(e, steps[s])} == set(PHASES[1:]), s
