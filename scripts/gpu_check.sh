#!/usr/bin/env bash
# Runs on the GPU machine (device tool) from the repo root with .gpu/ carried (see
# gpu_stage.sh). Writes logs and small results under $OUT (or ./gpu-out).
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
source .gpu/gpu-env.sh .gpu/lib > "$OUT/env.txt" 2>&1; cat "$OUT/env.txt"
export TRAINSCOPE_TEST_TMP=/tmp/ts-tests TRAINSCOPE_PLUGIN_PATH=$PWD/.gpu/plugins
rc=0
echo "== cuda_test"; .gpu/bin/cuda_test 2>&1 | tee "$OUT/cuda_test.txt" || rc=1
echo "== summary_writer_test"; .gpu/bin/summary_writer_test 2>&1 | tail -3 | tee "$OUT/summary_writer_test.txt" || rc=1
echo "== sdk_demo on CUDA"; .gpu/bin/sdk_demo /tmp/ts-demo 200 2>&1 | tee "$OUT/sdk_demo.txt" || rc=1
python3 - <<'PY' 2>&1 | tee "$OUT/demo_tensorboard.txt"
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
m = pem.EventMultiplexer(); m.AddRunsFromDirectory("/tmp/ts-demo"); m.Reload()
for run, tags in sorted(m.Runs().items()):
    print(run, {k: sorted(v)[:8] for k, v in tags.items() if isinstance(v, list) and v})
PY
if [ -x .gpu/bin/trainscope ] && [ -f .gpu/fashion_mnist.toml ]; then
  # The Fashion-MNIST trainer on CUDA, then on this machine's CPUs for an epoch-time comparison.
  common=(--set data.path=\"$PWD/.gpu/data/fashion-mnist\" --set trainer.resume=\"\" --set run.log_dir=\"/tmp/ts-runs\")
  echo "== trainscope run on CUDA (2 epochs)"
  .gpu/bin/trainscope run .gpu/fashion_mnist.toml "${common[@]}" --set run.name=\"cuda\" --set trainer.epochs=2 \
    2>&1 | tail -25 | tee "$OUT/trainer_cuda.txt" || rc=1
  echo "== trainscope run on CPU (1 epoch)"
  .gpu/bin/trainscope run .gpu/fashion_mnist.toml "${common[@]}" --set run.name=\"cpu\" --set trainer.epochs=1 \
    --set run.device=\"cpu\" 2>&1 | tail -12 | tee "$OUT/trainer_cpu.txt" || rc=1
  python3 - <<'PY' 2>&1 | tee "$OUT/trainer_tensorboard.txt"
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem
m = pem.EventMultiplexer(); m.AddRunsFromDirectory("/tmp/ts-runs"); m.Reload()
for run, tags in sorted(m.Runs().items()):
    print(run, {k: sorted(v) for k, v in tags.items() if isinstance(v, list) and v})
PY
fi
exit $rc
