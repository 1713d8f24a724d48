#!/usr/bin/env bash
# Screenshots of the main job's dashboards for the README: starts the real TensorBoard on a
# log dir and photographs each dashboard with Debian's headless Chromium.
# Usage: scripts/screenshots.sh [LOG_DIR] [OUT_DIR]   (defaults: runs, docs/screenshots)
# Run scripts/main.sh first. Installs chromium (apt) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${1:-runs}
OUT_DIR=${2:-docs/screenshots}
PORT=${TRAINSCOPE_TB_PORT:-6123}
[ -d "$LOG_DIR" ] || { echo "screenshots: no log dir $LOG_DIR: run scripts/main.sh first" >&2; exit 1; }
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core >/dev/null
fi
mkdir -p "$OUT_DIR"
.venv/bin/tensorboard --logdir "$LOG_DIR" --port "$PORT" --host localhost >/tmp/trainscope-tb.log 2>&1 &
TB=$!
trap 'kill $TB 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf "http://localhost:$PORT/data/plugins_listing" >/dev/null 2>&1 && break
  sleep 1
done
curl -sf "http://localhost:$PORT/data/plugins_listing" >/dev/null || { cat /tmp/trainscope-tb.log; exit 1; }

# name  url-fragment
shots=(
  "scalars     #scalars&_smoothingWeight=0"
  "images      #images&tagFilter=images"
  "histograms  #histograms"
  "graphs      #graphs"
  "projector   #projector"
  "hparams     #hparams"
  "gradcam     #images&tagFilter=gradcam"
  "custom_scalars #custom_scalars"
  "pr_curves   #pr_curves"
)
for entry in "${shots[@]}"; do
  read -r name frag <<<"$entry"
  out="$OUT_DIR/$name.png"
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
    --virtual-time-budget=20000 --screenshot="$out" "http://localhost:$PORT/?darkMode=false$frag" \
    >/dev/null 2>&1 || { echo "screenshots: chromium failed on $name" >&2; exit 1; }
  echo "screenshots: $out"
done
