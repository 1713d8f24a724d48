#!/usr/bin/env bash
# What the median pruner saves on the real job: the Fashion-MNIST TPE study of
# examples/sweeps/fmnist_tpe.toml (log-uniform lr over three decades, batch size, optimizer,
# dropout), 16 trials x 4 epochs, run twice in one go: with the median pruner and without
# pruning. Prints the epochs each study trained and its best validation accuracy, as read back
# by Python Optuna from the two journals (bench/sweep_pruning_report.py).
# Differences from the example file, made in copies of it: the whole data set (TRAIN_LIMIT=0:
# all 60,000 training images, the 10,000 test images for validation; the example uses 12,000 /
# 2,000), lr log-uniform over five decades (LR_LOW=1e-5 .. LR_HIGH=1, where the example has
# 1e-4 .. 1e-1), and the median pruner's n_warmup_steps = WARMUP (0, Optuna's default: a trial
# may be stopped after its first epoch). The unpruned study's copy has no
# [sweep.pruner_options] (pruner "none" takes no options).
# Usage: bench/sweep_pruning.sh [OUT_DIR]
#   env: BUILD_DIR=build, JOBS=2, TRIALS=16, EPOCHS=4, TRAIN_LIMIT=0, VAL_LIMIT=0
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
TRIALS=${TRIALS:-16}
EPOCHS=${EPOCHS:-4}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
VAL_LIMIT=${VAL_LIMIT:-0}
LR_LOW=${LR_LOW:-1e-5}
LR_HIGH=${LR_HIGH:-1.0}
WARMUP=${WARMUP:-0}
OUT=${1:-$(mktemp -d -t trainscope-pruning.XXXXXX)}
mkdir -p "$OUT"
# The config files of the two studies (relative paths in them stay relative to the repository).
sed -e "s/^\"trainer.lr\" = .*/\"trainer.lr\" = { type = \"float\", low = $LR_LOW, high = $LR_HIGH, log = true }/" \
    -e "s/^n_warmup_steps = [0-9]*/n_warmup_steps = $WARMUP/" examples/sweeps/fmnist_tpe.toml > "$OUT/median.toml"
sed '/^\[sweep.pruner_options\]/,/^$/d' "$OUT/median.toml" > "$OUT/none.toml"
grep -q "low = $LR_LOW, high = $LR_HIGH" "$OUT/median.toml" || { echo "sweep_pruning: could not set the lr range" >&2; exit 1; }
echo "sweep_pruning: $TRIALS trials x $EPOCHS epochs, lr $LR_LOW..$LR_HIGH (log), warm-up $WARMUP, $JOBS workers, into $OUT; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for pruner in median none; do
  t0=$(date +%s)
  "$BUILD_DIR/core/trainscope" sweep "$OUT/$pruner.toml" -j "$JOBS" \
    --set "trainer.epochs=$EPOCHS" --set "data.train_limit=$TRAIN_LIMIT" --set "data.val_limit=$VAL_LIMIT" --set "sweep.n_trials=$TRIALS" --set "sweep.pruner=\"$pruner\"" \
    --set "sweep.study=\"fmnist_$pruner\"" --set "sweep.storage=\"$OUT/fmnist_$pruner.journal\"" \
    --set "run.log_dir=\"$OUT/runs\"" --set sweep.timeout=7200 </dev/null | tail -n 8
  echo "sweep_pruning: pruner=$pruner took $(( $(date +%s) - t0 )) s"
done
.venv/bin/python bench/sweep_pruning_report.py "$OUT/fmnist_median.journal" "$OUT/fmnist_none.journal"
