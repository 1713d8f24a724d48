"""A full disk never aborts a run and never costs what was written before it (docs/reliability.md).

The run of test_kill_resume.py (3 epochs of 12 steps, scalars / histograms / text / hparams)
writes its files onto a small tmpfs that fills up:
  * while it logs events (no checkpoints): the run ends with exit status 1 and the message,
    the event file holds every record that fit, whole, and TensorBoard reads them all;
  * while it writes a checkpoint: no abort (libtorch's writer used to throw from its
    destructor: SIGABRT), no `.tmp` left, the message names the checkpoint; with
    trainer.on_write_error = "stop" (the default) the run stops after that epoch, with
    "continue" it trains to the end; the exit status is 1 either way, and the events up to
    the failed checkpoint's step (its validation metrics included) are readable;
  * before it starts (the disk is already full): exit status 1 with the message, no abort.
The tmpfs is mounted with `mount -t tmpfs -o size=...`; where that is not allowed (no root or
CAP_SYS_ADMIN) the tests skip and say so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import tb_helpers
from test_kill_resume import EPOCHS, STEPS_PER_EPOCH, TIMED_PREFIXES, cli, env, view, write_config

ALL_STEPS = list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command here: the full-disk tests need a small tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {r.stderr.strip() or r.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def run(cfg: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = [str(cli()), "run", cfg.name]
    for o in overrides:
        args += ["--set", o]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env(), cwd=cfg.parent)


def check_no_abort(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"exit status {proc.returncode} (negative: killed by a signal)\n{out}"
    assert "terminate called" not in out and "enforce fail" not in out, out
    return out


def steps(got: dict, tag: str) -> list[int]:
    return [s for s, _ in got["run"].get(tag, [])]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full_disk_reference")
    cfg = write_config(folder)
    proc = run(cfg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got, problems = view(folder / "logs")
    assert problems == []
    return got


def test_events_that_do_not_fit(tmp_path, reference):
    cfg = write_config(tmp_path)
    # 64 KiB: a third of the run's events; no checkpoint (only the event file fills the disk).
    with tmpfs(tmp_path / "logs", "64k") as logs:
        proc = run(cfg, "trainer.checkpoint_every_n_epochs=0")
        out = check_no_abort(proc)
        assert "No space left on device" in out, out
        assert "trainscope run: incomplete: event files: cannot write" in proc.stderr, proc.stderr
        files = [p for p in (logs / "run").iterdir() if "tfevents" in p.name]
        assert len(files) == 1
        size = files[0].stat().st_size
        got, problems = view(logs)
    # Whole records only (TensorBoard reports no truncated or corrupt record) ...
    assert problems == [], problems
    # ... and the file is full: records that fit were written although a batch's last ones
    # did not (tmpfs counts 4 KiB pages: 16 in all, one of them the lock file's).
    assert size > 48 * 1024, size
    # Every step of every tag that reached the disk is there once, with the reference's
    # value: a prefix of the run, with nothing lost before the fault.
    loss = steps(got, "train/loss_step")
    assert loss and loss == steps(reference, "train/loss_step")[: len(loss)], loss
    for tag, points in got["run"].items():
        s = [p for p, _ in points]
        assert len(s) == len(set(s)), f"{tag}: steps twice"
        assert set(s) <= set(steps(reference, tag)), tag
        if not tag.startswith(TIMED_PREFIXES):
            want = dict(reference["run"][tag])
            assert all(want[p] == v for p, v in points), f"{tag}: values differ from the reference"


@pytest.mark.parametrize("policy", ["stop", "continue"])
def test_a_checkpoint_that_does_not_fit(tmp_path, reference, policy):
    cfg = write_config(tmp_path)
    # The events go to the normal disk; the checkpoints (about 170 KB each) to 96 KiB.
    with tmpfs(tmp_path / "ckpt", "96k") as ckpt:
        overrides = [f"trainer.checkpoint_dir={ckpt}"]
        if policy == "continue":
            overrides.append("trainer.on_write_error=continue")
        proc = run(cfg, *overrides)
        out = check_no_abort(proc)
        first = f"{ckpt}/epoch_0001.pt"
        assert f"checkpoint {first} not written: cannot write checkpoint {first}: No space left on device" in out, out
        assert sorted(p.name for p in ckpt.iterdir()) == [], "a failed checkpoint leaves nothing behind"
    got, problems = view(tmp_path / "logs")
    assert problems == [], problems
    if policy == "stop":
        assert "stopping (trainer.on_write_error = \"stop\"" in out, out
        # The failed checkpoint's epoch was logged in full, its validation metrics included.
        assert steps(got, "val/loss") == [STEPS_PER_EPOCH]
        assert steps(got, "train/loss_step") == [s for s in ALL_STEPS[:STEPS_PER_EPOCH] if s % 2 == 0]
    else:
        assert "training goes on (trainer.on_write_error = \"continue\")" in out, out
        assert f"checkpoint {ckpt}/epoch_0003.pt not written" in out  # every checkpoint was tried
        assert steps(got, "val/loss") == steps(reference, "val/loss")
        assert steps(got, "train/loss_step") == steps(reference, "train/loss_step")
    assert "trainscope run: incomplete: " in proc.stderr


def test_events_and_checkpoints_on_one_small_disk(tmp_path, reference):
    """The issue's case: a 200 KB file system, a checkpoint that does not fit after epoch 1.
    The epoch's events reach the file (they used to stay in the queue when the process aborted)."""
    cfg = write_config(tmp_path)
    with tmpfs(tmp_path / "logs", "200k") as logs:
        proc = run(cfg)
        out = check_no_abort(proc)
        assert "epoch_0001.pt not written" in out, out
        assert list((logs / "run" / "checkpoints").glob("*.tmp")) == []
        got, problems = view(logs)
    assert problems == [], problems
    assert steps(got, "val/loss") == [STEPS_PER_EPOCH]
    assert dict(got["run"]["val/loss"]) == {STEPS_PER_EPOCH: dict(reference["run"]["val/loss"])[STEPS_PER_EPOCH]}


def test_a_disk_full_before_the_start(tmp_path):
    cfg = write_config(tmp_path)
    with tmpfs(tmp_path / "logs", "64k") as logs:
        (logs / "run").mkdir()
        fd = os.open(logs / "filler", os.O_WRONLY | os.O_CREAT)  # fill the file system
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        proc = run(cfg)
        out = check_no_abort(proc)
        assert "trainscope run: " in proc.stderr and "No space left on device" in proc.stderr, out
        assert "logs/run/events.out.tfevents." in proc.stderr, proc.stderr  # names the file


def test_on_write_error_takes_stop_or_continue(tmp_path):
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace('resume = "auto"', 'resume = "auto"\non_write_error = "later"'))
    proc = subprocess.run([str(cli()), "validate", cfg.name], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    line = 1 + cfg.read_text().splitlines().index('on_write_error = "later"')
    assert (f"kill.toml:{line}:18: trainer.on_write_error: unknown on_write_error 'later' "
            "(expected one of: stop, continue)") in proc.stdout + proc.stderr, proc.stdout + proc.stderr
