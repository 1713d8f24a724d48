#!/usr/bin/env bash
# Scripts torchvision's ResNet-18 in Python into the build folder, then trains it from C++.
# Usage: examples/torchscript_resnet/run.sh [trainscope run options, e.g. --set trainer.epochs=2]
# Environment: BUILD (default build), PYTHON (default .venv/bin/python), RESNET_ARGS (options
# of make_resnet18.py, e.g. "--width 16" for the width-reduced variant; default none).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-.venv/bin/python}
PT="$PWD/$BUILD/examples/torchscript_resnet/resnet18.pt"
# shellcheck disable=SC2086  # RESNET_ARGS is a list of options
"$PYTHON" examples/torchscript_resnet/make_resnet18.py "$PT" ${RESNET_ARGS:-}
exec "$BUILD/core/trainscope" run examples/torchscript_resnet/resnet18_fashion_mnist.toml \
  --set "model.torchscript=\"$PT\"" "$@"
