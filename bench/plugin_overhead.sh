#!/usr/bin/env bash
# The plugin-overhead benchmark of docs/PERFORMANCE.md: one epoch of the Fashion-MNIST
# SimpleCNN run (60000 train, 10000 validation samples, batch 64, CPU, 1 thread) with no
# plugins, each bundled plugin alone at its defaults, this project's Plugins I set, and
# every plugin, in interleaved rounds. Usage: bench/plugin_overhead.sh [ROUNDS] [EXTRA ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
shift || true
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target bench_plugins bundled_plugins >/dev/null
plugins=(scalars histograms hparams memory profiler images text graph
         activations feature_maps gradcam embeddings pr_curves confusion_matrix
         nan_guard early_stopping checkpoint)
sets=()
for p in "${plugins[@]}"; do sets+=(--set "$p=$p"); done
issue5=$(IFS=,; echo "${plugins[*]:0:8}")
all=$(IFS=,; echo "${plugins[*]}")
sets+=(--set "plugins_I=$issue5" --set "all=$all")
exec "$BUILD_DIR/bench/bench_plugins" --train-limit 0 --val-limit 0 --rounds "$ROUNDS" \
  --json "${BENCH_JSON:-/tmp/bench_plugins.json}" "${sets[@]}" "$@"
