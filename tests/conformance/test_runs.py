"""Run folders and run management (docs/runs.md), checked against TensorBoard 2.21.0:

* `trainscope export` gives, for every run and every scalar tag, exactly what TensorBoard's own
  loader (EventMultiplexer + MultiplexerDataProvider, as `tensorboard --load_fast=false`) holds:
  wall times, steps and values, restarts (SessionLog START) and legacy / tensor scalars included;
* a second `trainscope run` into a folder holding a run's events is refused with a message
  naming the ways out; `--overwrite` moves the old run aside (byte for byte) and starts afresh;
  `resume = "auto"` continues it; templates in run.name expand, bad ones are refused with
  file:line:column;
* `trainscope runs` lists ten runs with their state, metric and differing hparams, and
  `trainscope runs prune` deletes exactly the chosen runs' folders and nothing else.

Fixtures are small: event files written with TensorBoard's own record writer and protos, and
two short real `trainscope run`s (synthetic data, an MLP, a few steps each).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import tb_helpers
from test_kill_resume import cli, env

CONFIG = """
[run]
name = "run"
log_dir = "logs"
seed = 5
device = "cpu"

[trainer]
epochs = 2
batch_size = 16
lr = 0.01
log_every_n_steps = 100
checkpoint_every_n_epochs = 1

[data]
dataset = "synthetic"
synthetic_samples = 64
synthetic_classes = 4

[model]
name = "mlp"
hidden = 8
layers = 1

[hparams]
tag = "small"

[[plugin]]
name = "scalars"
log_every_n_steps = 1
"""


def trainscope(*args, cwd: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    e = env()
    e.update(extra_env or {})
    return subprocess.run([str(cli()), *map(str, args)], capture_output=True, text=True, timeout=120, env=e, cwd=cwd)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: relative path -> (kind, sha256 or link target, mtime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
            elif p.is_dir():
                out[rel] = ("dir", "", 0)
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    """A real trainscope run: 2 epochs, then resumed (trainer.resume = "auto") to 3 epochs, so
    its files hold a restart (SessionLog START) as a resumed run's do."""
    folder = tmp_path_factory.mktemp("real")
    (folder / "job.toml").write_text(CONFIG)
    ok(trainscope("run", "job.toml", cwd=folder))
    ok(trainscope("run", "job.toml", "--set", "trainer.epochs=3", "--set", "trainer.resume=auto", cwd=folder))
    return folder / "logs" / "run"


# ---------------------------------------------------------------------------------------------
# Event files written with TensorBoard's own writer


def write_events(path: Path, events: list) -> None:
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        w = RecordWriter(f)
        for e in events:
            w.write(e.SerializeToString() if isinstance(e, event_pb2.Event) else e)


def ev_version(wall):
    from tensorboard.compat.proto import event_pb2

    return event_pb2.Event(wall_time=wall, file_version="brain.Event:2")


def ev_scalar(wall, step, tag, value):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    return event_pb2.Event(wall_time=wall, step=step,
                           summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]))


def ev_tensor_scalar(wall, step, tag, value, first: bool):
    """A new-style scalar: a rank-0 DT_FLOAT tensor of the scalars plugin (metadata on the first)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    md = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
                                     data_class=summary_pb2.DATA_CLASS_SCALAR) if first else None
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value])
    v = summary_pb2.Summary.Value(tag=tag, tensor=t, metadata=md)
    return event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=[v]))


def ev_histogram(wall, step, tag):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    h = summary_pb2.HistogramProto(min=0, max=1, num=2, sum=1, sum_squares=1, bucket_limit=[0.5, 1], bucket=[1, 1])
    return event_pb2.Event(wall_time=wall, step=step,
                           summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, histo=h)]))


def ev_start(wall, step):
    from tensorboard.compat.proto import event_pb2

    return event_pb2.Event(wall_time=wall, step=step, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))


def events_name(t: float, n: int) -> str:
    return f"events.out.tfevents.{int(t):010d}.testhost.{1000 + n}.{n}"


def tb_written_run(run: Path, t0: float) -> None:
    """A run as PyTorch / TensorBoard writers leave it: legacy and tensor scalars, a histogram,
    a tag with a comma and quotes, a NaN, a restart at step 6 in a second file (its START is
    the run's second: the first, which opens the run, purges nothing); and beside it a run
    without a file_version, where a step going back drops that tag's later points."""
    first = [ev_version(t0), ev_start(t0, 0)]
    for s in range(10):
        first.append(ev_scalar(t0 + 0.25 * s, s, "loss", 1.0 / (s + 1)))
        first.append(ev_tensor_scalar(t0 + 0.25 * s + 0.01, s, "val/accuracy", 0.1 * s, s == 0))
        first.append(ev_histogram(t0 + 0.25 * s, s, "weights"))
    first.append(ev_scalar(t0 + 3, 3, 'odd, "quoted" tag', float("nan")))
    write_events(run / events_name(t0, 1), first)
    second = [ev_version(t0 + 10), ev_start(t0 + 10, 6)]
    for s in range(6, 14):
        second.append(ev_scalar(t0 + 10 + s, s, "loss", 0.5 / (s + 1)))
        second.append(ev_tensor_scalar(t0 + 10 + s, s, "val/accuracy", 0.05 * s, False))
    write_events(run / events_name(t0 + 10, 2), second)
    third = [ev_scalar(t0 + 30, 20, "late", 1.0), ev_scalar(t0 + 31, 21, "late", 2.0), ev_scalar(t0 + 32, 22, "late", 3.0),
             ev_scalar(t0 + 33, 21, "late", 4.0)]
    write_events(run.parent / "legacy" / events_name(t0 + 30, 4), third)
    # add_scalars' child run
    write_events(run / "lr_group" / events_name(t0, 3),
                 [ev_version(t0)] + [ev_scalar(t0 + s, s, "lr", 0.1 * 0.5**s) for s in range(4)])


def tensorboard_scalars(logdir: Path) -> dict[str, dict[str, list[tuple[float, int, float]]]]:
    loaded = tb_helpers.load_logdir(logdir)
    got = loaded.provider.read_scalars(loaded.ctx, experiment_id=tb_helpers.EXPERIMENT, plugin_name="scalars",
                                       downsample=tb_helpers.ALL)
    return {run: {tag: [(d.wall_time, d.step, d.value) for d in data] for tag, data in tags.items()}
            for run, tags in got.items()}


def same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for (wa, sa, va), (wb, sb, vb) in zip(a, b):
        if wa != wb or sa != sb or not (va == vb or (math.isnan(va) and math.isnan(vb))):
            return False
    return True


def test_export_equals_tensorboards_scalars_for_every_run_and_tag(tmp_path, real_run):
    logdir = tmp_path / "logdir"
    tb_written_run(logdir / "tb", time.time() - 100)
    shutil.copytree(real_run, logdir / "trainscope")
    expected = tensorboard_scalars(logdir)
    assert set(expected) == {"tb", "tb/lr_group", "legacy", "trainscope"}, expected.keys()
    assert len(expected["trainscope"]) >= 3 and len(expected["tb"]) == 3  # the histogram is not a scalar
    assert [s for _, s, _ in expected["tb"]["loss"]] == list(range(6)) + list(range(6, 14))  # the restart
    # No version: step 21 after 22 drops 21 and 22, then the new 21 (4.0) is kept.
    assert [(s, v) for _, s, v in expected["legacy"]["late"]] == [(20, 1.0), (21, 4.0)]
    for run, tags in expected.items():
        out_csv, out_json = tmp_path / "all.csv", tmp_path / "all.json"
        ok(trainscope("export", logdir / run, "--format", "csv", "-o", out_csv, cwd=tmp_path))
        ok(trainscope("export", logdir / run, "--format", "json", "-o", out_json, cwd=tmp_path))
        rows = list(csv.reader(io.StringIO(out_csv.read_text(), newline="")))
        assert rows[0] == ["Tag", "Wall time", "Step", "Value"]
        from_csv: dict[str, list] = {}
        for tag, wall, step, value in rows[1:]:
            from_csv.setdefault(tag, []).append((float(wall), int(step), float(value)))
        from_json = {tag: [(w, s, v) for w, s, v in pts] for tag, pts in json.loads(out_json.read_text()).items()}
        assert set(from_csv) == set(tags) == set(from_json), run
        for tag, points in tags.items():
            assert same(from_csv[tag], points), (run, tag, from_csv[tag][:3], points[:3])
            assert same(from_json[tag], points), (run, tag)
    # One tag: TensorBoard's own "download data" layout (three columns; a bare list).
    points = expected["tb"]["val/accuracy"]
    ok(trainscope("export", logdir / "tb", "--tag", "val/accuracy", "-o", tmp_path / "one.csv", cwd=tmp_path))
    raw = (tmp_path / "one.csv").read_bytes()
    assert raw.startswith(b"Wall time,Step,Value\r\n") and raw.endswith(b"\r\n")  # csv module line ends
    rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert same([(float(w), int(s), float(v)) for w, s, v in rows[1:]], points)
    single = ok(trainscope("export", logdir / "tb", "--tag", "val/accuracy", "--format", "json", cwd=tmp_path)).stdout
    assert same([tuple(p) for p in json.loads(single)], points)
    bad = trainscope("export", logdir / "tb", "--tag", "nope", cwd=tmp_path)
    assert bad.returncode == 1 and "has no scalar tag 'nope'" in bad.stderr and "val/accuracy" in bad.stderr


# ---------------------------------------------------------------------------------------------
# A second run into the same folder


def event_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*tfevents*"))}


def status_of(run_dir: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (run_dir / ".trainscope-run").read_text().splitlines()
                if "=" in line and not line.startswith("#"))


def test_a_second_run_into_a_used_folder_is_refused_and_overwrite_and_resume_do_what_they_say(tmp_path):
    (tmp_path / "job.toml").write_text(CONFIG.replace("epochs = 2", "epochs = 1"))
    ok(trainscope("run", "job.toml", cwd=tmp_path))
    run_dir = tmp_path / "logs" / "run"
    first = event_bytes(run_dir)
    assert first
    before = tree(tmp_path / "logs")

    again = trainscope("run", "job.toml", cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    msg = again.stderr
    assert "run directory 'logs/run' already holds the events of another run" in msg, msg
    assert 'resume = "auto" in [trainer]' in msg and "--set run.name=<other>" in msg, msg
    assert "--overwrite" in msg and "logs/run.old-" in msg and "nothing is deleted" in msg, msg
    # Nothing written, nothing moved (the lock file names its last holder: the refused process).
    unlocked = lambda t: {k: v for k, v in t.items() if not k.endswith(".trainscope.lock")}  # noqa: E731
    assert unlocked(tree(tmp_path / "logs")) == unlocked(before)

    # resume = "auto": the same run goes on from its checkpoint, in the same folder.
    started = status_of(run_dir)["start_time"]
    resumed = ok(trainscope("run", "job.toml", "--set", "trainer.resume=auto", "--set", "trainer.epochs=2",
                            cwd=tmp_path))
    assert "resumed from logs/run/checkpoints/epoch_0001.pt" in resumed.stdout, resumed.stdout
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["run"]
    resumed_events = event_bytes(run_dir)
    assert len(resumed_events) == len(first) + 1
    after = status_of(run_dir)
    assert after["state"] == "finished" and after["steps"] == "8" and after["start_time"] == started, after

    # --overwrite: the old run (both of its files) moves aside untouched; the new one starts afresh.
    over = ok(trainscope("run", "job.toml", "--overwrite", cwd=tmp_path))
    olds = [p for p in (tmp_path / "logs").iterdir() if p.name.startswith("run.old-")]
    assert len(olds) == 1, list((tmp_path / "logs").iterdir())
    assert f"moved the earlier run in logs/run aside to {olds[0].relative_to(tmp_path)}" in over.stdout, over.stdout
    assert event_bytes(olds[0]) == resumed_events
    new = event_bytes(run_dir)
    assert len(new) == 1 and not set(new.values()) & set(resumed_events.values())
    status = status_of(run_dir)
    assert status["state"] == "finished" and status["steps"] == "4" and status["hparam.tag"] == "small", status
    # TensorBoard sees two runs, each once: the new one from step 1.
    scalars = tensorboard_scalars(tmp_path / "logs")
    assert set(scalars) == {"run", olds[0].name}
    assert [s for _, s, _ in scalars["run"]["train/loss_step"]] == [1, 2, 3, 4]
    assert [s for _, s, _ in scalars[olds[0].name]["train/loss_step"]] == list(range(1, 9))


def test_run_name_templates_expand_and_bad_ones_are_refused_with_their_position(tmp_path):
    text = CONFIG.replace('name = "run"', 'name = "{hparams.tag}-{timestamp}"').replace(
        'log_dir = "logs"', 'log_dir = "logs/{name}/x"').replace("epochs = 2", "epochs = 1")
    (tmp_path / "job.toml").write_text(text)
    ok(trainscope("run", "job.toml", cwd=tmp_path, extra_env={"TRAINSCOPE_RUN_TIMESTAMP": "2026-12-06_21-00-00"}))
    assert list((tmp_path / "logs" / "small-2026-12-06_21-00-00" / "x" / "small-2026-12-06_21-00-00").glob(
        "events.out.tfevents.*"))

    bad = CONFIG.replace('name = "run"', 'name = "exp-{hparams.tga}-{timestmp}"').replace(
        'log_dir = "logs"', 'log_dir = "logs/{name"')
    (tmp_path / "bad.toml").write_text(bad)
    proc = trainscope("validate", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if l.startswith("bad.toml:")]
    lines_of = bad.splitlines()
    name_text, log_text = 'name = "exp-{hparams.tga}-{timestmp}"', 'log_dir = "logs/{name"'
    name_line, log_line = 1 + lines_of.index(name_text), 1 + lines_of.index(log_text)
    # Each message points at its brace (columns count from 1).
    col = {p: 1 + name_text.index(p) for p in ("{hparams.tga}", "{timestmp}")}
    assert any(l.startswith(f"bad.toml:{name_line}:{col['{hparams.tga}']}: run.name: unknown placeholder "
                            "{hparams.tga}") and "did you mean {hparams.tag}?" in l for l in lines), lines
    assert any(l.startswith(f"bad.toml:{name_line}:{col['{timestmp}']}: run.name: unknown placeholder {{timestmp}}")
               and "did you mean {timestamp}?" in l for l in lines), lines
    assert any(l.startswith(f"bad.toml:{log_line}:{1 + log_text.index('{')}: run.log_dir: a '{{' that is never "
                            "closed") for l in lines), lines


# ---------------------------------------------------------------------------------------------
# trainscope runs / runs prune on ten runs

DAY = 86400.0


def status_file(run: Path, **fields) -> None:
    hparams = fields.pop("hparams", {})
    metrics = fields.pop("metrics", {})
    lines = ["# written by the test"] + [f"{k}={v}" for k, v in fields.items()]
    lines += [f"hparam.{k}={v}" for k, v in hparams.items()] + [f"metric.{k}={v}" for k, v in metrics.items()]
    run.mkdir(parents=True, exist_ok=True)
    (run / ".trainscope-run").write_text("\n".join(lines) + "\n")


def synthetic_run(run: Path, start: float, accs: list[float], state: str, lr: float, pid: int | None = None) -> None:
    events = [ev_version(start)]
    for i, a in enumerate(accs):
        events.append(ev_scalar(start + 10 * (i + 1), 4 * (i + 1), "val/accuracy", a))
        events.append(ev_scalar(start + 10 * (i + 1), 4 * (i + 1), "train/loss", 1 - a))
    write_events(run / events_name(start, 7), events)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "checkpoints" / "epoch_0001.pt").write_bytes(b"not really a checkpoint")
    status_file(run, state=state, start_time=start, end_time="" if state == "running" else start + 10 * len(accs),
                pid=pid or 2**22 + 17, host=socket.gethostname(), name=run.name, steps=4 * len(accs),
                epochs=len(accs), message="", hparams={"lr": lr, "optimizer": "adam"})


def ten_runs(root: Path, real_run: Path) -> tuple[Path, dict]:
    """Ten runs under root/logs with known accuracies, states and ages; things outside and
    beside them that no prune may touch."""
    logs = root / "logs"
    now = time.time()
    spec = {  # name: (age in days, accuracies, state, lr)
        "a": (1, [0.50, 0.70, 0.65], "finished", 0.1),
        "b": (2, [0.60, 0.85], "finished", 0.01),
        "c": (3, [0.55, 0.90, 0.88], "finished", 0.001),
        "d": (9, [0.40, 0.45], "failed", 0.1),
        "e": (10, [0.30], "running", 0.01),  # its process is gone: a killed run (failed)
        "f": (12, [0.62, 0.80], "stopped", 0.003),
        "group/g": (20, [0.70, 0.82], "finished", 0.005),
        "group/h": (0.5, [0.20], "running", 0.002),  # live: this test holds its lock
    }
    for name, (age, accs, state, lr) in spec.items():
        synthetic_run(logs / name, now - age * DAY, accs, state, lr, pid=os.getpid() if name == "group/h" else None)
    # A run written by another tool: events, no status file.
    write_events(logs / "foreign" / events_name(now - 30 * DAY, 9),
                 [ev_version(now - 30 * DAY)] + [ev_scalar(now - 30 * DAY + s, s, "val/accuracy", 0.1 * s)
                                                 for s in range(1, 4)])
    # A real trainscope run (finished, resumed once).
    shutil.copytree(real_run, logs / "real")
    # Near misses: a folder whose name extends a run's, a file beside the runs, files outside.
    (logs / "a-notes").mkdir()
    (logs / "a-notes" / "keep.txt").write_text("not a run")
    (logs / "README").write_text("experiment notes")
    outside = root / "outside"
    (outside / "data").mkdir(parents=True)
    (outside / "data" / "big.bin").write_bytes(os.urandom(1000))
    (outside / "precious.txt").write_text("do not delete")
    os.symlink(outside / "precious.txt", logs / "d" / "link-to-outside-file")
    os.symlink(outside / "data", logs / "d" / "link-to-outside-dir")
    return logs, spec


def runs_json(logs: Path, *args) -> list[dict]:
    return json.loads(ok(trainscope("runs", logs, "--json", *args, cwd=logs.parent)).stdout)


def test_runs_lists_ten_runs_and_prune_deletes_exactly_the_chosen_ones(tmp_path, real_run):
    logs, spec = ten_runs(tmp_path, real_run)
    lock = open(logs / "group" / "h" / ".trainscope.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # group/h is "running": a live process holds its lock
    try:
        rows = {r["name"]: r for r in runs_json(logs)}
        assert set(rows) == set(spec) | {"foreign", "real"}, rows.keys()
        for name, (age, accs, state, lr) in spec.items():
            r = rows[name]
            want_state = "failed" if name == "e" else state
            assert r["state"] == want_state, (name, r)
            assert r["best"] == pytest.approx(max(accs), abs=1e-6) and r["final"] == pytest.approx(accs[-1], abs=1e-6)
            assert r["steps"] == 4 * len(accs) and r["hparams"]["lr"] == lr, r
        assert "killed" in rows["e"]["note"]
        assert rows["foreign"]["state"] == "unknown" and rows["foreign"]["best"] == pytest.approx(0.3)
        assert rows["real"]["state"] == "finished" and rows["real"]["steps"] == 12

        table = ok(trainscope("runs", logs, cwd=tmp_path)).stdout
        header = table.splitlines()[0].split()
        assert header[:8] == ["NAME", "START", "STEPS", "WALL", "STATE", "BEST", "val/accuracy", "FINAL"], header
        # lr differs between runs: a column; optimizer is "adam" in every run that has it but the
        # real and foreign runs lack it, so it shows too; "tag" only in the real run.
        assert "lr" in header and "SIZE" == header[-1], header
        assert len(table.splitlines()) == 1 + len(rows)

        by_best = runs_json(logs, "--sort", "-best")
        bests = [r["best"] for r in by_best if r["best"] is not None]
        assert bests == sorted(bests, reverse=True)
        picked = {r["name"] for r in runs_json(logs, "--filter", "lr<0.01", "--filter", "val/accuracy>=0.8")}
        assert picked == {n for n, (_, accs, _, lr) in spec.items() if lr < 0.01 and accs[-1] >= 0.8}, picked

        # Dry run: says what would go, touches nothing.
        everything = tree(tmp_path)
        dry = ok(trainscope("runs", "prune", logs, "--keep-best", "3", "--by", "val/accuracy", cwd=tmp_path)).stdout
        assert tree(tmp_path) == everything
        third = sorted((r["best"] for r in rows.values() if r["best"] is not None), reverse=True)[2]
        doomed = {n for n, r in rows.items() if r["best"] is not None and r["best"] < third and r["state"] != "running"}
        assert {l.split()[2] for l in dry.splitlines() if l.startswith("would delete")} == doomed, dry
        assert f"dry run: {len(doomed)} of {len(rows)} runs would be deleted" in dry

        # --failed, for real: d (failed) and e (killed) go; group/h (running) stays.
        out = ok(trainscope("runs", "prune", logs, "--failed", "--yes", cwd=tmp_path)).stdout
        assert "deleted 2 runs" in out, out
        gone = {"logs/d", "logs/e"}
        after = tree(tmp_path)
        kept = {k: v for k, v in everything.items() if not any(k == g or k.startswith(g + "/") for g in gone)}
        assert after == kept  # every other file, folder and link exactly as before
        assert (tmp_path / "outside" / "precious.txt").read_text() == "do not delete"
        assert (tmp_path / "outside" / "data" / "big.bin").stat().st_size == 1000

        # Older than 7 days, keeping nothing else in mind: f, group/g, foreign (d and e are gone).
        out = ok(trainscope("runs", "prune", logs, "--older-than", "7d", "--yes", cwd=tmp_path)).stdout
        assert "deleted 3 runs" in out, out
        assert sorted(r["name"] for r in runs_json(logs)) == ["a", "b", "c", "group/h", "real"]
        assert (logs / "a-notes" / "keep.txt").exists() and (logs / "README").exists() and (logs / "group").is_dir()
    finally:
        lock.close()
