"""HParams sessions written by trainscope, judged by TensorBoard's own hparams plugin backend
(backend_context.Context + the get_experiment / list_session_groups handlers over an
EventMultiplexer data provider, what `tensorboard --load_fast=false` serves) and compared
field by field with PyTorch's SummaryWriter.add_hparams.

The C++ side is tests/tools/write_hparams.cpp, driven by a small manifest (see its header).
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

import tb_helpers

TOOL_NAME = "write_hparams"
ALL_STATUSES = [0, 1, 2, 3]  # what the dashboard asks for: UNKNOWN, SUCCESS, FAILURE, RUNNING


# ----------------------------------------------------------------------------------------
# Writing with the C++ tool


def tool() -> Path:
    tools_dir = os.environ.get("TRAINSCOPE_TOOLS_DIR")
    base = Path(tools_dir) if tools_dir else tb_helpers.REPO_ROOT / "build" / "tests"
    exe = base / TOOL_NAME
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        pytest.fail(f"{exe} not found: build it first (ninja -C build {TOOL_NAME})", pytrace=False)
    return exe


def enc(text: str) -> str:
    """A manifest token (percent-encoded, so spaces, commas and '=' survive)."""
    return quote(str(text), safe="/._-")


def hp_token(hparams: dict) -> str:
    parts = []
    for k, v in hparams.items():
        if isinstance(v, bool):
            parts.append(f"{enc(k)}=b:{'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            parts.append(f"{enc(k)}=n:{float(v)!r}")
        else:
            parts.append(f"{enc(k)}=s:{enc(v)}")
    return ",".join(parts)


def value_token(v) -> str:
    return hp_token({"x": v}).split("=", 1)[1]


def metrics_token(metrics: dict) -> str:
    return ",".join(f"{enc(k)}={float(v)!r}" for k, v in metrics.items()) or "-"


def options_tokens(*, child=False, run=None, group=None, discrete=None, interval=None, step=None) -> str:
    out = []
    if child:
        out.append("child")
    if run:
        out.append(f"run={enc(run)}")
    if group:
        out.append(f"group={enc(group)}")
    if step is not None:
        out.append(f"step={int(step)}")
    for k, values in (discrete or {}).items():
        out.append(f"discrete={enc(k)}=" + "|".join(value_token(v) for v in values))
    for k, (lo, hi) in (interval or {}).items():
        out.append(f"interval={enc(k)}={float(lo)!r}:{float(hi)!r}")
    return " ".join(out)


def no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_tool(logdir: Path, lines: list[str], *, expect_rc=0, name="manifest.txt") -> subprocess.CompletedProcess:
    logdir.parent.mkdir(parents=True, exist_ok=True)
    manifest = logdir.parent / name
    manifest.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [str(tool()), str(logdir), str(manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=logdir.parent,
        preexec_fn=no_core_dump,  # the crash test aborts the tool on purpose
    )
    if proc.returncode != expect_rc:
        pytest.fail(
            f"{TOOL_NAME} exited with {proc.returncode} (expected {expect_rc})\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )
    return proc


# ----------------------------------------------------------------------------------------
# Reading with TensorBoard's hparams plugin backend


class HParamsView:
    def __init__(self, logdir: Path):
        from tensorboard.plugins import base_plugin
        from tensorboard.plugins.hparams import backend_context

        self.loaded = tb_helpers.load_logdir(logdir)
        tb_context = base_plugin.TBContext(
            data_provider=self.loaded.provider, multiplexer=self.loaded.multiplexer, logdir=str(logdir)
        )
        self.context = backend_context.Context(tb_context)

    def experiment(self):
        from tensorboard.plugins.hparams import api_pb2, get_experiment

        request = api_pb2.GetExperimentRequest()
        return get_experiment.Handler(self.loaded.ctx, self.context, tb_helpers.EXPERIMENT, request).run()

    def sessions(self) -> dict:
        """session name -> (status name, {hparam: python value}, {metric tag: value})."""
        from google.protobuf import json_format

        from tensorboard.plugins.hparams import api_pb2, list_session_groups

        request = api_pb2.ListSessionGroupsRequest(
            allowed_statuses=ALL_STATUSES, start_index=0, slice_size=1000
        )
        response = list_session_groups.Handler(self.loaded.ctx, self.context, tb_helpers.EXPERIMENT, request).run()
        out = {}
        for group in response.session_groups:
            hparams = {k: json_format.MessageToDict(v) for k, v in group.hparams.items()}
            for s in group.sessions:
                metrics = {m.name.tag: m.value for m in s.metric_values}
                out[s.name] = (api_pb2.Status.Name(s.status), hparams, metrics, s)
        return out


def f32(x: float) -> float:
    import numpy as np

    return float(np.float32(x))


# ----------------------------------------------------------------------------------------
# (1) A grid of runs, as the dashboard shows it


GRID = [
    # run, hparams, how the session is written / ends, expected status
    ("lr0.1_adam", {"lr": 0.1, "optimizer": "adam", "batch_norm": True}, "add_hparams", "STATUS_SUCCESS"),
    ("lr0.1_sgd", {"lr": 0.1, "optimizer": "sgd", "batch_norm": False}, "end_success", "STATUS_SUCCESS"),
    ("lr0.01_adam", {"lr": 0.01, "optimizer": "adam", "batch_norm": False}, "end_failure", "STATUS_FAILURE"),
    ("lr0.01_sgd", {"lr": 0.01, "optimizer": "sgd", "batch_norm": True}, "close_open", "STATUS_FAILURE"),
    ("lr0.001_adam", {"lr": 0.001, "optimizer": "adam", "batch_norm": True}, "throw", "STATUS_FAILURE"),
    ("lr0.001_sgd", {"lr": 0.001, "optimizer": "sgd", "batch_norm": False}, "destroy_open", "STATUS_FAILURE"),
]
DOMAINS = dict(discrete={"optimizer": ["adam", "sgd"]}, interval={"lr": (0.0001, 1.0)})
METRICS = ["accuracy", "loss"]


def grid_lines() -> tuple[list[str], dict]:
    lines, expected_metrics = [], {}
    for i, (run, hp, how, _) in enumerate(GRID):
        acc, loss = 0.5 + 0.05 * i, 1.0 / (i + 2)
        lines.append(f"open {run}")
        lines.append(f"scalar train/loss 1 {2 * loss!r}")
        if how == "add_hparams":
            # Metrics given to add_hparams become scalars of the run (tag = metric name).
            lines.append(f"add_hparams {hp_token(hp)} {metrics_token({'accuracy': acc, 'loss': loss})} "
                         + options_tokens(**DOMAINS))
        else:
            lines.append(f"hparams_start {hp_token(hp)} {','.join(METRICS)} " + options_tokens(**DOMAINS))
            lines.append(f"scalar accuracy 10 {acc / 2!r}")
            lines.append(f"scalar accuracy 20 {acc!r}")
            lines.append(f"scalar loss 20 {loss!r}")
            if how == "end_success":
                lines.append("hparams_end success")
            elif how == "end_failure":
                lines.append("hparams_end failure")
        lines.append({"throw": "throw", "destroy_open": "destroy"}.get(how, "close"))
        expected_metrics[run] = {"accuracy": f32(acc), "loss": f32(loss)}
    return lines, expected_metrics


def test_grid_of_runs_in_tensorboard_hparams_plugin(tmp_path):
    logdir = tmp_path / "logs"
    lines, expected_metrics = grid_lines()
    proc = run_tool(logdir, lines)
    # Every session left open is reported on the error channel (stderr by default).
    assert proc.stderr.count("ended with FAILURE") == 3, proc.stderr

    view = HParamsView(logdir)
    assert tb_helpers.log_problems(view.loaded.log) == []
    # No extra run: the sessions live in the runs that were opened, nothing else appears.
    assert view.loaded.runs() == {run for run, *_ in GRID}

    from tensorboard.plugins.hparams import api_pb2

    exp = view.experiment()
    infos = {h.name: h for h in exp.hparam_infos}
    assert {n: api_pb2.DataType.Name(h.type) for n, h in infos.items()} == {
        "lr": "DATA_TYPE_FLOAT64",
        "optimizer": "DATA_TYPE_STRING",
        "batch_norm": "DATA_TYPE_BOOL",
    }
    assert [v.string_value for v in infos["optimizer"].domain_discrete.values] == ["adam", "sgd"]
    assert (infos["lr"].domain_interval.min_value, infos["lr"].domain_interval.max_value) == (0.0001, 1.0)
    assert infos["batch_norm"].WhichOneof("domain") is None
    assert sorted((m.name.group, m.name.tag) for m in exp.metric_infos) == [("", "accuracy"), ("", "loss")]

    sessions = view.sessions()
    assert set(sessions) == {run for run, *_ in GRID}
    for run, hp, how, status in GRID:
        got_status, got_hp, got_metrics, session = sessions[run]
        assert got_status == status, (run, how)
        assert got_hp == hp, run  # real bools stay bools
        assert got_metrics == expected_metrics[run], run
        assert session.start_time_secs > 0 and session.end_time_secs >= session.start_time_secs, run


def test_exit_with_open_session_is_failure_and_a_crash_is_unknown(tmp_path):
    logdir = tmp_path / "logs"
    hp = {"lr": 0.1, "optimizer": "adam"}
    # std::exit() with the writer alive: the exit handler ends the session with FAILURE.
    proc = run_tool(logdir, ["open exited", f"hparams_start {hp_token(hp)} accuracy", "scalar accuracy 1 0.25",
                             "exit 7"], expect_rc=7, name="exit.txt")
    assert "process exiting with the hparams session still open" in proc.stderr
    # A hard crash (abort: no destructor, no exit handler) leaves no end record at all.
    run_tool(logdir, ["open crashed", f"hparams_start {hp_token(hp)} accuracy", "scalar accuracy 1 0.5", "flush",
                      "abort"], expect_rc=-signal.SIGABRT, name="abort.txt")

    sessions = HParamsView(logdir).sessions()
    assert sessions["exited"][0] == "STATUS_FAILURE"
    assert sessions["exited"][2] == {"accuracy": 0.25}
    # What TensorBoard shows for a session without an end record: STATUS_UNKNOWN, end time 0.
    status, _, metrics, session = sessions["crashed"]
    assert status == "STATUS_UNKNOWN"
    assert session.end_time_secs == 0
    assert metrics == {"accuracy": 0.5}


def test_refused_call_writes_nothing(tmp_path):
    logdir = tmp_path / "logs"
    proc = run_tool(
        logdir,
        ["open run", "add_hparams opt=s:adam acc=1 discrete=opt=s:sgd|n:1"],
        expect_rc=3,
    )
    assert "add_hparams" in proc.stderr and "'opt'" in proc.stderr and "mixes types" in proc.stderr
    view = HParamsView(logdir)
    assert view.sessions() == {}
    assert view.loaded.tensor_tags("hparams") == {}


def test_pytorch_child_run_layout(tmp_path):
    logdir = tmp_path / "logs"
    before = time.time()
    run_tool(logdir, ["open .", "scalar train/loss 1 0.5",
                      f"add_hparams {hp_token({'lr': 0.1})} {metrics_token({'hparam/acc': 0.75})} child",
                      f"add_hparams {hp_token({'lr': 0.2})} {metrics_token({'hparam/acc': 0.5})} child",
                      f"add_hparams {hp_token({'lr': 0.3})} {metrics_token({'hparam/acc': 0.25})} run=named"])
    after = time.time()
    children = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    timed = [c for c in children if c != "named"]
    assert len(timed) == 2 and "named" in children
    for name in timed:  # str(time.time()), as PyTorch names its child run
        assert re.fullmatch(r"\d+\.\d+", name), name
        assert before - 1 <= float(name) <= after + 1
        assert repr(float(name)) == name

    view = HParamsView(logdir)
    assert view.loaded.runs() == {".", *children}
    sessions = view.sessions()
    assert set(sessions) == set(children)  # the main run holds no session
    assert sorted(s[2]["hparam/acc"] for s in sessions.values()) == [0.25, 0.5, 0.75]
    assert all(s[0] == "STATUS_SUCCESS" for s in sessions.values())


# ----------------------------------------------------------------------------------------
# (3) Equivalence with PyTorch's add_hparams


def hparams_records(run_dir: Path) -> dict:
    """tag -> (step, Summary.Value, parsed HParamsPluginData) for the hparams tags of a run."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = {}
    for tag, entries in tb_helpers.raw_values(run_dir).items():
        if not tag.startswith("_hparams_/"):
            continue
        assert len(entries) == 1, tag
        step, value = entries[0]
        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        out[tag] = (step, value, data)
    return out


def normalise(data):
    """The documented differences, undone: trainscope writes real bools (PyTorch: numbers with
    DATA_TYPE_FLOAT64), records times (PyTorch leaves them 0) and orders hparams and metrics
    by name (PyTorch: dict order)."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    d = plugin_data_pb2.HParamsPluginData()
    d.CopyFrom(data)

    def bool_to_number(v):
        if v.WhichOneof("kind") == "bool_value":
            v.number_value = 1.0 if v.bool_value else 0.0

    which = d.WhichOneof("data")
    if which == "experiment":
        d.experiment.time_created_secs = 0
        for info in d.experiment.hparam_infos:
            if info.type == api_pb2.DATA_TYPE_BOOL:
                info.type = api_pb2.DATA_TYPE_FLOAT64
            for v in info.domain_discrete.values:
                bool_to_number(v)
        infos = sorted(d.experiment.hparam_infos, key=lambda h: h.name)
        metrics = sorted(d.experiment.metric_infos, key=lambda m: m.name.tag)
        del d.experiment.hparam_infos[:]
        del d.experiment.metric_infos[:]
        d.experiment.hparam_infos.extend(infos)
        d.experiment.metric_infos.extend(metrics)
    elif which == "session_start_info":
        d.session_start_info.start_time_secs = 0
        for v in d.session_start_info.hparams.values():
            bool_to_number(v)
    elif which == "session_end_info":
        d.session_end_info.end_time_secs = 0
    return d


@pytest.mark.parametrize("child", [False, True], ids=["main_run", "pytorch_child_run"])
def test_protos_equivalent_to_pytorch_add_hparams(tmp_path, child):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    hparams = {"lr": 0.01, "batch": 64, "optimizer": "adam", "name": "a b,c=d", "batch_norm": True, "dropout": False}
    metrics = {"hparam/accuracy": 0.875, "hparam/loss": 0.125}
    domains = {"optimizer": ["adam", "sgd"], "batch": [32.0, 64.0], "batch_norm": [True, False]}
    # PyTorch checks isinstance(d, type(value)): give it the same domain in its own types.
    torch_domains = {"optimizer": ["adam", "sgd"], "batch": [32, 64], "batch_norm": [True, False]}

    torch_dir = tmp_path / "torch"
    with TorchWriter(log_dir=str(torch_dir)) as w:
        w.add_hparams(hparams, metrics, hparam_domain_discrete=torch_domains)
    (torch_run,) = [p for p in torch_dir.iterdir() if p.is_dir()]

    ours_dir = tmp_path / "ours"
    run_tool(ours_dir, ["open .", f"add_hparams {hp_token(hparams)} {metrics_token(metrics)} "
                        + options_tokens(child=child, discrete=domains)])
    if child:
        (ours_run,) = [p for p in ours_dir.iterdir() if p.is_dir()]
        assert re.fullmatch(r"\d+\.\d+", ours_run.name) and re.fullmatch(r"\d+\.\d+", torch_run.name)
        assert not hparams_records(ours_dir)  # the main run holds nothing
    else:
        ours_run = ours_dir
        assert not [p for p in ours_dir.iterdir() if p.is_dir()]  # no extra run

    theirs, ours = hparams_records(torch_run), hparams_records(ours_run)
    assert set(ours) == set(theirs) == {
        "_hparams_/experiment",
        "_hparams_/session_start_info",
        "_hparams_/session_end_info",
    }
    for tag in theirs:
        t_step, t_value, t_data = theirs[tag]
        o_step, o_value, o_data = ours[tag]
        assert o_step == t_step == 0, tag
        # The same Summary.Value shape: metadata only, no tensor payload.
        assert not o_value.HasField("tensor") and not t_value.HasField("tensor"), tag
        assert o_value.WhichOneof("value") is None, tag
        assert o_value.metadata.plugin_data.plugin_name == t_value.metadata.plugin_data.plugin_name == "hparams"
        assert o_value.metadata.data_class == t_value.metadata.data_class, tag
        assert o_data.version == t_data.version == 0, tag
        assert normalise(o_data) == normalise(t_data), tag

    # The documented choices themselves.
    start = ours["_hparams_/session_start_info"][2].session_start_info
    assert start.hparams["batch_norm"].WhichOneof("kind") == "bool_value"
    assert theirs["_hparams_/session_start_info"][2].session_start_info.hparams["batch_norm"].WhichOneof(
        "kind") == "number_value"
    assert start.start_time_secs > 0
    assert ours["_hparams_/session_end_info"][2].session_end_info.end_time_secs >= start.start_time_secs

    # Metrics: float32 scalars under the metric names, in the session's run.
    def scalar_values(run_dir):
        return {tag: [(s, v.simple_value) for s, v in entries]
                for tag, entries in tb_helpers.raw_values(run_dir).items() if tag.startswith("hparam/")}

    assert scalar_values(ours_run) == scalar_values(torch_run) == {
        "hparam/accuracy": [(0, 0.875)], "hparam/loss": [(0, 0.125)]
    }
