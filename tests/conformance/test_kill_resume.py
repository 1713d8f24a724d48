"""A run killed with SIGKILL at any moment and resumed (trainer.resume = "auto") shows, in the
real TensorBoard 2.21.0, exactly what an uninterrupted run shows: every tag, every step once,
every value equal (docs/reliability.md).

One small `trainscope run` (synthetic data, an MLP, 3 epochs of 12 steps, a checkpoint per
epoch, the scalars / histograms / text / hparams plugins: per-step scalars and histograms,
epoch-level validation metrics, the hparams session, the config text and the model summary,
the custom-scalars layout, the profiler's per-step timings and a top-operators table per
profiling cycle) is run once uninterrupted as the reference. Then, 20 times, the
same run is started in a fresh folder, killed with SIGKILL at a seeded random moment (three of
them the instant each checkpoint file appears, when its events are most at risk), and resumed
to the end. TensorBoard's own loader (EventMultiplexer, as `tensorboard --load_fast=false`)
must then give the same runs, tags, steps (each once) and values as the reference.

Values must be equal, not close: training on the CPU with one thread, the same seed, and the
random generators, optimizer and model restored from the checkpoint, is bit-for-bit
reproducible. Tags whose values are wall-clock measurements (perf/*, trainscope/overhead/*)
(time/*, profiler/*) and the hparams records (they hold start and end times) are compared by steps
only.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import tb_helpers

EPOCHS = 3
STEPS_PER_EPOCH = 12
KILLS = 20
SEED = 20261206

CONFIG = """
[run]
name = "run"
log_dir = "logs"
seed = 7
device = "cpu"

[trainer]
epochs = {epochs}
batch_size = 16
lr = 0.01
log_every_n_steps = 1
checkpoint_every_n_epochs = 1
resume = "auto"

[data]
dataset = "synthetic"
synthetic_samples = {samples}
synthetic_classes = 4

[model]
name = "mlp"
hidden = 16
layers = 1

[hparams]
purpose = "kill test"

[[plugin]]
name = "scalars"
log_every_n_steps = 2

[[plugin]]
name = "histograms"
every_n_steps = 3

[[plugin]]
name = "text"

[[plugin]]
name = "hparams"
metrics = ["val/loss", "val/accuracy"]
"""

# A profiling cycle every 4 steps: per-step timings and a top-operators table per cycle.
PROFILER = """
[[plugin]]
name = "profiler"
repeat = 0
"""

# Values that are measurements of time: compared by their steps only.
TIMED_PREFIXES = ("perf/", "time/", "trainscope/overhead/", "_hparams_/", "profiler/")


def cli() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR", tb_helpers.REPO_ROOT / "build"))
    exe = build / "core" / "trainscope"
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build the project first (ninja -C build trainscope)", pytrace=False)
    return exe


def env() -> dict:
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"  # one intra-op thread: reductions in one order, values bit-exact
    return e


def write_config(folder: Path, profiler: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "kill.toml"
    # Relative paths, run from `folder`: the config text (logged by the text plugin) is then the
    # same in every folder.
    cfg.write_text(CONFIG.format(epochs=EPOCHS, samples=STEPS_PER_EPOCH * 16) + (PROFILER if profiler else ""))
    return cfg


def run_to_end(cfg: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(cli()), "run", cfg.name], capture_output=True, text=True, timeout=120, env=env(),
                          cwd=cfg.parent)
    assert proc.returncode == 0, f"trainscope run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def start(cfg: Path, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([str(cli()), "run", cfg.name], stdout=stdout, stderr=subprocess.DEVNULL, env=env(),
                            cwd=cfg.parent, text=True)


def kill_after_line(cfg: Path, pattern: str, delay: float) -> str:
    """Starts a run and SIGKILLs it `delay` seconds after it printed a line matching `pattern`
    (the console shows every step: log_every_n_steps = 1; it flushes every line)."""
    proc = start(cfg, stdout=subprocess.PIPE)
    try:
        for line in proc.stdout:
            if re.search(pattern, line):
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return f"killed {delay * 1000:.1f} ms after '{line.strip()}'"
        pytest.fail(f"the run ended without printing a line matching {pattern!r}")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def kill_at_checkpoint(cfg: Path, epoch: int) -> str:
    """Starts a run and SIGKILLs it the moment checkpoints/epoch_<epoch>.pt appears."""
    target = cfg.parent / "logs" / "run" / "checkpoints" / f"epoch_{epoch:04d}.pt"
    proc = start(cfg)
    deadline = time.monotonic() + 60
    while not target.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run ended without writing {target}")
        time.sleep(0.0002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return f"killed as {target.name} appeared"


def view(logdir: Path) -> tuple[dict, list[str]]:
    """run -> tag -> [(step, value bytes)] as TensorBoard's loader holds them after its purges."""
    loaded = tb_helpers.load_logdir(logdir)
    out = {}
    for run in sorted(loaded.multiplexer.Runs()):
        acc = loaded.multiplexer.GetAccumulator(run)
        tags = {}
        for tag in acc.Tags()["tensors"]:
            tags[tag] = [(e.step, e.tensor_proto.SerializeToString(deterministic=True)) for e in acc.Tensors(tag)]
        out[run] = tags
    return out, tb_helpers.log_problems(loaded.log)


def differences(got: dict, want: dict) -> list[str]:
    problems = []
    if set(got) != set(want):
        return [f"runs {sorted(got)} != {sorted(want)}"]
    for run in want:
        g, w = got[run], want[run]
        for tag in sorted(set(g) | set(w)):
            if tag not in g or tag not in w:
                problems.append(f"{run}/{tag}: only in the {'resumed' if tag in g else 'reference'} run")
                continue
            gs, ws = [s for s, _ in g[tag]], [s for s, _ in w[tag]]
            if len(set(gs)) != len(gs):
                problems.append(f"{run}/{tag}: steps twice: {sorted(s for s in set(gs) if gs.count(s) > 1)}")
            if sorted(gs) != sorted(ws):
                missing, extra = sorted(set(ws) - set(gs)), sorted(set(gs) - set(ws))
                problems.append(f"{run}/{tag}: steps missing {missing}, extra {extra}")
                continue
            if tag.startswith(TIMED_PREFIXES):
                continue
            bad = [s for (s, gv), (_, wv) in zip(sorted(g[tag]), sorted(w[tag])) if gv != wv]
            if bad:
                problems.append(f"{run}/{tag}: values differ at steps {bad}")
    return problems


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill_reference")
    cfg = write_config(folder, profiler=True)
    t0 = time.monotonic()
    run_to_end(cfg)
    seconds = time.monotonic() - t0
    got, problems = view(folder / "logs")
    assert problems == [], problems
    steps = dict(got["run"]["train/loss_epoch"]) if "train/loss_epoch" in got["run"] else {}
    assert got["run"], "the reference run logged nothing"
    return got, seconds, steps


def kill_plan() -> list[tuple[str, object, float]]:
    """20 moments: the instant each checkpoint file appears; shortly after each epoch's end is
    printed (its validation metrics are being written, its checkpoint is next); during the
    teardown after the last epoch; and at seeded random steps, a random 0-3 ms after the step
    was printed."""
    rng = random.Random(SEED)
    plan: list[tuple[str, object, float]] = [("checkpoint", e, 0.0) for e in range(1, EPOCHS + 1)]
    plan += [("line", rf"^epoch {e}/{EPOCHS} done", rng.uniform(0, 0.002)) for e in range(1, EPOCHS + 1)]
    plan.append(("line", r"^done: ", 0.0))
    while len(plan) < KILLS:
        step = rng.randint(1, EPOCHS * STEPS_PER_EPOCH)
        plan.append(("line", rf" step {step} ", rng.uniform(0, 0.003)))
    return plan


def test_the_reference_run_is_reproducible(reference, tmp_path):
    """Equal values are only a fair demand if two uninterrupted runs agree."""
    want, _, _ = reference
    cfg = write_config(tmp_path, profiler=True)
    run_to_end(cfg)
    got, problems = view(tmp_path / "logs")
    assert problems == []
    assert differences(got, want) == []


@pytest.mark.parametrize("index", range(KILLS))
def test_kill_and_resume_matches_an_uninterrupted_run(reference, tmp_path, index):
    want, _, _ = reference
    kind, what, delay = kill_plan()[index]
    cfg = write_config(tmp_path, profiler=True)
    how = kill_at_checkpoint(cfg, what) if kind == "checkpoint" else kill_after_line(cfg, what, delay)
    run_dir = tmp_path / "logs" / "run"
    had_checkpoint = any((run_dir / "checkpoints").glob("epoch_*.pt"))
    # A kill while a checkpoint (or a profiler trace) is being written leaves its .tmp: the
    # resume removes it.
    proc = run_to_end(cfg)  # resume = "auto": from the newest checkpoint, or afresh without one
    leftovers = sorted(p.name for p in run_dir.rglob("*.tmp"))
    assert leftovers == [], f"{how}: temporary files left after the resume: {leftovers}"
    got, problems = view(tmp_path / "logs")
    # Resumed from a checkpoint, the killed run's files were cut back to it: TensorBoard has
    # nothing to purge and nothing to complain about (no truncated or corrupt record). Killed
    # before the first checkpoint, the run starts afresh and its SessionLog START at step 0
    # makes TensorBoard purge the killed attempt's events, which it says at WARNING.
    if had_checkpoint:
        assert problems == [], f"{how}: {problems}"
    else:
        assert [p for p in problems if "Purging" not in p] == [], f"{how}: {problems}"
    diff = differences(got, want)
    assert diff == [], f"{how} ({proc.stdout.splitlines()[-4:]}):\n" + "\n".join(diff)


def test_a_plugin_enabled_on_resume_writes_its_once_per_run_records(tmp_path):
    """The once-per-run records are skipped on resume only when the checkpoint's run wrote
    them: the text plugin, enabled only for the resumed fit, writes the config and the model
    summary (once, at the resumed fit's first step)."""
    cfg = write_config(tmp_path)
    full = cfg.read_text()
    without_text = full.replace('[[plugin]]\nname = "text"\n', "")
    assert without_text != full
    cfg.write_text(without_text.replace(f"epochs = {EPOCHS}", "epochs = 1"))
    run_to_end(cfg)
    cfg.write_text(full)
    run_to_end(cfg)
    got, problems = view(tmp_path / "logs")
    assert problems == []
    assert [s for s, _ in got["run"]["config/text_summary"]] == [STEPS_PER_EPOCH]
    assert [s for s, _ in got["run"]["model/summary/text_summary"]] == [STEPS_PER_EPOCH]
    # The scalars plugin's layout was written by the first fit: once, at step 0.
    assert [s for s, _ in got["run"]["custom_scalars__config__"]] == [0]
