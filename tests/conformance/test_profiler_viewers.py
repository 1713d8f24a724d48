"""The profiler plugin's Kineto trace in the two viewers issue 15 names, through their own
loaders: the PyTorch Profiler TensorBoard plugin (torch-tb-profiler 0.4.3: RunLoader, what its
TensorBoard plugin calls for a run directory) and Holistic Trace Analysis (HolisticTraceAnalysis
0.5.0: TraceAnalysis).

One run of the main job (scripts/main.sh: examples/fashion_mnist_cnn with its TOML and every
plugin), shortened to 1 epoch of 10 batches on the CPU. Its profiler runs at the defaults
(wait 1, warmup 1, active 3): steps 3, 4 and 5 are recorded, each with the trainer's named
ranges for the batch's loading, zero_grad, forward, backward and optimizer step.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

import tb_helpers

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DATA = "enumerate(DataLoader)#BatchLoader.__next__"
FORWARD = "trainscope::forward"
BACKWARD = "trainscope::backward"
ZERO_GRAD = "Optimizer.zero_grad#Adam.zero_grad"  # the TOML's optimizer = "adam"
STEP = "Optimizer.step#Adam.step"
PHASES = (DATA, ZERO_GRAD, FORWARD, BACKWARD, STEP)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> dict:
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"{FASHION_MNIST} is missing: apt install dataset-fashion-mnist", pytrace=False)
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR") or tb_helpers.REPO_ROOT / "build")
    exe = build / "examples" / "fashion_mnist_cnn" / "fashion_mnist_cnn"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: ninja -C {build} fashion_mnist_cnn bundled_plugins", pytrace=False)
    logs = tmp_path_factory.mktemp("viewers") / "runs"
    toml = tb_helpers.REPO_ROOT / "examples" / "fashion_mnist_cnn" / "fashion_mnist_cnn.toml"
    sets = ["trainer.epochs=1", "data.train_limit=640", "data.val_limit=128", "run.device=cpu", f"run.log_dir={logs}"]
    cmd = [str(exe), str(toml)] + [a for s in sets for a in ("--set", s)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"plugins: .*\bprofiler\b", out) and "was disabled" not in out, out
    trace_dir = logs / "fashion_mnist_cnn" / "plugins" / "profile"
    (path,) = trace_dir.glob("*.pt.trace.json")
    with path.open() as f:
        trace = json.load(f)
    return {"dir": trace_dir, "path": path, "trace": trace}


def complete(trace: dict) -> list[dict]:
    return [e for e in trace["traceEvents"] if e.get("ph") == "X"]


def step_numbers(trace: dict) -> list[int]:
    return sorted(int(e["name"].split("#")[1]) for e in complete(trace) if e["name"].startswith("ProfilerStep#"))


def inside(e: dict, outer: dict) -> bool:
    return outer["ts"] <= e["ts"] and e["ts"] + e["dur"] <= outer["ts"] + outer["dur"]


# ---- torch-tb-profiler ---------------------------------------------------------------------


def load_with_tb_profiler(trace_dir: Path):
    """The run as torch-tb-profiler's TensorBoard plugin loads it (plugin._load_run)."""
    from torch_tb_profiler import io
    from torch_tb_profiler.profiler import RunLoader

    with tempfile.TemporaryDirectory() as cache_dir:
        return RunLoader("fashion_mnist_cnn", str(trace_dir), io.Cache(cache_dir)).load()


def descendants(node):
    for child in node.children:
        yield child
        yield from descendants(child)


def test_tb_profiler_overview_and_step_phases(main_job):
    from torch_tb_profiler.profiler.node import DataLoaderNode, OptimizerNode, ProfilerStepNode
    from torch_tb_profiler.profiler.op_tree import OpTreeBuilder

    run = load_with_tb_profiler(main_job["dir"])
    (profile,) = run.get_profiles()
    assert "Overview" in [v.display_name for v in profile.views]
    steps = step_numbers(main_job["trace"])
    assert steps == [3, 4, 5]

    # Overview: the step time breakdown. On the CPU its parts are DataLoader, CPU Exec, Other.
    overview = profile.overview
    (performance,) = overview["performance"]
    parts = {c["name"]: c for c in performance["children"]}
    assert set(parts) == {"DataLoader", "CPU Exec", "Other"}, parts
    assert parts["DataLoader"]["value"] > 0 and parts["DataLoader"]["extra"] > 0, parts
    assert parts["CPU Exec"]["value"] > 0, parts
    # Against the raw trace: the loader ranges' mean time per step (the Overview rounds to us).
    events = complete(main_job["trace"])
    step_events = [e for e in events if e["name"].startswith("ProfilerStep#")]
    data_us = sum(e["dur"] for e in events if e["name"] == DATA and any(inside(e, s) for s in step_events))
    assert abs(parts["DataLoader"]["value"] - data_us / len(step_events)) <= 1, (parts, data_us)
    columns = [c.get("name") for c in overview["steps"]["columns"]]
    rows = overview["steps"]["rows"]
    assert [r[0] for r in rows] == [str(s) for s in steps]
    for r in rows:  # every recorded step's bar has a DataLoader part
        assert r[columns.index("DataLoader")] > 0, (columns, r)

    # The phases in the operator tree torch-tb-profiler builds (its Trace, Operator and Diff
    # views): one of each per ProfilerStep, classified by its own rules where it has one.
    (root,) = [t for t in profile.tid2tree.values() if any(isinstance(c, ProfilerStepNode) for c in t.children)]
    step_nodes = [c for c in root.children if isinstance(c, ProfilerStepNode)]
    assert [n.name for n in step_nodes] == [f"ProfilerStep#{s}" for s in steps]
    for step in step_nodes:
        phases = {}
        for name in PHASES:
            (node,) = [c for c in step.children if c.name == name]
            phases[name] = node
        assert type(phases[DATA]) is DataLoaderNode
        assert type(phases[STEP]) is OptimizerNode
        total = step.end_time - step.start_time
        shares = {n: (node.end_time - node.start_time) / total for n, node in phases.items()}
        assert all(s > 0 for s in shares.values()), shares
        assert sum(shares.values()) <= 1 + 1e-9, shares
        # Forward holds the model (SimpleCNN's two convolutions); backward holds what
        # torch-tb-profiler takes for the backward pass (the autograd engine's functions).
        convs = [d for d in descendants(phases[FORWARD]) if d.name == "aten::conv2d"]
        assert len(convs) == 2, step.name
        autograd = [d for d in descendants(phases[BACKWARD]) if d.name.startswith(OpTreeBuilder.BACKWARD_ROOT_PREFIX)]
        assert autograd, step.name
        assert not [d for d in descendants(phases[FORWARD]) if d.name.startswith(OpTreeBuilder.BACKWARD_ROOT_PREFIX)]


# ---- Holistic Trace Analysis ---------------------------------------------------------------


def test_hta_loads_the_main_jobs_trace(main_job, caplog):
    from hta.trace_analysis import TraceAnalysis

    with caplog.at_level(logging.WARNING):
        analysis = TraceAnalysis(trace_dir=str(main_job["dir"]))
    # The rank comes from the trace's distributedInfo (HTA warns and assumes 0 without it).
    assert analysis.t.trace_files == {0: str(main_job["path"])}
    assert not [r for r in caplog.records if "distributedInfo" in r.getMessage()]
    # HTA's iterations are the ProfilerStep ranges but the last (its kernels may be cut off).
    recorded = step_numbers(main_job["trace"])
    assert [int(s) for s in analysis.get_profiler_steps()] == recorded[:-1]

    df = analysis.t.get_trace(0)
    names = analysis.t.symbol_table.get_sym_table()
    df = df.assign(op=df["name"].map(lambda i: names[i]))
    assert len(df) > 0
    for it in recorded[:-1]:
        ops = df[df["iteration"] == it]
        counts = ops["op"].value_counts()
        for name in PHASES:  # each phase once per iteration, with a duration
            assert counts.get(name) == 1, (it, name)
            assert ops.loc[ops["op"] == name, "dur"].iloc[0] > 0, (it, name)
        assert counts.get("aten::conv2d", 0) >= 2, (it, counts.head(20))  # the model's two
        (step,) = ops.loc[ops["op"] == f"ProfilerStep#{it}", "dur"]
        assert ops[ops["op"].isin(PHASES)]["dur"].sum() <= step, it
