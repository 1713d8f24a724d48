#!/usr/bin/env bash
# Takes a fresh Debian 12 machine (root, apt and PyPI reachable) to one that builds and
# tests trainscope. Idempotent: a second run only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  protobuf-compiler libprotobuf-dev libtomlplusplus-dev
  libboost-dev libboost-filesystem-dev
  libpng-dev libgif-dev zlib1g-dev libdeflate-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgloo-dev
  nlohmann-json3-dev libhiredis-dev redis-server
  clang libclang-rt-14-dev
  dataset-fashion-mnist python3-venv
)
# Versions pinned by the project; the venv is the only Python the build and tests use.
PY_PACKAGES=(torch==2.11.0 tensorboard==2.21.0 numpy pytest
  optuna==5.0.0 optuna-dashboard==0.21.0 torchvision==0.26.0
  torch-tb-profiler==0.4.3 HolisticTraceAnalysis==0.5.0
  redis==8.2.0)  # redis: Python Optuna's JournalRedisBackend (sweep conformance tests)

log() { printf '[setup] %s\n' "$*"; }
t0=$(date +%s)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt: all ${#APT_PACKAGES[@]} packages present"
fi

PY=${TRAINSCOPE_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "venv: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.trainscope-requirements
want="${PY_PACKAGES[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "pip: installing ${want}"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "${PY_PACKAGES[@]}"
  echo "$want" > "$stamp"
else
  log "pip: venv up to date"
fi
log "done in $(( $(date +%s) - t0 )) s"
