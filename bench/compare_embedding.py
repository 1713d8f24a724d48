#!/usr/bin/env python3
"""add_embedding of a 10,000 x 128 float32 matrix with one label per row: trainscope against
PyTorch's torch.utils.tensorboard.SummaryWriter, on the same data, in one run.

The C++ side is bench_embedding (Google Benchmark, see bench/bench_embedding.cpp):
  end to end = add_embedding + flush(), until tensors.tsv / metadata.tsv /
               projector_config.pbtxt are on disk;
  call       = the training thread's part alone (the rest runs on the writer thread).
PyTorch's add_embedding writes the files before it returns, so its call is its end to end.
Writer construction is not timed on either side. Both sides use torch.manual_seed(0);
torch.randn(10000, 128) and labels "label_<i>", and the run checks that both wrote the same
tensors.tsv and metadata.tsv bytes (and the same projector config), so the numbers compare
equal work.

    .venv/bin/python bench/compare_embedding.py --build-dir build
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS, DIM = 10_000, 128
TARGET_RATIO = 5.0
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _cpp(build_dir: Path, repetitions: int) -> dict:
    exe = build_dir / "bench" / "bench_embedding"
    if not exe.exists():
        raise FileNotFoundError(f"{exe} not found: configure with -DTRAINSCOPE_BUILD_BENCH=ON and "
                                f"build it (ninja -C {build_dir} bench_embedding)")
    with tempfile.TemporaryDirectory(prefix="trainscope-emb-") as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run([str(exe), f"--benchmark_out={out}", "--benchmark_out_format=json",
                        f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true"],
                       check=True, stdout=subprocess.DEVNULL)
        report = json.loads(out.read_text())
    times = {}
    for b in report["benchmarks"]:
        if b.get("error_occurred"):
            raise RuntimeError(f"{b['run_name']} failed: {b.get('error_message')}")
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median" or (
                repetitions == 1 and b.get("run_type") == "iteration"):
            times[b["run_name"].split("/")[0]] = b["real_time"] * UNITS[b["time_unit"]]
    return {"end_to_end_s": times["BM_AddEmbeddingEndToEnd"], "call_s": times["BM_AddEmbeddingCall"],
            "context": report.get("context", {})}


def _inputs():
    import torch

    torch.manual_seed(0)
    return torch.randn(ROWS, DIM), [f"label_{i}" for i in range(ROWS)]


def _pytorch(repetitions: int) -> float:
    from torch.utils.tensorboard import SummaryWriter

    mat, labels = _inputs()
    times = []
    for _ in range(repetitions):
        with tempfile.TemporaryDirectory(prefix="pytorch-emb-") as tmp:
            w = SummaryWriter(os.path.join(tmp, "run"))
            start = time.perf_counter()
            w.add_embedding(mat, metadata=labels, global_step=0, tag="default")
            times.append(time.perf_counter() - start)
            w.close()
    return statistics.median(times)


def _same_files(build_dir: Path) -> bool:
    """Both writers on the benchmark's data: identical tensors.tsv, metadata.tsv, config."""
    from torch.utils.tensorboard import SummaryWriter

    mat, labels = _inputs()
    with tempfile.TemporaryDirectory(prefix="emb-check-") as tmp:
        ours, theirs = Path(tmp) / "ours", Path(tmp) / "theirs"
        subprocess.run([str(build_dir / "bench" / "bench_embedding"), "--write-to", str(ours)], check=True)
        w = SummaryWriter(str(theirs))
        w.add_embedding(mat, metadata=labels, global_step=0, tag="default")
        w.close()
        names = ["00000/default/tensors.tsv", "00000/default/metadata.tsv", "projector_config.pbtxt"]
        return all((ours / n).read_bytes() == (theirs / n).read_bytes() for n in names)


def run(build_dir, repetitions: int = 5) -> dict:
    """Times both writers on the same workload; returns seconds (medians) and ratios."""
    build_dir = Path(build_dir)
    cpp = _cpp(build_dir, repetitions)
    pytorch_s = _pytorch(repetitions)
    ratio = pytorch_s / cpp["end_to_end_s"]
    return {
        "workload": f"add_embedding {ROWS}x{DIM} float32 + {ROWS} labels",
        "trainscope_end_to_end_s": cpp["end_to_end_s"],
        "trainscope_call_s": cpp["call_s"],
        "pytorch_s": pytorch_s,
        "ratio": ratio,
        "call_ratio": pytorch_s / cpp["call_s"],
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "identical_files": _same_files(build_dir),
        "repetitions": repetitions,
        "cpus": os.cpu_count(),
        "host": cpp["context"].get("host_name"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=str(Path(__file__).resolve().parent.parent / "build"))
    ap.add_argument("--repetitions", type=int, default=5)
    args = ap.parse_args()
    res = run(args.build_dir, args.repetitions)
    print(json.dumps(res, indent=2))
    print(f"add_embedding {ROWS}x{DIM}: trainscope {res['trainscope_end_to_end_s'] * 1e3:.1f} ms end to end "
          f"({res['trainscope_call_s'] * 1e3:.2f} ms on the caller), PyTorch {res['pytorch_s'] * 1e3:.1f} ms: "
          f"{res['ratio']:.1f}x (target {TARGET_RATIO:.0f}x: {'met' if res['met'] else 'NOT met'}); "
          f"identical files: {res['identical_files']}", file=sys.stderr)
    return 0 if res["met"] and res["identical_files"] else 1


if __name__ == "__main__":
    sys.exit(main())
