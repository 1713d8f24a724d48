#!/usr/bin/env python3
"""Judges one log directory written by a trainscope run, outside pytest, with the conformance
tests' own helpers and expectations. scripts/gpu_check.sh calls it on every log dir a CUDA run
writes (and on the CPU in its --dry-run).

  check_logdir.py check LOGDIR [--run NAME]... [--plugins all|a,b,...] [--expect-file FILE]...
                  [--expect 'KIND PATTERN']... [--projector] [--hparams-sessions N]
                  [--kernels required|skip] [--tb-profiler] [--hta]
  check_logdir.py conformance-config --log-dir DIR --device cpu|cuda [--run NAME] > all.toml

`check` prints one line per check, `PASS|FAIL|SKIPPED <check>: <detail>`, and exits 1 when a
check failed. Always checked, for every run of LOGDIR (or the --run ones, which must exist):
  * TensorBoard's loader (tb_helpers.load_logdir) reads it without a warning or a data-loss
    message (the conformance tests' rule);
  * every image of the images dashboard decodes as a PNG of the size its blob sequence states;
  * a run with a graph has a GraphDef that TensorBoard parses, with nodes;
  * every profiler trace (plugins/profile/*.pt.trace.json) parses as JSON with ProfilerStep#
    ranges; its GPU kernel events (cat "kernel") are counted.
Expectation lines (`<kind> <pattern>`, the format of plugins/*/expected_tags.txt) come from
--plugins (those folders' expected_tags.txt, parsed by test_plugins_all.expectations),
--expect-file and --expect, and are matched as test_plugins_all.test_plugin_tags matches them.
--projector: TensorBoard's projector plugin lists an embedding whose tensor has the stated shape.
--hparams-sessions N: the HParams dashboard (test_hparams.HParamsView) lists N sessions, all
    STATUS_SUCCESS. --kernels required: every trace holds GPU kernels (a CUDA run); skip: the
    check is reported SKIPPED (a CPU run).
--tb-profiler: PyTorch's profiler plugin for TensorBoard (torch-tb-profiler, if importable)
    loads the traces and serves the Overview, Operator and Trace views; with --kernels
    required its overview must report GPU kernel time.
--hta: Holistic Trace Analysis (HolisticTraceAnalysis, if importable) loads each trace folder
    by rank and finds its iterations; with --kernels required its temporal breakdown must
    report GPU compute time (HTA's breakdowns are of GPU kernels: none on a CPU run).

`conformance-config` prints test_plugins_all's configuration (every plugin folder's
conformance.toml) for another device and log dir: the CPU conformance run, on CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tb_helpers  # noqa: E402
import test_plugins_all  # noqa: E402  (expectations(), plugin_folders(), BASE)


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def line(self, status: str, name: str, detail: str = "") -> None:
        if status == "FAIL":
            self.failed += 1
        print(f"{status} {name}{': ' + detail if detail else ''}", flush=True)

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        self.line("PASS" if ok else "FAIL", name, detail)
        return ok


# ----------------------------------------------------------------------------------------
# Checks


def check_images(rep: Report, loaded, run: str) -> None:
    blobs = loaded.blobs("images", run=run)
    if not blobs:
        return
    bad, count = [], 0
    for tag, series in blobs.items():
        for step, seq in series:
            width, height, *pngs = seq
            for png in pngs:
                count += 1
                try:
                    px = tb_helpers.decode_png(png)
                except Exception as e:  # noqa: BLE001  (any decoder error is the finding)
                    bad.append(f"{tag}@{step}: {e}")
                    continue
                if px.shape[:2] != (int(height), int(width)):
                    bad.append(f"{tag}@{step}: decoded {px.shape[1]}x{px.shape[0]}, stated {int(width)}x{int(height)}")
    rep.check(not bad, f"{run}: images decode", f"{count} PNGs of {len(blobs)} tags" if not bad else "; ".join(bad[:5]))


def check_graph(rep: Report, loaded, run: str) -> None:
    if not loaded.multiplexer.Runs().get(run, {}).get("graph"):
        return
    try:
        graph = loaded.multiplexer.Graph(run)
    except Exception as e:  # noqa: BLE001
        rep.check(False, f"{run}: graph parses", repr(e))
        return
    rep.check(len(graph.node) > 0, f"{run}: graph parses", f"{len(graph.node)} nodes")


def trace_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "plugins" / "profile").glob("*.pt.trace.json"))


def check_traces(rep: Report, run: str, run_dir: Path, kernels: str) -> None:
    for path in trace_files(run_dir):
        try:
            events = json.loads(path.read_text())["traceEvents"]
        except (ValueError, KeyError) as e:
            rep.check(False, f"{run}: trace {path.name} parses", repr(e))
            continue
        steps = sorted({e["name"] for e in events if str(e.get("name", "")).startswith("ProfilerStep#")})
        n_kernels = sum(1 for e in events if e.get("cat") == "kernel")
        n_cpu_ops = sum(1 for e in events if e.get("cat") == "cpu_op")
        rep.check(bool(steps) and n_cpu_ops > 0, f"{run}: trace {path.name} parses",
                  f"{len(events)} events, {n_cpu_ops} cpu_op, {n_kernels} kernel, steps {', '.join(steps)}")
        if kernels == "required":
            names = sorted({e["name"] for e in events if e.get("cat") == "kernel"})
            rep.check(n_kernels > 0, f"{run}: trace holds GPU kernels",
                      f"{n_kernels} kernel events, {len(names)} distinct, e.g. {names[:3]}")
        else:
            rep.line("SKIPPED", f"{run}: trace holds GPU kernels", f"a CPU run ({n_kernels} kernel events)")


def check_projector(rep: Report, logdir: Path, loaded, run: str) -> None:
    from urllib.parse import urlencode

    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin
    from werkzeug import test as wtest

    plugin = projector_plugin.ProjectorPlugin(base_plugin.TBContext(logdir=str(logdir), data_provider=loaded.provider))
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        resp = wtest.Client(apps[route]).get(route + "?" + urlencode(args))
        return resp.status_code, resp.get_data()

    status, body = get("/info", run=run)
    if status != 200:
        rep.check(False, f"{run}: projector lists the embedding", f"/info answered {status}: {body[:200]!r}")
        return
    embeddings = json.loads(body).get("embeddings", [])
    problems, shapes = [], []
    for e in embeddings:
        shape = [int(d) for d in e["tensorShape"]]
        shapes.append(f"{e['tensorName']} {shape[0]}x{shape[1]}")
        status, data = get("/tensor", run=run, name=e["tensorName"])
        if status != 200 or len(data) != shape[0] * shape[1] * 4:
            problems.append(f"{e['tensorName']}: /tensor {status}, {len(data)} bytes for {shape}")
    rep.check(bool(embeddings) and not problems, f"{run}: projector lists the embedding",
              "; ".join(problems) if problems else (", ".join(shapes) or "no embedding"))


def check_hparams_sessions(rep: Report, logdir: Path, expected: int) -> None:
    import test_hparams

    view = test_hparams.HParamsView(logdir)
    sessions = view.sessions()
    statuses = {name: s[0] for name, s in sessions.items()}
    ok = len(sessions) == expected and all(s == "STATUS_SUCCESS" for s in statuses.values())
    rep.check(ok, "hparams sessions", f"{len(sessions)} of {expected}: {statuses}")


def check_tb_profiler(rep: Report, logdir: Path, runs: list[str], kernels: str, timeout: float = 180) -> None:
    try:
        from tensorboard.plugins import base_plugin
        from torch_tb_profiler import plugin as tbp
        from werkzeug import test as wtest
    except ImportError as e:
        rep.line("SKIPPED", "torch-tb-profiler views", f"not importable ({e}); put its wheel on PYTHONPATH")
        return
    # The plugin's runs are the folders that hold traces, named by their path under LOGDIR.
    profiled = sorted({str(t.parent.relative_to(logdir)) for r in runs
                       for t in trace_files(logdir / r if r != "." else logdir)})
    if not profiled:
        rep.check(False, "torch-tb-profiler views", "no run of this log dir has a trace")
        return
    plugin = tbp.TorchProfilerPlugin(base_plugin.TBContext(logdir=str(logdir)))
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        from urllib.parse import urlencode

        resp = wtest.Client(apps[route]).get(route + "?" + urlencode(args))
        if resp.status_code != 200:
            raise RuntimeError(f"{route} {args}: HTTP {resp.status_code} {resp.get_data()[:300]!r}")
        data = resp.get_data()
        if data[:2] == b"\x1f\x8b":  # the trace view is served gzip-compressed
            import gzip

            data = gzip.decompress(data)
        return json.loads(data)

    deadline = time.monotonic() + timeout
    while True:
        listed = get("/runs")
        if not listed["loading"] and set(profiled) <= set(listed["runs"]):
            break
        if time.monotonic() > deadline:
            rep.check(False, "torch-tb-profiler views", f"runs after {timeout:.0f} s: {listed}")
            return
        time.sleep(0.5)
    for run in profiled:
        try:
            views = get("/views", run=run)
            worker = get("/workers", run=run, view="Overview")[0]
            span = get("/spans", run=run, worker=worker)
            span = span[0] if span else ""
            overview = get("/overview", run=run, worker=worker, span=span)
            ops = get("/operation/table", run=run, worker=worker, span=span, group_by="Operation")
            trace = get("/trace", run=run, worker=worker, span=span)
        except (RuntimeError, IndexError, KeyError, ValueError) as e:
            rep.check(False, f"{run}: torch-tb-profiler views", repr(e)[:400])
            continue
        n_ops = len(ops.get("data", [])) if isinstance(ops, dict) else 0
        ok = {"Overview", "Operator", "Trace"} <= set(views) and n_ops > 0 and bool(trace.get("traceEvents"))
        rep.check(ok, f"{run}: torch-tb-profiler views",
                  f"views {views}, {n_ops} operator rows, {len(trace.get('traceEvents', []))} trace events")
        env = {e["title"]: e["value"] for e in overview.get("environments", [])}
        step_time = next((p for p in overview.get("performance", []) if p.get("children")), {})
        parts = {c["name"]: float(c["value"]) for c in step_time.get("children", [])}
        detail = f"device {env.get('Device Type')}, average step {step_time.get('value')} us: " + \
            ", ".join(f"{k} {v:g}" for k, v in parts.items())
        if kernels == "required":
            rep.check(env.get("Device Type") == "GPU" and parts.get("Kernel", 0) > 0,
                      f"{run}: torch-tb-profiler overview shows GPU time", detail)
        else:
            rep.line("SKIPPED", f"{run}: torch-tb-profiler overview shows GPU time", f"a CPU run ({detail})")


def check_hta(rep: Report, logdir: Path, runs: list[str], kernels: str) -> None:
    try:
        from hta.trace_analysis import TraceAnalysis
    except ImportError as e:
        rep.line("SKIPPED", "HTA loads the traces", f"not importable ({e}); pip install HolisticTraceAnalysis")
        return
    folders = sorted({t.parent for r in runs for t in trace_files(logdir / r if r != "." else logdir)})
    if not folders:
        rep.check(False, "HTA loads the traces", "no run of this log dir has a trace")
        return
    for folder in folders:
        name = str(folder.relative_to(logdir))
        files = sorted(folder.glob("*.pt.trace.json"))
        try:
            analysis = TraceAnalysis(trace_dir=str(folder))
            steps = [int(s) for s in analysis.get_profiler_steps()]
        except Exception as e:  # noqa: BLE001 - any failure of the third-party loader is the finding
            rep.check(False, f"{name}: HTA loads the traces", repr(e)[:400])
            continue
        # One file per rank: a folder of several cycles' traces (repeat > 1) keeps one of them.
        kept = analysis.t.trace_files.get(0)
        rep.check(kept is not None and bool(steps), f"{name}: HTA loads the traces",
                  f"ranks {sorted(analysis.t.trace_files)}, {len(files)} file(s), iterations {steps}")
        if kernels != "required":
            rep.line("SKIPPED", f"{name}: HTA temporal breakdown", "a CPU run (HTA breaks down GPU kernel time)")
            continue
        try:
            t = analysis.get_temporal_breakdown(visualize=False)
            row = t[t["rank"] == 0].iloc[0]
            ok = row["kernel_time(us)"] > 0 and row["compute_time(us)"] > 0
            detail = ", ".join(f"{k} {row[k]:g}" for k in ("idle_time_pctg", "compute_time_pctg",
                                                          "non_compute_time_pctg"))
        except Exception as e:  # noqa: BLE001
            ok, detail = False, repr(e)[:400]
        rep.check(ok, f"{name}: HTA temporal breakdown", detail)


def cmd_check(args) -> int:
    rep = Report()
    logdir = Path(args.logdir).resolve()
    if not logdir.is_dir():
        rep.check(False, "log dir exists", str(logdir))
        return 1
    loaded = tb_helpers.load_logdir(logdir)
    problems = tb_helpers.log_problems(loaded.log)
    rep.check(not problems, "TensorBoard loads without complaint", "; ".join(problems[:5]) or f"runs {sorted(loaded.runs())}")
    runs = args.run or sorted(loaded.runs())
    missing_runs = [r for r in runs if r not in loaded.runs()]
    if not rep.check(bool(runs) and not missing_runs, "runs present",
                     f"missing {missing_runs}, found {sorted(loaded.runs())}" if missing_runs else ", ".join(runs)):
        return 1

    expectations: list[tuple[str, str, str]] = []  # (source, kind, pattern)
    if args.plugins:
        folders = test_plugins_all.plugin_folders()
        wanted = None if args.plugins == "all" else {p.strip() for p in args.plugins.split(",") if p.strip()}
        for folder in folders:
            if wanted is None or folder.name in wanted:
                expectations += [(folder.name, k, p) for k, p in test_plugins_all.expectations(folder)]
        unknown = (wanted or set()) - {f.name for f in folders}
        rep.check(not unknown, "plugin folders found", f"unknown: {sorted(unknown)}" if unknown else args.plugins)
    for path in args.expect_file:
        try:
            expectations += [(Path(path).name, k, p) for k, p in tb_helpers.parse_expected_tags(Path(path))]
        except ValueError as e:
            raise SystemExit(str(e)) from None
    for line in args.expect:
        kind, _, pattern = line.strip().partition(" ")
        expectations.append(("--expect", kind, pattern.strip()))

    for run in runs:
        run_dir = logdir if run == "." else logdir / run
        by_source: dict[str, list[tuple[str, str]]] = {}
        for source, kind, pattern in expectations:
            by_source.setdefault(source, []).append((kind, pattern))
        for source, exps in by_source.items():
            missing = tb_helpers.unmet_expectations(loaded, run, run_dir, exps)
            rep.check(not missing, f"{run}: {source} expectations",
                      "; ".join(missing) if missing else f"{len(exps)} met")
        check_images(rep, loaded, run)
        check_graph(rep, loaded, run)
        check_traces(rep, run, run_dir, args.kernels)
        if args.projector:
            check_projector(rep, logdir, loaded, run)
    if args.hparams_sessions is not None:
        check_hparams_sessions(rep, logdir, args.hparams_sessions)
    if args.tb_profiler:
        check_tb_profiler(rep, logdir, runs, args.kernels)
    if args.hta:
        check_hta(rep, logdir, runs, args.kernels)
    print(f"check_logdir: {logdir}: {'FAILED' if rep.failed else 'ok'}" + (f" ({rep.failed} failed)" if rep.failed else ""))
    return 1 if rep.failed else 0


def cmd_conformance_config(args) -> int:
    text = test_plugins_all.BASE.format(log_dir=args.log_dir)
    text = text.replace('name = "all"', f'name = "{args.run}"', 1).replace('device = "cpu"', f'device = "{args.device}"', 1)
    for folder in test_plugins_all.plugin_folders():
        text += f"\n# ---- {folder.name}\n" + (folder / "conformance.toml").read_text()
    sys.stdout.write(text)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="judge a log directory")
    c.add_argument("logdir")
    c.add_argument("--run", action="append", default=[], help="a run that must exist (default: every run)")
    c.add_argument("--plugins", help="'all' or comma-separated plugin folders whose expected_tags.txt apply")
    c.add_argument("--expect-file", action="append", default=[], help="a file of '<kind> <pattern>' lines")
    c.add_argument("--expect", action="append", default=[], help="one '<kind> <pattern>' line")
    c.add_argument("--projector", action="store_true", help="the projector must list an embedding")
    c.add_argument("--hparams-sessions", type=int, help="the HParams dashboard must list N successful sessions")
    c.add_argument("--kernels", choices=("required", "skip"), default="skip", help="GPU kernels in the traces")
    c.add_argument("--tb-profiler", action="store_true", help="load the traces with torch-tb-profiler")
    c.add_argument("--hta", action="store_true", help="load the traces with Holistic Trace Analysis")
    c.set_defaults(func=cmd_check)
    g = sub.add_parser("conformance-config", help="print test_plugins_all's configuration for a device")
    g.add_argument("--log-dir", required=True)
    g.add_argument("--device", default="cpu")
    g.add_argument("--run", default=test_plugins_all.RUN)
    g.set_defaults(func=cmd_conformance_config)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
