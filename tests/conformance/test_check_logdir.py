"""check_logdir.py, the GPU check's judge (scripts/gpu_check.sh), can fail: a log dir written by the
C++ write_summaries tool passes with the tags it holds and fails, naming the tag, with one it
lacks; a corrupt event file fails the loader check; a profiler trace without GPU kernels fails
`--kernels required`; HTA (--hta) loads a trace folder and, on CUDA, breaks down its GPU time;
`conformance-config` is test_plugins_all's run with only the device and the
names changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

import check_logdir
import tb_helpers
import test_plugins_all

CHECKER = Path(__file__).resolve().parent / "check_logdir.py"


def check(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), *map(str, args)], capture_output=True, text=True, timeout=120)


def write(manifest, logdir: Path) -> Path:
    manifest.scalar("loss", 1, 0.5)
    manifest.image("picture", 1, np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5))
    tb_helpers.run_tool(logdir, manifest.write())
    return logdir


def test_met_and_unmet_expectations(manifest, tmp_path):
    logdir = write(manifest, tmp_path / "logs")
    ok = check("check", logdir, "--run", ".", "--expect", "scalars loss", "--expect", "images pic.*")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS .: --expect expectations: 2 met" in ok.stdout
    assert "PASS .: images decode: 1 PNGs of 1 tags" in ok.stdout

    bad = check("check", logdir, "--run", ".", "--expect", "scalars loss", "--expect", "scalars accuracy")
    assert bad.returncode == 1, bad.stdout
    assert "FAIL .: --expect expectations: scalars accuracy (listed: ['loss'])" in bad.stdout

    missing_run = check("check", logdir, "--run", "other")
    assert missing_run.returncode == 1 and "FAIL runs present" in missing_run.stdout


def test_a_corrupt_event_file_fails(manifest, tmp_path):
    logdir = write(manifest, tmp_path / "logs")
    [events] = [p for p in logdir.iterdir() if "tfevents" in p.name]
    data = bytearray(events.read_bytes())
    data[-6] ^= 0xFF  # inside the last record's payload: its CRC no longer matches
    events.write_bytes(bytes(data))
    proc = check("check", logdir)
    assert proc.returncode == 1, proc.stdout
    assert "FAIL TensorBoard loads without complaint" in proc.stdout


def test_gpu_kernels_are_required_of_a_cuda_trace(manifest, tmp_path):
    logdir = tmp_path / "logs"
    write(manifest, logdir / "run")
    profile = logdir / "run" / "plugins" / "profile"
    profile.mkdir(parents=True)
    events = [{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#3", "ts": 0, "dur": 10, "tid": 1},
              {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1, "dur": 5, "tid": 1}]
    trace = profile / "host_1.1.pt.trace.json"
    trace.write_text(json.dumps({"traceEvents": events}))
    cpu = check("check", logdir, "--run", "run", "--kernels", "required")
    assert cpu.returncode == 1, cpu.stdout
    assert "FAIL run: trace holds GPU kernels: 0 kernel events" in cpu.stdout
    assert "SKIPPED run: trace holds GPU kernels" in check("check", logdir, "--run", "run").stdout

    events.append({"ph": "X", "cat": "kernel", "name": "sm90_sgemm", "ts": 2, "dur": 3, "tid": 7})
    trace.write_text(json.dumps({"traceEvents": events}))
    gpu = check("check", logdir, "--run", "run", "--kernels", "required")
    assert gpu.returncode == 0, gpu.stdout
    assert "PASS run: trace holds GPU kernels: 1 kernel events, 1 distinct" in gpu.stdout

    trace.write_text('{"traceEvents": [')  # cut short
    assert "FAIL run: trace host_1.1.pt.trace.json parses" in check("check", logdir, "--run", "run").stdout


def test_hta_loads_the_traces_and_breaks_down_gpu_time(manifest, tmp_path, capsys):
    logdir = tmp_path / "logs"
    write(manifest, logdir / "run")
    profile = logdir / "run" / "plugins" / "profile"
    profile.mkdir(parents=True)
    events = []
    for i, step in enumerate((3, 4)):  # two steps, each one aten::mm (on CUDA: a launch and its kernel)
        t = 100 * i
        events += [{"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "ts": t, "dur": 100,
                    "pid": 1, "tid": 1},
                   {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": t + 1, "dur": 40, "pid": 1, "tid": 1,
                    "args": {"External id": step}}]
    trace = profile / "host_1.1.pt.trace.json"
    trace.write_text(json.dumps({"distributedInfo": {"rank": 0, "world_size": 1}, "traceEvents": events}))
    # In this process (HTA's import is the slow part): check_logdir's function for --hta.
    rep = check_logdir.Report()
    check_logdir.check_hta(rep, logdir.resolve(), ["run"], kernels="skip")
    out = capsys.readouterr().out
    assert rep.failed == 0, out
    # HTA leaves the last ProfilerStep out of its iterations.
    assert "PASS run/plugins/profile: HTA loads the traces: ranks [0], 1 file(s), iterations [3]" in out
    assert "SKIPPED run/plugins/profile: HTA temporal breakdown: a CPU run" in out

    for i, step in enumerate((3, 4)):
        t, ids = 100 * i, {"External id": step, "correlation": 10 + step}
        events += [{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": t + 5, "dur": 10, "pid": 1,
                    "tid": 1, "args": ids},
                   {"ph": "X", "cat": "kernel", "name": "sm90_sgemm", "ts": t + 20, "dur": 30, "pid": 0, "tid": 7,
                    "args": {**ids, "stream": 7, "device": 0}}]
    trace.write_text(json.dumps({"distributedInfo": {"rank": 0, "world_size": 1}, "traceEvents": events}))
    rep = check_logdir.Report()
    check_logdir.check_hta(rep, logdir.resolve(), ["run"], kernels="required")
    out = capsys.readouterr().out
    assert rep.failed == 0, out
    # Step 3's kernel: 30 us of computation, no idle time between kernels.
    assert ("PASS run/plugins/profile: HTA temporal breakdown: idle_time_pctg 0, compute_time_pctg 100, "
            "non_compute_time_pctg 0") in out


def test_conformance_config_is_the_plugins_all_run_on_another_device(tmp_path):
    proc = check("conformance-config", "--log-dir", tmp_path / "runs", "--device", "cuda", "--run", "dist")
    assert proc.returncode == 0, proc.stderr
    got = tomllib.loads(proc.stdout)
    base = test_plugins_all.BASE.format(log_dir=tmp_path / "runs")
    for folder in test_plugins_all.plugin_folders():
        base += "\n" + (folder / "conformance.toml").read_text()
    want = tomllib.loads(base)
    assert got["run"] == {**want["run"], "device": "cuda", "name": "dist"}
    assert {k: v for k, v in got.items() if k != "run"} == {k: v for k, v in want.items() if k != "run"}
    assert len(got["plugin"]) == len(test_plugins_all.plugin_folders())
