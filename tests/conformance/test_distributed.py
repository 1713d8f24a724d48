"""Distributed data-parallel training (docs/distributed.md), on CPU with Gloo over loopback.

1. `trainscope launch -n 2` trains the same loss curve as one process with the same global
   batch: the ranks shard one shared permutation DistributedSampler-style, so global batch b of
   the 2-rank run holds exactly the samples of the 1-process run's batch b, and the mean of the
   two per-rank mean gradients equals the global mean gradient. Only float summation order
   differs: rtol 1e-4 on every step's loss.
2. Only rank 0 writes event files, and its scalars are cross-rank means of what each rank
   computed locally (TRAINSCOPE_DIST_REPORT makes each rank dump its local values). Rank 1
   logs into a null sink: it creates no file or directory, in the log dir or in $TMPDIR.
   `trainscope run --no-log` (one process or launched) writes nothing under the log dir.
3. kill -9 of rank 1 makes rank 0 fail by itself, with a message naming rank 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

BUILD = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
TRAINSCOPE = BUILD / "core" / "trainscope"

# 204 training samples: 12 full global batches of 16 and a last one of 12 (6 per rank), so the
# unequal last batch is covered; 51 validation samples: rank 1's shard is padded by one.
CONFIG = """
[run]
name = "{name}"
log_dir = "{log_dir}"
seed = 3
device = "cpu"

[data]
dataset = "synthetic"
synthetic_samples = 204
synthetic_classes = 4

[model]
name = "mlp"

[trainer]
epochs = {epochs}
batch_size = 16
optimizer = "sgd"
lr = 0.05
log_every_n_steps = 1
checkpoint_every_n_epochs = 0

[[plugin]]
name = "scalars"
"""


def write_config(tmp_path: Path, name: str, epochs: int = 3) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(name=name, log_dir=tmp_path / "runs", epochs=epochs))
    return path


def env_for(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT")}
    env.update(extra)
    return env


def run(cmd: list, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def launch(n: int, *program, env: dict[str, str], extra: tuple = (), timeout: float = 300):
    return run([TRAINSCOPE, "launch", "-n", str(n), "--master-port", "0", "--timeout", "20", *extra, "--", *program],
               env, timeout)


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def event_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not TRAINSCOPE.exists():
        pytest.fail(f"{TRAINSCOPE} not built")
    tmp = tmp_path_factory.mktemp("dist")
    env = env_for(OMP_NUM_THREADS="1")
    run([TRAINSCOPE, "run", write_config(tmp, "single")], env)
    report = tmp / "report"
    # The ranks' $TMPDIR is a regular file: creating anything in it fails (for root too), so a
    # rank that wanted a scratch directory there would fail the run.
    scratch = tmp / "not-a-dir"
    scratch.write_text("")
    proc = launch(2, TRAINSCOPE, "run", write_config(tmp, "dist"),
                  env=env_for(TRAINSCOPE_DIST_REPORT=str(report), TMPDIR=str(scratch)))
    pids = re.search(r"\(pids (\d+) (\d+)\)", proc.stdout + proc.stderr)
    assert pids, proc.stdout + proc.stderr
    return tmp, report, scratch, (int(pids.group(1)), int(pids.group(2)))


def test_two_ranks_match_one_process_with_the_same_global_batch(runs):
    tmp, *_ = runs
    single = scalars(tmp / "runs" / "single")["train/loss_step"]
    dist = scalars(tmp / "runs" / "dist")["train/loss_step"]
    assert [s for s, _ in dist] == [s for s, _ in single] == list(range(1, 3 * 13 + 1))
    a, b = np.array([v for _, v in single]), np.array([v for _, v in dist])
    # The loss falls (training happened) and both runs follow the same curve.
    assert a[-1] < 0.5 * a[0]
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    for tag in ("train/loss", "val/loss", "val/accuracy"):
        np.testing.assert_allclose([v for _, v in scalars(tmp / "runs" / "dist")[tag]],
                                   [v for _, v in scalars(tmp / "runs" / "single")[tag]], rtol=1e-4, atol=1e-6)


def test_only_rank_zero_writes_and_its_scalars_are_cross_rank_means(runs):
    tmp, report, scratch, pids = runs
    # Everything under the log dir is rank 0's one event file (its name carries rank 0's pid);
    # rank 1 created nothing there, nor in its $TMPDIR (the fixture made that a file).
    everything = sorted(p.relative_to(tmp / "runs") for p in (tmp / "runs").rglob("*"))
    # single/, its event file, run lock and run-status file (docs/runs.md); dist/ likewise
    assert len(everything) == 8, everything
    assert sorted(p.name for p in everything if p.name.startswith(".")) == [".trainscope-run", ".trainscope-run",
                                                                            ".trainscope.lock", ".trainscope.lock"]
    [dist_file] = event_files(tmp / "runs" / "dist")
    assert dist_file.name.split(".")[-2] == str(pids[0]), (dist_file, pids)
    # Rank 0 alone holds the run directory's lock (docs/reliability.md): its pid is in it.
    assert (tmp / "runs" / "dist" / ".trainscope.lock").read_text().split()[0] == str(pids[0])
    assert scratch.is_file() and scratch.read_text() == ""
    ranks = [json.loads((report / f"rank{r}.json").read_text()) for r in range(2)]
    logged = scalars(tmp / "runs" / "dist")
    # Per step: the logged loss is the mean of the two ranks' local losses, which differ.
    local = np.array([r["step_loss"] for r in ranks])
    assert local.shape == (2, 39)
    assert np.abs(local[0] - local[1]).max() > 1e-3
    np.testing.assert_allclose([v for _, v in logged["train/loss_step"]], local.mean(axis=0), rtol=1e-5, atol=1e-6)
    # Per epoch: the train loss is the mean of the step means; validation sums over ranks
    # (51 samples: 26 + 25 real ones, rank 1's padded sample left out).
    np.testing.assert_allclose([v for _, v in logged["train/loss"]], local.mean(axis=0).reshape(3, 13).mean(axis=1),
                               rtol=1e-5)
    for e in range(3):
        eps = [r["epochs"][e] for r in ranks]
        assert [x["val_count"] for x in eps] == [26, 25]
        n = sum(x["val_count"] for x in eps)
        assert logged["val/loss"][e][1] == pytest.approx(sum(x["val_loss_sum"] for x in eps) / n, rel=1e-5)
        assert logged["val/accuracy"][e][1] == pytest.approx(sum(x["val_correct"] for x in eps) / n, rel=1e-6)


# Plugins that write files of their own next to the event file (projector data, Chrome traces)
# and one that writes checkpoints where it is told.
SIDE_FILE_PLUGINS = """
[[plugin]]
name = "embeddings"
samples = 32

[[plugin]]
name = "profiler"
wait = 1
warmup = 1
active = 2
repeat = 1

[[plugin]]
name = "checkpoint"
monitor = "val/loss"
save_last = true
dir = "{best}"
"""


def test_no_log_writes_nothing_under_the_log_dir(tmp_path):
    env = env_for(OMP_NUM_THREADS="1", TMPDIR=str(tmp_path))
    config = write_config(tmp_path, "quiet", epochs=1)
    best = tmp_path / "best"
    config.write_text(config.read_text() + SIDE_FILE_PLUGINS.format(best=best))
    single = run([TRAINSCOPE, "run", config, "--no-log"], env)
    assert "logs: none" in single.stdout, single.stdout
    assert "done: 13 steps" in single.stdout, single.stdout
    # The checkpoint plugin still writes where its `dir` says (outside the log dir here).
    best_files = sorted(p.name for p in best.iterdir())
    assert len(best_files) == 2 and best_files[0].startswith("epoch0001-val_loss") and best_files[1] == "last.pt"
    launched = launch(2, TRAINSCOPE, "run", write_config(tmp_path, "quiet2", epochs=1), "--no-log", env=env)
    assert "[rank 0] logs: none" in launched.stdout, launched.stdout
    # checkpoint_every_n_epochs = 0 in CONFIG: no checkpoint either, so the log dir never exists.
    assert not (tmp_path / "runs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "quiet.toml", "quiet2.toml"]
    # Without the flag, the same config writes its event file and the plugins' side files.
    shutil.rmtree(best)
    config.write_text(config.read_text().replace('name = "quiet"', 'name = "loud"'))
    run([TRAINSCOPE, "run", config], env)
    root = tmp_path / "runs" / "loud"
    assert len(event_files(root)) == 1
    assert (root / "projector_config.pbtxt").is_file()
    assert list((root / "plugins" / "profile").glob("*.pt.trace.json"))
    assert sorted(p.name for p in best.iterdir()) == best_files


def test_rank_logs_option_writes_one_run_per_rank(tmp_path):
    launch(2, TRAINSCOPE, "run", write_config(tmp_path, "per_rank", epochs=1), env=env_for(), extra=("--rank-logs",))
    root = tmp_path / "runs" / "per_rank"
    assert [p.parts[0] for p in event_files(root)] == ["rank0", "rank1"]
    # Both ranks log the same cross-rank mean loss.
    assert scalars(root / "rank0")["train/loss_step"] == scalars(root / "rank1")["train/loss_step"]


def test_killing_one_rank_ends_the_other_with_a_message_naming_it(tmp_path):
    config = write_config(tmp_path, "killed", epochs=100000)
    proc = subprocess.Popen([str(TRAINSCOPE), "launch", "-n", "2", "--master-port", "0", "--timeout", "5",
                             "--grace", "60", "--", str(TRAINSCOPE), "run", str(config)],
                            env=env_for(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    pids = None
    try:
        for line in proc.stdout:
            lines.append(line)
            if pids is None and (m := re.search(r"\(pids (\d+) (\d+)\)", line)):
                pids = int(m.group(1)), int(m.group(2))
            if pids and line.startswith("[rank 1] epoch 2/"):
                os.kill(pids[1], signal.SIGKILL)
                killed_at = time.monotonic()
                break
        lines += proc.stdout.readlines()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    print(out[-3000:], file=sys.stderr)
    print(f"launcher ended {time.monotonic() - killed_at:.1f} s after the kill", file=sys.stderr)
    assert proc.returncode != 0
    # Rank 0 noticed by itself (not stopped by the launcher) and named the lost rank.
    assert re.search(r"\[rank 0\] .*rank 1 lost", out), out[-3000:]
    assert "rank 1 was killed by signal 9" in out
    assert "rank 0 exited with code 1" in out
