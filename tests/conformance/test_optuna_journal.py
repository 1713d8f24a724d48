"""trainscope's Optuna journal storage against the real optuna==5.0.0 and optuna-dashboard==0.21.0.

The C++ tool sweep_journal_tool writes and dumps studies through trainscope::sweep; Python Optuna
loads the same journal (file and Redis) and must see every trial field the tool dumped, and a
study begun by Python Optuna must be continued by trainscope and load again in Optuna.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
from optuna.distributions import json_to_distribution  # noqa: E402
from optuna.storages import JournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_NAME = "sweep_journal_tool"


def tool() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    exe = (Path(tools_dir) if tools_dir else REPO_ROOT / "build" / "tests") / TOOL_NAME
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(
            f"{exe} not found: build it first (ninja -C build {TOOL_NAME}), or point "
            "TRAINSCOPE_TOOLS_DIR at the folder that holds it",
            pytrace=False,
        )
    return exe


def run_tool(*args: str) -> str:
    proc = subprocess.run([str(tool()), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{TOOL_NAME} {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


def dump(url: str, study: str) -> dict:
    return json.loads(run_tool("dump", url, study))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_utc(dt: datetime | None) -> datetime | None:
    # Optuna hands out naive local times; astimezone() reads a naive time as local.
    return None if dt is None else dt.astimezone(timezone.utc)


def assert_same(dumped: dict, trials: list) -> None:
    """Every field of trainscope's view equals Optuna's FrozenTrial, types included."""
    assert len(dumped["trials"]) == len(trials)
    for d, t in zip(dumped["trials"], trials):
        where = f"trial {t.number}"
        assert d["number"] == t.number, where
        assert d["trial_id"] == t._trial_id, where
        assert d["state"] == t.state.name, where
        assert d["value"] == t.value, where
        assert d["params"] == t.params, where
        for name, value in t.params.items():
            assert type(d["params"][name]) is type(value), (where, name, d["params"][name], value)
        assert {k: json_to_distribution(json.dumps(v)) for k, v in d["distributions"].items()} == t.distributions
        assert {int(k): v for k, v in d["intermediate_values"].items()} == t.intermediate_values, where
        assert d["user_attrs"] == t.user_attrs, where
        assert d["system_attrs"] == t.system_attrs, where
        for field in ("datetime_start", "datetime_complete"):
            mine = d[field] and datetime.fromisoformat(d[field])
            assert mine == as_utc(getattr(t, field)), (where, field)


def check_trainscope_study(url: str, storage) -> None:
    run_tool("create", url, "ts", "minimize")
    run_tool("run-trials", url, "ts", "5", "--leave-running")
    dumped = dump(url, "ts")
    study = optuna.load_study(study_name="ts", storage=storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = study.get_trials(deepcopy=False)
    assert_same(dumped, trials)
    states = [t.state for t in trials]
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING} == set(states)
    assert states.count(TrialState.FAIL) == 1
    # Pruned trials carry their last intermediate value, as Optuna's own tell does.
    for t in trials:
        if t.state == TrialState.PRUNED:
            assert t.value == t.intermediate_values[max(t.intermediate_values)]
    assert study.best_trial.value == min(t.value for t in trials if t.state == TrialState.COMPLETE)


def test_optuna_loads_a_trainscope_journal_file(tmp_path):
    path = tmp_path / "study.journal"
    check_trainscope_study(str(path), JournalStorage(JournalFileBackend(str(path))))
    assert not Path(str(path) + ".lock").exists()


def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    trial.suggest_int("units", 16, 128, step=16)
    trial.suggest_categorical("opt", ["adam", "sgd", 3, 0.5, True, None])
    for step in range(3):
        trial.report((x - 1.0) ** 2 + 1.0 / (step + 1), step)
        if trial.number == 1 and step == 1:
            raise optuna.TrialPruned()
    if trial.number == 2:
        raise RuntimeError("objective raised")
    return (x - 1.0) ** 2


def test_trainscope_continues_a_study_begun_by_optuna(tmp_path):
    path = str(tmp_path / "study.journal")
    storage = JournalStorage(JournalFileBackend(path))
    study = optuna.create_study(study_name="py", storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
    study.set_user_attr("owner", {"name": "python"})
    study.optimize(objective, n_trials=4, catch=(RuntimeError,))
    running = study.ask({"x": optuna.distributions.FloatDistribution(-5.0, 5.0)})  # never told: RUNNING
    running.set_user_attr("nan", float("nan"))  # Python writes a bare NaN token
    before = [t.state for t in study.get_trials()]
    assert before == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE,
                      TrialState.RUNNING]

    # trainscope sees Python's trials field for field ...
    storage_view = optuna.load_study(study_name="py", storage=JournalStorage(JournalFileBackend(path)))
    dumped = dump(path, "py")
    trials = storage_view.get_trials(deepcopy=False)
    assert dumped["trials"][4]["user_attrs"].pop("nan") == "NaN"  # the token, kept as Python wrote it
    assert math.isnan(trials[4].user_attrs.pop("nan"))
    assert_same(dumped, trials)

    # ... continues the study ...
    run_tool("run-trials", path, "py", "3")
    # ... and Optuna loads every trial, old and new, and goes on numbering after them.
    study = optuna.load_study(study_name="py", storage=JournalStorage(JournalFileBackend(path)))
    study.optimize(objective, n_trials=1)
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(9))
    dumped = dump(path, "py")
    for t in (dumped["trials"][4], trials[4]):
        (t["user_attrs"] if isinstance(t, dict) else t.user_attrs).pop("nan", None)
    assert_same(dumped, trials)
    # The tool numbered its trials 5-7 (it saw the five before): 5 % 3 == 2 is pruned, its second fails.
    assert [t.state for t in trials[5:8]] == [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[8].state == TrialState.COMPLETE and "x" in trials[8].params
    assert study.user_attrs == {"owner": {"name": "python"}}


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(server):
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    pytest.importorskip("redis", reason="the redis PyPI package (scripts/setup.sh installs it) is missing")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/2"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_optuna_loads_a_trainscope_redis_journal_and_continues_it(redis_url):
    from optuna.storages.journal import JournalRedisBackend

    check_trainscope_study(redis_url, JournalStorage(JournalRedisBackend(redis_url)))
    # Python appends to the same Redis journal and trainscope reads its records.
    study = optuna.load_study(study_name="ts", storage=JournalStorage(JournalRedisBackend(redis_url)))
    study.optimize(objective, n_trials=2)
    assert_same(dump(redis_url, "ts"), study.get_trials(deepcopy=False))


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_optuna_dashboard_serves_a_trainscope_journal(tmp_path):
    pytest.importorskip("optuna_dashboard")
    path = str(tmp_path / "study.journal")
    run_tool("create", path, "ts", "maximize")
    run_tool("run-trials", path, "ts", "4")
    dumped = dump(path, "ts")
    port = free_port()
    code = (
        "import optuna, optuna_dashboard, sys\n"
        "from optuna.storages.journal import JournalFileBackend\n"
        "storage = optuna.storages.JournalStorage(JournalFileBackend(sys.argv[1]))\n"
        "optuna_dashboard.run_server(storage, host='127.0.0.1', port=int(sys.argv[2]))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, path, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                studies = get_json(f"http://127.0.0.1:{port}/api/studies")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "optuna-dashboard did not answer"
                time.sleep(0.1)
        [summary] = [s for s in studies["study_summaries"] if s["study_name"] == "ts"]
        assert summary["study_id"] == dumped["study_id"]
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}")
        served = detail["trials"]
        assert [t["number"] for t in served] == [t["number"] for t in dumped["trials"]]
        assert [t["state"].upper() for t in served] == [t["state"] for t in dumped["trials"]]
        for s, d in zip(served, dumped["trials"]):
            assert {p["name"] for p in s["params"]} == set(d["params"])
            assert [v["value"] for v in s["intermediate_values"]] == list(d["intermediate_values"].values())
        assert [t["number"] for t in detail["best_trials"]] == [
            max((t for t in dumped["trials"] if t["state"] == "COMPLETE"), key=lambda t: t["value"])["number"]
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_python_and_trainscope_writers_share_one_file(tmp_path):
    """Both take Optuna's symlink lock: concurrent appends never interleave inside a line."""
    path = str(tmp_path / "study.journal")
    stop = tmp_path / "stop"
    run_tool("create", path, "ts", "minimize")
    # The Python writer runs trials until told to stop, so it writes all the time the tool does.
    code = (
        "import optuna, os, sys\n"
        "from optuna.storages.journal import JournalFileBackend\n"
        "optuna.logging.set_verbosity(optuna.logging.WARNING)\n"
        "storage = optuna.storages.JournalStorage(JournalFileBackend(sys.argv[1]))\n"
        "study = optuna.create_study(study_name='py', storage=storage)\n"
        "def until_stopped(study, trial):\n"
        "    if os.path.exists(sys.argv[2]):\n"
        "        study.stop()\n"
        "study.optimize(lambda t: t.suggest_float('x', 0, 1) ** 2, n_trials=5000, callbacks=[until_stopped])\n"
    )
    python_writer = subprocess.Popen([sys.executable, "-c", code, path, str(stop)])
    try:
        deadline = time.monotonic() + 20
        while '"study_name":"py"' not in Path(path).read_text():  # Python has begun writing
            assert python_writer.poll() is None and time.monotonic() < deadline, "the Python writer did not start"
            time.sleep(0.02)
        run_tool("run-trials", path, "ts", "15")
        assert python_writer.poll() is None, "the Python writer stopped early"
    finally:
        stop.touch()
        assert python_writer.wait(timeout=60) == 0
    lines = Path(path).read_text().splitlines()
    assert all(json.loads(line)["op_code"] in range(11) for line in lines)
    storage = JournalStorage(JournalFileBackend(path))
    py = optuna.load_study(study_name="py", storage=storage).get_trials(deepcopy=False)
    assert len(py) > 1 and all(t.state == TrialState.COMPLETE for t in py)
    ts = optuna.load_study(study_name="ts", storage=storage).get_trials(deepcopy=False)
    assert_same(dump(path, "ts"), ts)
    assert [t.number for t in ts] == list(range(15))
