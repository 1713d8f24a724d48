#!/usr/bin/env python3
"""Scaling of data-parallel training: `trainscope launch -n 2` vs one process, same global batch.

Runs the same job (Fashion-MNIST, simple_cnn, global batch 64, one epoch of --samples
training samples, no plugins) as 1 process and as 2 ranks, each rank with OMP_NUM_THREADS
threads (default 1), `--repeats` times each in alternation, and prints the median fit time
(the `done: ... in X s` line of rank 0) and samples/s. With --device cuda the ranks use
cuda:0 and cuda:1 (needs 2 GPUs).

  .venv/bin/python bench/distributed_scaling.py [--samples 19200] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[run]
name = "{name}"
log_dir = "{log_dir}"
seed = 0
device = "{device}"

[data]
dataset = "fashion_mnist"
train_limit = {samples}
val_limit = 64

[model]
name = "simple_cnn"

[trainer]
epochs = 1
batch_size = 64
optimizer = "sgd"
lr = 0.05
log_every_n_steps = 100000
checkpoint_every_n_epochs = 0
"""


def fit_seconds(output: str) -> float:
    m = re.search(r"(?:\[rank 0\] )?done: \d+ steps, \d+ epochs in ([0-9.]+) s", output)
    if not m:
        raise RuntimeError("no 'done:' line in:\n" + output[-2000:])
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--samples", type=int, default=19200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    ts = Path(args.build) / "core" / "trainscope"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = str(args.threads)
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "job.toml"
        cfg.write_text(CONFIG.format(name="bench", log_dir=Path(tmp) / "runs", samples=args.samples,
                                     device=args.device))
        for _ in range(args.repeats):
            for n in (1, 2):
                cmd = [str(ts), "run", str(cfg)]
                if n > 1:
                    cmd = [str(ts), "launch", "-n", str(n), "--master-port", "0", "--", *cmd]
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
                if p.returncode != 0:
                    print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
                    return 1
                times[n].append(fit_seconds(p.stdout))
    steps = (args.samples + 63) // 64
    print(f"{args.samples} samples, {steps} steps of global batch 64, {args.threads} thread(s) per rank, "
          f"device {args.device}, median of {args.repeats}")
    base = statistics.median(times[1])
    for n in (1, 2):
        t = statistics.median(times[n])
        print(f"  {n} rank{'s' if n > 1 else ' '}: {t:7.2f} s  {args.samples / t:8.0f} samples/s  "
              f"speed-up x{base / t:.2f}   (runs: {', '.join(f'{x:.2f}' for x in times[n])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
