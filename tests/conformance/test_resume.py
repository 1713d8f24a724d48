"""A resumed run continues the same TensorBoard run, and TensorBoard shows each step once.

tests/tools/resume_run.cpp trains twice into one run directory: the second fit resumes from
the first's checkpoint after epoch 2 (step 12). Every fit opens its event file with a
SessionLog START: the first at step 0, the resumed one at step 13 (the checkpoint's step + 1).
TensorBoard's loader (EventMultiplexer with purge_orphaned_data, its default) takes a run's
first START as the session's beginning and every later one as a restart, hiding the events
read so far with step >= 13. (A resumed file's START alone would be taken as the beginning
and purge nothing.)

Two ways the first run ends:
  * stop:  a plugin stops it right after epoch 2; nothing was logged past the checkpoint.
  * crash: its model throws in epoch 3 after two batches (steps 13 and 14 were logged by the
           crashed run); the resumed run's values must replace them.
The checkpoint records the event files' sizes (written and fsynced up to its step), and the
resume cuts the crashed run's file back to them (docs/reliability.md): steps 13 and 14 are
gone from the first file before TensorBoard reads it, so the purge has nothing to hide.
Hooks before the optimizer step (after_forward, epoch_begin) log at the step counter before
it advances (the resumed run's first batch logs them at step 12); the crash scenario leaves
them out (tests/tools/resume_run.cpp), tests/conformance/test_kill_resume.py covers them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tb_helpers

STEPS_PER_EPOCH = 6
EPOCHS = 4
CHECKPOINT_STEP = 2 * STEPS_PER_EPOCH


def resume_tool() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    base = Path(tools_dir) if tools_dir else tb_helpers.REPO_ROOT / "build" / "tests"
    exe = base / "resume_run"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C build resume_run)", pytrace=False)
    return exe


def run_scenario(tmp_path: Path, scenario: str) -> tb_helpers.Loaded:
    logdir = tmp_path / scenario
    proc = subprocess.run([str(resume_tool()), str(logdir), scenario], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"resume_run exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert f"run 2: steps {EPOCHS * STEPS_PER_EPOCH} epochs {EPOCHS} resumed_from " in proc.stdout, proc.stdout
    assert "epoch_0002.pt" in proc.stdout, proc.stdout
    files = sorted(p.name for p in (logdir / "run").iterdir() if "tfevents" in p.name)
    assert len(files) == 2, files  # one event file per fit, in the same run directory
    return tb_helpers.load_logdir(logdir)


def steps_of(loaded: tb_helpers.Loaded) -> dict[str, list[int]]:
    return {tag: [s for s, _ in points] for tag, points in loaded.scalars("run").items()}


def check_each_step_once(steps: dict[str, list[int]], tags: list[str]) -> None:
    all_steps = list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    epoch_ends = [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert steps["train/loss"] == all_steps
    assert steps["run/id"] == all_steps
    assert steps["val/loss"] == epoch_ends
    assert steps["val/accuracy"] == epoch_ends
    if "train/forward_loss" in tags:
        assert steps["train/forward_loss"] == [s - 1 for s in all_steps]
    if "epoch/begin" in tags:
        assert steps["epoch/begin"] == [e - STEPS_PER_EPOCH for e in epoch_ends]
    # The trainer's own per-plugin overhead scalars follow the same rule.
    overhead = steps["trainscope/overhead/logger"]
    assert overhead == sorted(set(overhead)), overhead


@pytest.mark.parametrize("scenario", ["stop", "crash"])
def test_resumed_run_shows_each_step_once(tmp_path, scenario):
    loaded = run_scenario(tmp_path, scenario)
    assert loaded.runs() == {"run"}
    problems = tb_helpers.log_problems(loaded.log)
    # The crashed run's steps 13 and 14 were cut off by the resume: no purge to announce.
    assert problems == []
    steps = steps_of(loaded)
    tags = ["train/loss", "run/id", "val/loss", "val/accuracy"]
    if scenario == "stop":
        tags += ["train/forward_loss", "epoch/begin"]
    assert set(tags) <= set(steps), sorted(steps)
    check_each_step_once(steps, tags)

    # Steps up to the checkpoint come from the first run, the rest from the resumed one
    # (after a crash, its own steps 13 and 14 replace the crashed run's).
    ids = dict(loaded.scalars("run")["run/id"])
    assert {s for s, v in ids.items() if v == 1.0} == set(range(1, CHECKPOINT_STEP + 1))
    assert {s for s, v in ids.items() if v == 2.0} == set(range(CHECKPOINT_STEP + 1, EPOCHS * STEPS_PER_EPOCH + 1))


def test_resumed_file_starts_with_the_purge_step(tmp_path):
    logdir = tmp_path / "raw"
    subprocess.run([str(resume_tool()), str(logdir), "crash"], check=True, capture_output=True, timeout=300)
    files = sorted(p for p in (logdir / "run").iterdir() if "tfevents" in p.name)
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2

    first = list(event_file_loader.LegacyEventFileLoader(str(files[0])).Load())
    second = list(event_file_loader.LegacyEventFileLoader(str(files[1])).Load())
    for events in (first, second):
        assert events[0].file_version == "brain.Event:2"
        assert events[1].session_log.status == event_pb2.SessionLog.START
    assert first[1].step == 0
    assert second[1].step == CHECKPOINT_STEP + 1
    # The crashed run logged steps 13 and 14 after its checkpoint; the resume cut them off its
    # file (they would show twice in a viewer that ignores the purge, such as the Rust loader).
    crashed = sorted(ev.step for ev in first for v in ev.summary.value if v.tag == "train/loss")
    assert crashed == list(range(1, CHECKPOINT_STEP + 1))
