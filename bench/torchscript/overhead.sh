#!/usr/bin/env bash
# Step time of the C++ SimpleCNN against the same network scripted in Python, and of the
# scripted one with the activations and gradcam plugins on, measured in one invocation
# (docs/PERFORMANCE.md). Usage: bench/torchscript/overhead.sh [BUILD] (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
OUT=$(mktemp -d)
.venv/bin/python bench/torchscript/simple_cnn.py "$OUT/simple_cnn.pt"
COMMON=(--set data.dataset=synthetic --set data.synthetic_samples=25600 --set trainer.epochs=1
        --set trainer.batch_size=64 --set trainer.checkpoint_every_n_epochs=0 --set "run.log_dir=\"$OUT/runs\"")
run() { "$BUILD/core/trainscope" run "$OUT/job.toml" "${COMMON[@]}" "$@" | grep '^done:'; }
printf '[run]\nname = "bench"\ndevice = "cpu"\n' > "$OUT/job.toml"
for round in 1 2 3; do
  echo "round $round"
  echo -n "C++ simple_cnn, no plugins:          "; run
  echo -n "TorchScript, no plugins:             "; run --set "model.torchscript=\"$OUT/simple_cnn.pt\""
  echo -n "TorchScript, activations + gradcam:  "; run --set "model.torchscript=\"$OUT/simple_cnn.pt\"" \
      --set plugin.activations.enabled=true --set plugin.gradcam.layer=conv2
done
rm -rf "$OUT"
