#!/usr/bin/env bash
# What the median pruner saves on the real job: the Fashion-MNIST TPE study of
# examples/sweeps/fmnist_tpe.toml (log-uniform lr over three decades, batch size, optimizer,
# dropout), 16 trials x 4 epochs, run twice in one go: with the median pruner and without
# pruning. Prints the epochs each study trained and its best validation accuracy, as read back
# by Python Optuna from the two journals (bench/sweep_pruning_report.py).
# Usage: bench/sweep_pruning.sh [OUT_DIR]   (env: BUILD_DIR=build, JOBS=2, TRIALS=16, EPOCHS=4)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
TRIALS=${TRIALS:-16}
EPOCHS=${EPOCHS:-4}
OUT=${1:-$(mktemp -d -t trainscope-pruning.XXXXXX)}
mkdir -p "$OUT"
echo "sweep_pruning: $TRIALS trials x $EPOCHS epochs, $JOBS workers, into $OUT; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for pruner in median none; do
  t0=$(date +%s)
  "$BUILD_DIR/core/trainscope" sweep examples/sweeps/fmnist_tpe.toml -j "$JOBS" \
    --set "trainer.epochs=$EPOCHS" --set "sweep.n_trials=$TRIALS" --set "sweep.pruner=\"$pruner\"" \
    --set "sweep.study=\"fmnist_$pruner\"" --set "sweep.storage=\"$OUT/fmnist_$pruner.journal\"" \
    --set "run.log_dir=\"$OUT/runs\"" --set sweep.timeout=7200 </dev/null | tail -n 8
  echo "sweep_pruning: pruner=$pruner took $(( $(date +%s) - t0 )) s"
done
.venv/bin/python bench/sweep_pruning_report.py "$OUT/fmnist_median.journal" "$OUT/fmnist_none.journal"
