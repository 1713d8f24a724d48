#!/usr/bin/env bash
# Plugin cost in instructions executed on the training thread (valgrind's callgrind), which
# repeat exactly from run to run where wall time on a shared 2-core machine moves by +-10 %:
# one fit of SimpleCNN on 1x28x28 images per set (DATASET, default synthetic: the same model
# and step as Fashion-MNIST without reading 60 000 images under valgrind; TRAIN_LIMIT train
# samples, VAL_LIMIT validation samples, one epoch, batch 64, one thread), its fit_once()
# counted inclusively (the writer thread's encoding is not in it), each set against the set
# without plugins. Under valgrind a step runs ~100x slower, so the default is the per-step
# question (scalars at every step); per-epoch plugins need longer epochs than this can afford.
# Usage: scripts/bench_plugins_callgrind.sh [BUILD_DIR] [SET...]   (SET: name=plugin,plugin)
#        env: DATASET, TRAIN_LIMIT (3200), VAL_LIMIT (640)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
TRAIN_LIMIT=${TRAIN_LIMIT:-3200}; VAL_LIMIT=${VAL_LIMIT:-640}; DATASET=${DATASET:-synthetic}
shift || true
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
all="scalars,histograms,hparams,memory,profiler,images,text,graph,activations,feature_maps,gradcam,embeddings,pr_curves,confusion_matrix,nan_guard,early_stopping,checkpoint"
sets=("none=" "scalars=scalars")
[ $# -gt 0 ] && sets=("none=" "$@")
[ "${ALL_SETS:-0}" = 1 ] && sets=("none=" "scalars=scalars" "plugins_I=scalars,histograms,hparams,memory,profiler,images,text,graph" "all=$all")
out=$(mktemp -d)
declare -A ir
for s in "${sets[@]}"; do
  name=${s%%=*}
  OMP_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$out/$name.cg" --collect-atstart=no \
    --toggle-collect='*fit_once*' "$BUILD_DIR/bench/bench_plugins" --once --threads 1 --dataset "$DATASET" \
    --train-limit "$TRAIN_LIMIT" --val-limit "$VAL_LIMIT" --set "$s" >/dev/null 2>"$out/$name.log" ||
    { cat "$out/$name.log"; exit 1; }
  ir[$name]=$(callgrind_annotate --inclusive=yes "$out/$name.cg" 2>/dev/null |
    awk '/fit_once/ && !done {gsub(",", "", $1); print $1; done = 1}')
  echo "$name: ${ir[$name]} instructions"
done
steps=$(( (TRAIN_LIMIT + 63) / 64 ))
for s in "${sets[@]}"; do
  name=${s%%=*}
  awk -v n="$name" -v a="${ir[$name]}" -v b="${ir[none]}" -v steps="$steps" \
    'BEGIN {printf "%-10s %.2f M instructions per step, ratio vs none %.4f\n", n, a / steps / 1e6, a / b}'
done
rm -rf "$out"
