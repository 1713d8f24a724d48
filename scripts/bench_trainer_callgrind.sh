#!/usr/bin/env bash
# Trainer step vs a plain libtorch loop in instructions executed (valgrind's callgrind),
# which repeat exactly from run to run where wall time on a shared 2-core machine does not.
# Usage: scripts/bench_trainer_callgrind.sh [BUILD_DIR] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}; STEPS=${2:-40}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
out=$(mktemp -d)
OMP_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" --collect-atstart=no \
  --toggle-collect='*plain_seconds*' --toggle-collect='*trainer_seconds*' \
  "$BUILD_DIR/bench/bench_trainer" --threads 1 --steps "$STEPS" --runs 0 >/dev/null 2>"$out/log"
callgrind_annotate --inclusive=yes "$out/cg.out" 2>/dev/null | grep -E "plain_seconds|trainer_seconds" | \
  awk -v steps="$STEPS" '{gsub(",", "", $1); n[$0 ~ /plain_seconds/ ? "plain" : "trainer"] = $1}
    END {printf "instructions per step: plain %.0f, trainer %.0f; trainer/plain = %.4f (%d steps)\n",
         n["plain"] / steps, n["trainer"] / steps, n["trainer"] / n["plain"], steps}'
rm -rf "$out"
