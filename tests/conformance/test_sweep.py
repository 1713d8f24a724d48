"""`trainscope sweep` end to end: worker processes sharing one study through Optuna's journal
file, a worker killed mid-trial (the parent replaces it; a killed sweep resumes), and the study
as TensorBoard 2.21.0's hparams plugin and optuna 5.0.0 read it.

"Cheap" trials use the command's hidden --test-objective flag: the trial's configuration is
loaded and checked as usual and its values are reported to the study and the pruner as usual,
but instead of training, the objective is a fixed function of the parameters (sweep_trial.cpp).
That keeps 200 trials of four processes within seconds while the storage, the sampler, the
pruner and the process handling are the real ones. The other tests train for real (synthetic
data, a tiny MLP).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import tb_helpers

optuna = pytest.importorskip("optuna")
from optuna.storages import JournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

FINISHED = {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}


def trainscope() -> Path:
    build = Path(os.environ.get("TRAINSCOPE_BUILD_DIR") or tb_helpers.REPO_ROOT / "build")
    exe = build / "core" / "trainscope"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C {build} trainscope)", pytrace=False)
    return exe


BASE = """[run]
name = "base"
log_dir = "runs"
device = "cpu"
seed = 1
[trainer]
epochs = {epochs}
batch_size = 16
checkpoint_every_n_epochs = 0
log_every_n_steps = 1000
[data]
dataset = "synthetic"
synthetic_samples = {samples}
synthetic_classes = 4
[model]
name = "mlp"
hidden = 16
"""


def write_config(tmp_path: Path, sweep: str, epochs: int = 3, samples: int = 64, name: str = "study") -> Path:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(BASE.format(epochs=epochs, samples=samples) + sweep)
    return cfg


def sweep(cfg: Path, *args: str, timeout: int = 60, expect_rc: int = 0) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(trainscope()), "sweep", cfg.name, *args], cwd=cfg.parent, capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode != expect_rc:
        pytest.fail(f"trainscope sweep exited with {proc.returncode} (expected {expect_rc})\n"
                    f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}", pytrace=False)
    return proc.stdout + proc.stderr


def load_study(journal: Path, name: str):
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=name, storage=storage)


# ------------------------------------------------------------------------------------------


def test_a_bad_sweep_table_is_refused_before_any_trial(tmp_path):
    cfg = write_config(tmp_path, """[sweep]
n_trials = 0
[sweep.params]
"trainer.lr" = { type = "float", low = 0.001, high = 0.1, log = true }
""")
    out = sweep(cfg, expect_rc=1)
    assert "study.toml:19:12: sweep.n_trials must be >= 1 (got 0)" in out
    assert not (tmp_path / "runs").exists(), "nothing may be started or written"
    cfg = write_config(tmp_path, """[sweep]
[sweep.params]
"trainer.lrr" = { type = "float", low = 0.001, high = 0.1, log = true }
"trainer.optimizer" = { type = "categorical", choices = ["sgd", 2] }
""")
    out = sweep(cfg, expect_rc=1)
    assert ("study.toml:20:1: sweep.params.\"trainer.lrr\": value 0.001 is refused: unknown key 'lrr' in [trainer]; "
            "did you mean 'lr'?") in out
    assert ("study.toml:21:1: sweep.params.\"trainer.optimizer\": value 2 is refused: trainer.optimizer: expected "
            "string, got int") in out
    assert not (tmp_path / "runs").exists(), "nothing may be started or written"
    # validate checks the table the same way; run accepts such a file and says it ignores [sweep].
    proc = subprocess.run([str(trainscope()), "validate", cfg.name], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "study.toml:20:1: sweep.params.\"trainer.lrr\"" in proc.stderr


def test_four_workers_share_200_cheap_trials(tmp_path):
    # A grid of exactly 200 points: every point once, whichever worker draws it.
    cfg = write_config(tmp_path, """[sweep]
study = "grid200"
metric = "val/loss"
n_trials = 200
sampler = "grid"
pruner = "median"
[sweep.params]
"trainer.lr" = { type = "float", low = 0.01, high = 0.1, step = 0.01 }
"trainer.batch_size" = { type = "int", low = 8, high = 40, step = 8 }
"trainer.optimizer" = { type = "categorical", choices = ["sgd", "adam"] }
"trainer.momentum" = { type = "float", low = 0.8, high = 0.9, step = 0.1 }
"trainer.weight_decay" = { type = "categorical", choices = [0.0] }
""")
    t0 = time.monotonic()
    out = sweep(cfg, "-j", "4", "--test-objective", timeout=120)
    elapsed = time.monotonic() - t0
    assert "study 'grid200': 200 finished of 200" in out, out[-2000:]

    study = load_study(tmp_path / "runs" / "grid200.journal", "grid200")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 200
    assert sorted(t.number for t in trials) == list(range(200)), "trial numbers must be unique and dense"
    assert all(t.state in FINISHED for t in trials)
    points = [(round(t.params["trainer.lr"], 6), t.params["trainer.batch_size"], t.params["trainer.optimizer"],
               round(t.params["trainer.momentum"], 6)) for t in trials]
    assert len(set(points)) == 200, "a grid point was drawn twice"
    grid = set(itertools.product([round(0.01 * k, 6) for k in range(1, 11)], [8, 16, 24, 32, 40], ["sgd", "adam"],
                                 [0.8, 0.9]))
    assert set(points) == grid
    workers = {t.system_attrs["trainscope:worker"]["pid"] for t in trials
               if "trainscope:worker" in t.system_attrs}
    assert len(workers) >= 2, f"the trials were not shared between processes: {workers}"
    # The pruner ran: the later, worse trials stop early; the epochs add up.
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    epochs = sum(len(t.intermediate_values) for t in trials)
    assert f"total epochs trained: {epochs} " in out
    assert pruned, "the median pruner never pruned"
    print(f"200 trials, 4 workers: {elapsed:.1f} s; {len(pruned)} pruned; {epochs} epochs")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def running_trials(journal: Path) -> set[int]:
    """Trial ids created and not finished yet, read straight from the journal lines."""
    running: set[int] = set()
    created = 0
    if not journal.exists():
        return running
    for line in journal.read_text().splitlines():
        try:
            op = json.loads(line)
        except json.JSONDecodeError:
            break  # a line being written
        if op.get("op_code") == 4:  # CREATE_TRIAL
            running.add(created)
            created += 1
        elif op.get("op_code") == 6 and op.get("state") in (1, 2, 3):  # SET_TRIAL_STATE_VALUES
            running.discard(op["trial_id"])
    return running


def wait_for_running(journal: Path, proc: subprocess.Popen, timeout: float = 30) -> set[int]:
    """A trial in the middle of its training: RUNNING, and the journal's lock free. (A worker
    killed while it holds the lock is handled too, by breaking the lock after Optuna's 30 s
    grace period, but that would make this test slow.)"""
    end = time.monotonic() + timeout
    lock = journal.with_name(journal.name + ".lock")
    while time.monotonic() < end:
        r = running_trials(journal)
        if r and not os.path.lexists(lock):
            return r
        assert proc.poll() is None, "the sweep ended before any trial was running"
        time.sleep(0.02)
    pytest.fail("no trial started", pytrace=False)


REAL_SWEEP = """[sweep]
study = "kill"
metric = "val/accuracy"
direction = "maximize"
n_trials = 4
sampler = "random"
seed = 5
[sweep.params]
"trainer.lr" = { type = "float", low = 0.001, high = 0.1, log = true }
"trainer.optimizer" = { type = "categorical", choices = ["sgd", "adam"] }
"""


def test_sigkill_of_a_sweep_mid_trial_then_resume(tmp_path):
    # Real training, long enough (2048 samples, 4 epochs) to be killed in the middle of a trial.
    cfg = write_config(tmp_path, REAL_SWEEP, epochs=4, samples=4096)
    journal = tmp_path / "runs" / "kill.journal"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(trainscope()), "sweep", cfg.name], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        running = wait_for_running(journal, proc)
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its worker, as a crash or `kill -9` would
    finally:
        proc.wait(timeout=30)
    assert len(running) == 1
    [killed] = running
    # The killed trial is still RUNNING in the journal.
    assert load_study(journal, "kill").trials[killed].state == TrialState.RUNNING

    out = sweep(cfg, timeout=120)
    assert f"resumed:  trial {killed} was RUNNING in a worker that is gone: now FAIL" in out, out
    trials = load_study(journal, "kill").get_trials(deepcopy=False)
    assert trials[killed].state == TrialState.FAIL
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 4 and len(trials) == 4, [(t.number, t.state) for t in trials]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3


def test_a_killed_worker_is_replaced(tmp_path):
    cfg = write_config(tmp_path, REAL_SWEEP, epochs=4, samples=4096)
    journal = tmp_path / "runs" / "kill.journal"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(trainscope()), "sweep", cfg.name], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        [killed] = wait_for_running(journal, proc)
        [worker] = children(proc.pid)
        os.kill(worker, signal.SIGKILL)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert "worker 0 was killed by signal 9" in out and f"trial {killed} was RUNNING in it: now FAIL" in out, out
    assert "study 'kill': 4 finished of 4 (3 complete, 0 pruned, 1 failed)" in out, out
    assert load_study(journal, "kill").trials[killed].state == TrialState.FAIL


def test_tensorboard_lists_every_trial_with_params_metrics_and_state(tmp_path):
    # Real training; data.dataset = "fashion_mnist" with a data.path that does not exist passes
    # validation (the data is read at run time) and fails to load: those trials FAIL.
    cfg = write_config(tmp_path, """[sweep]
study = "tb"
metric = "val/accuracy"
direction = "maximize"
n_trials = 4
sampler = "grid"
[sweep.params]
"trainer.optimizer" = { type = "categorical", choices = ["sgd", "adam"] }
"data.dataset" = { type = "categorical", choices = ["synthetic", "fashion_mnist"] }
""", epochs=2)
    sweep(cfg, "-j", "2", "--set", 'data.path="no-such-data"', timeout=120)
    study_dir = tmp_path / "runs" / "tb"
    trials = {f"trial-{t.number}": t for t in load_study(tmp_path / "runs" / "tb.journal", "tb").trials}
    assert len(trials) == 4

    from google.protobuf import json_format
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, list_session_groups

    loaded = tb_helpers.load_logdir(study_dir)
    context = backend_context.Context(base_plugin.TBContext(data_provider=loaded.provider,
                                                            multiplexer=loaded.multiplexer, logdir=str(study_dir)))
    experiment = get_experiment.Handler(loaded.ctx, context, tb_helpers.EXPERIMENT,
                                        api_pb2.GetExperimentRequest()).run()
    infos = {h.name: h for h in experiment.hparam_infos}
    assert set(infos) == {"trainer.optimizer", "data.dataset", "trial", "trial_state"}
    assert [v.string_value for v in infos["trainer.optimizer"].domain_discrete.values] == ["sgd", "adam"]
    assert [v.string_value for v in infos["data.dataset"].domain_discrete.values] == ["synthetic", "fashion_mnist"]
    assert {v.string_value for v in infos["trial_state"].domain_discrete.values} == {"COMPLETE", "PRUNED", "FAIL"}
    assert {m.name.tag for m in experiment.metric_infos} == {"sweep/val/accuracy", "sweep/epochs"}

    request = api_pb2.ListSessionGroupsRequest(allowed_statuses=[0, 1, 2, 3], start_index=0, slice_size=100)
    response = list_session_groups.Handler(loaded.ctx, context, tb_helpers.EXPERIMENT, request).run()
    sessions = {}
    for group in response.session_groups:
        for s in group.sessions:
            sessions[s.name] = ({k: json_format.MessageToDict(v) for k, v in group.hparams.items()},
                                {m.name.tag: m.value for m in s.metric_values}, api_pb2.Status.Name(s.status))
    assert set(sessions) == set(trials), sessions.keys()
    states = set()
    for name, (hparams, metrics, status) in sessions.items():
        t = trials[name]
        states.add(t.state)
        assert hparams["trainer.optimizer"] == t.params["trainer.optimizer"]
        assert hparams["data.dataset"] == t.params["data.dataset"]
        assert hparams["trial"] == t.number
        assert hparams["trial_state"] == t.state.name
        assert status == ("STATUS_FAILURE" if t.state == TrialState.FAIL else "STATUS_SUCCESS")
        assert metrics["sweep/epochs"] == len(t.intermediate_values)
        if t.state == TrialState.COMPLETE:
            assert metrics["sweep/val/accuracy"] == pytest.approx(t.value, abs=1e-6)
            assert t.value == t.intermediate_values[max(t.intermediate_values)], "the value is the last validation's"
        else:
            assert "fail_reason" in t.user_attrs and "Fashion-MNIST not found" in t.user_attrs["fail_reason"]
    assert states == {TrialState.COMPLETE, TrialState.FAIL}


@pytest.mark.parametrize("name", ["fmnist_grid", "fmnist_tpe"])
def test_the_example_studies_are_valid(name):
    cfg = tb_helpers.REPO_ROOT / "examples" / "sweeps" / f"{name}.toml"
    proc = subprocess.run([str(trainscope()), "validate", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"sweep '{name}'" in proc.stdout
