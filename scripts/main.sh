#!/usr/bin/env bash
# The README's main job: set up (apt + .venv), build, and train PyTorch's TensorBoard-tutorial
# CNN on Fashion-MNIST with every bundled plugin on (examples/fashion_mnist_cnn), on CUDA when
# present, else the CPU. Ends by printing where the logs are and how to open them.
# Usage: scripts/main.sh [--set section.key=value]...   e.g. --set trainer.epochs=1
# Environment: BUILD_DIR (default build), TRAINSCOPE_JOBS (default: cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
t0=$(date +%s)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release --log-level=ERROR >/dev/null
cmake --build "$BUILD_DIR" -j "${TRAINSCOPE_JOBS:-$(nproc)}" --target fashion_mnist_cnn bundled_plugins trainscope
echo "[main] built in $(( $(date +%s) - t0 )) s"
rm -rf runs/fashion_mnist_cnn
"$BUILD_DIR/examples/fashion_mnist_cnn/fashion_mnist_cnn" examples/fashion_mnist_cnn/fashion_mnist_cnn.toml "$@"
echo "[main] done in $(( $(date +%s) - t0 )) s. Browse http://localhost:6006 once TensorBoard runs"
echo "       (.venv/bin/tensorboard --logdir runs; add --bind_all to reach it from another machine)."
