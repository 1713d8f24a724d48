#!/usr/bin/env bash
# The README's test command: set up (apt + .venv), configure, build, run every test
# (GoogleTest units and the real-TensorBoard / PyTorch conformance suite) through CTest.
# Environment: BUILD_DIR (default build), TRAINSCOPE_JOBS (default: cores), extra CMake
# arguments after the command line's `--`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${TRAINSCOPE_JOBS:-$(nproc)}
t0=$(date +%s)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
echo "[test] configured $BUILD_DIR; building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "[test] built in $(( $(date +%s) - t0 )) s; running tests"
# One intra-op thread per test: CTest runs tests side by side, and the spinning OpenMP threads
# of parallel torch tests slow each other down many times over on a small machine.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "$BUILD_DIR" --no-tests=error --output-on-failure -j "$JOBS" --timeout 900
echo "[test] done in $(( $(date +%s) - t0 )) s"
