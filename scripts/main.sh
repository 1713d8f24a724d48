#!/usr/bin/env bash
# The README's main job: set up, build, and write a TensorBoard run with every summary type
# (the SDK demo; the Fashion-MNIST trainer replaces it once the core lands).
# Usage: scripts/main.sh [LOG_DIR]   (default runs/sdk_demo)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
LOG_DIR=${1:-runs/sdk_demo}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "${TRAINSCOPE_JOBS:-$(nproc)}" --target sdk_demo
rm -rf "$LOG_DIR"
"$BUILD_DIR/examples/sdk_demo/sdk_demo" "$LOG_DIR" 200
echo "Then browse http://localhost:6006 (add --bind_all to reach it from another machine)."
