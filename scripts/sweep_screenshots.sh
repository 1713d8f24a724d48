#!/usr/bin/env bash
# Screenshots of a sweep for the README: TensorBoard 2.21.0's HParams dashboard on the study's
# log dir and optuna-dashboard 0.21.0 on its journal, photographed with Debian's headless
# Chromium (installed when missing).
# Usage: scripts/sweep_screenshots.sh STUDY_LOG_DIR JOURNAL [OUT_DIR]
#   e.g. after bench/sweep_pruning.sh OUT:
#   scripts/sweep_screenshots.sh OUT/runs/fmnist_median OUT/fmnist_median.journal
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${1:?usage: scripts/sweep_screenshots.sh STUDY_LOG_DIR JOURNAL [OUT_DIR]}
JOURNAL=${2:?usage: scripts/sweep_screenshots.sh STUDY_LOG_DIR JOURNAL [OUT_DIR]}
OUT_DIR=${3:-docs/screenshots}
TB_PORT=${TRAINSCOPE_TB_PORT:-6124}
OD_PORT=${TRAINSCOPE_OD_PORT:-6125}
[ -d "$LOG_DIR" ] || { echo "sweep_screenshots: no log dir $LOG_DIR" >&2; exit 1; }
[ -f "$JOURNAL" ] || { echo "sweep_screenshots: no journal $JOURNAL" >&2; exit 1; }
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core >/dev/null
fi
mkdir -p "$OUT_DIR"
logs=$(mktemp -d)
.venv/bin/tensorboard --logdir "$LOG_DIR" --port "$TB_PORT" --host localhost >"$logs/tb.log" 2>&1 &
TB=$!
.venv/bin/optuna-dashboard --port "$OD_PORT" --host localhost "$JOURNAL" >"$logs/od.log" 2>&1 &
OD=$!
trap 'kill $TB $OD 2>/dev/null || true' EXIT
wait_for() {  # url log
  for _ in $(seq 1 60); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 1; done
  cat "$2" >&2; echo "sweep_screenshots: $1 did not answer" >&2; return 1
}
wait_for "http://localhost:$TB_PORT/data/plugins_listing" "$logs/tb.log"
wait_for "http://localhost:$OD_PORT/api/studies" "$logs/od.log"
study_id=$(curl -sf "http://localhost:$OD_PORT/api/studies" | .venv/bin/python -c \
  'import json,sys; print(json.load(sys.stdin)["study_summaries"][0]["study_id"])')
shot() {  # name url
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
    --virtual-time-budget=20000 --screenshot="$OUT_DIR/$1.png" "$2" >/dev/null 2>&1 ||
    { echo "sweep_screenshots: chromium failed on $1" >&2; exit 1; }
  echo "sweep_screenshots: $OUT_DIR/$1.png"
}
shot sweep_hparams "http://localhost:$TB_PORT/?darkMode=false#hparams"
shot sweep_optuna_dashboard "http://localhost:$OD_PORT/dashboard/studies/$study_id"
