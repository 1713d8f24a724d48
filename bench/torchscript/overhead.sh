#!/usr/bin/env bash
# Step time of the C++ SimpleCNN against the same network scripted in Python, and of the
# scripted one with the activations and gradcam plugins on, measured in one invocation
# (docs/PERFORMANCE.md). Each round runs the three configurations in a rotated order; every run
# records the fit's wall time (trainscope's "done:" line), the process's CPU time (user + sys,
# /usr/bin/time) and the 1-minute load average before it. The summary gives medians over the
# rounds and the median of the per-round ratios, for wall and CPU time: on a shared machine the
# CPU time of a 1-thread run is the steadier measure (a waiting process accrues none).
# Usage: bench/torchscript/overhead.sh [BUILD] [ROUNDS]   (defaults: build, 7)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
ROUNDS=${2:-7}
PYTHON=${PYTHON:-.venv/bin/python}
CORES=$(nproc --all)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$PYTHON" bench/torchscript/simple_cnn.py "$OUT/simple_cnn.pt"
export OMP_NUM_THREADS=1
COMMON=(--set data.dataset=synthetic --set data.synthetic_samples=25600 --set trainer.epochs=1
        --set trainer.batch_size=64 --set trainer.checkpoint_every_n_epochs=0 --set "run.log_dir=\"$OUT/runs\"")
PT=(--set "model.torchscript=\"$OUT/simple_cnn.pt\"")
PLUGINS=(--set plugin.activations.enabled=true --set plugin.gradcam.layer=conv2)
printf '[run]\nname = "bench"\ndevice = "cpu"\n' > "$OUT/job.toml"
NAMES=("C++ simple_cnn, no plugins" "TorchScript, no plugins" "TorchScript, activations + gradcam")
# One run of configuration $1: appends "round config wall_s cpu_s load1" to $OUT/results.tsv.
run() {
  local args=("${COMMON[@]}")
  [[ $1 -ge 1 ]] && args+=("${PT[@]}")
  [[ $1 -ge 2 ]] && args+=("${PLUGINS[@]}")
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%U %S' -o "$OUT/time" "$BUILD/core/trainscope" run "$OUT/job.toml" "${args[@]}" > "$OUT/log"
  local wall cpu
  wall=$(sed -n 's/^done: .* in \([0-9.]*\) s.*/\1/p' "$OUT/log")
  cpu=$(awk '{printf "%.2f", $1 + $2}' "$OUT/time")
  printf '%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$wall" "$cpu" "$load" >> "$OUT/results.tsv"
  printf 'round %s  %-36s fit %6.2f s wall, process %6.2f s CPU, load %s\n' "$2" "${NAMES[$1]}:" "$wall" "$cpu" "$load"
}
echo "$(date -u '+%F %T UTC'), $CORES cores, load averages $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds"
for ((round = 1; round <= ROUNDS; ++round)); do
  for k in 0 1 2; do run $(((k + round) % 3)) "$round"; done
done
echo "load averages at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" - "$OUT/results.tsv" "${NAMES[@]}" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line]
names = sys.argv[2:]
by = {}  # (config, measure) -> {round: value}
for rnd, cfg, wall, cpu, _ in rows:
    by.setdefault((int(cfg), "wall"), {})[rnd] = float(wall)
    by.setdefault((int(cfg), "cpu"), {})[rnd] = float(cpu)
print(f"\n{'median over rounds':40s} {'fit wall':>10s} {'CPU':>10s}")
for c, name in enumerate(names):
    print(f"{name:40s} {statistics.median(by[(c, 'wall')].values()):9.2f}s {statistics.median(by[(c, 'cpu')].values()):9.2f}s")
def ratio(a, b, m):
    per_round = [by[(a, m)][r] / by[(b, m)][r] - 1 for r in by[(a, m)]]
    whole = statistics.median(by[(a, m)].values()) / statistics.median(by[(b, m)].values()) - 1
    return f"{m}: {whole:+.1%} of the medians, per-round median {statistics.median(per_round):+.1%} (range {min(per_round):+.0%} to {max(per_round):+.0%})"
for label, a, b in (("plugins on vs off (TorchScript)", 2, 1), ("TorchScript vs C++ (no plugins)", 1, 0)):
    print(f"{label}: {ratio(a, b, 'wall')}; {ratio(a, b, 'cpu')}")
PY
