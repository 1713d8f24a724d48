#!/usr/bin/env bash
# Stages what scripts/gpu_check.sh needs on the GPU machine into .gpu/ (ignored by git), then
# checks that the working tree plus .gpu/ stays under the device tool's 64 MiB carry limit:
#   bin/          the CLI, the example programs, the CUDA-only and plugin test programs
#   lib/          libtrainscope_*.so and the non-torch shared libraries they need (collect-libs.sh
#                 of the shared GPU kit), gpu-env.sh
#   plugins/      the bundled plugins; test_plugins/ the tests' plugins; custom_plugins/ the
#                 out-of-tree example plugin (built against an install of BUILD_DIR, or of
#                 CUSTOM_PLUGIN_BUILD_DIR, by scripts/custom_plugin.sh; or CUSTOM_PLUGIN_LIB)
#   data/         Fashion-MNIST (a prefix of the training set when the whole one does not fit)
#                 and the GPL-3 text word_embeddings trains on
#   wheels/       torch-tb-profiler (pure Python; the GPU machine has no registry), when present
#   build_dir.txt BUILD_DIR's absolute path: the plugin tests have it compiled in
# Usage: scripts/gpu_stage.sh            Environment: BUILD_DIR (default build),
#   TRAINSCOPE_GPU_KIT (default ../shared/gpu), FASHION_MNIST (default the Debian package's
#   folder), CUSTOM_PLUGIN_LIB, TB_PROFILER_WHEEL (a torch_tb_profiler wheel; default: the one
#   in .gpu-wheels/ if any, else pip download into it when pip can reach a registry).
# Then, on the GPU machine, with .gpu carried: scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
KIT=${TRAINSCOPE_GPU_KIT:-../shared/gpu}
FASHION_MNIST=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
LIMIT=$((64 * 1024 * 1024))
MARGIN=$((1024 * 1024))  # room for what the run writes back and for rounding
say() { printf 'gpu_stage: %s\n' "$*"; }
die() { printf 'gpu_stage: FAILED: %s\n' "$*" >&2; exit 1; }

[[ -x $BUILD_DIR/core/trainscope ]] || die "$BUILD_DIR/core/trainscope not found: build first (ninja -C $BUILD_DIR)"
[[ -f $KIT/collect-libs.sh ]] || die "$KIT/collect-libs.sh not found: set TRAINSCOPE_GPU_KIT"
BUILD_ABS=$(cd "$BUILD_DIR" && pwd)
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib .gpu/plugins .gpu/test_plugins .gpu/custom_plugins .gpu/data .gpu/wheels
git check-ignore -q .gpu/ || die ".gpu is not ignored by git (.gitignore lists /.gpu/): it would travel twice"
echo "$BUILD_ABS" > .gpu/build_dir.txt

# Programs: what runs on CUDA, the tests that need a GPU, and every plugin test.
progs=()
add() { if [[ -x $BUILD_DIR/$1 ]]; then cp "$BUILD_DIR/$1" .gpu/bin/ && progs+=(".gpu/bin/$(basename "$1")"); else say "not built, left out: $1"; fi; }
for p in core/trainscope examples/fashion_mnist_cnn/fashion_mnist_cnn examples/dcgan/dcgan \
         examples/hparam_search/hparam_search examples/word_embeddings/word_embeddings \
         tests/cuda_test tests/trainer_test tests/pr_mesh_embedding_test; do
  add "$p"
done
while IFS= read -r t; do add "${t#"$BUILD_DIR"/}"; done < <(find "$BUILD_DIR/plugins" -maxdepth 2 -type f -name '*_plugin_test' | sort)
find "$BUILD_DIR" -maxdepth 3 -name 'libtrainscope_*.so*' -exec cp -P {} .gpu/lib/ \;
find "$BUILD_DIR/plugins" -maxdepth 1 -name '*.so' -exec cp {} .gpu/plugins/ \;
[[ -d $BUILD_DIR/tests/plugins ]] && find "$BUILD_DIR/tests/plugins" -maxdepth 1 -name '*.so' -exec cp {} .gpu/test_plugins/ \;

# The out-of-tree plugin, built the plugin author's way (install, then build against the prefix).
if [[ -n ${CUSTOM_PLUGIN_LIB:-} ]]; then
  cp "$CUSTOM_PLUGIN_LIB" .gpu/custom_plugins/
else
  work=$(mktemp -d -t trainscope-stage-plugin.XXXXXX)
  plugin_build=$(cd "${CUSTOM_PLUGIN_BUILD_DIR:-$BUILD_DIR}" && pwd)
  # A clean environment: the installed CLI must find its own libraries and plugins, not .gpu/'s.
  if env -u LD_LIBRARY_PATH -u TRAINSCOPE_PLUGIN_PATH DEVICE=cpu TRAINSCOPE_BUILD_DIR="$plugin_build" \
       bash scripts/custom_plugin.sh "$work" > "$work.log" 2>&1; then
    cp "$work/plugin-build/plugins/libweight_norm.so" .gpu/custom_plugins/
    say "custom plugin built against an install of $plugin_build: $(tail -1 "$work.log")"
  else
    tail -15 "$work.log" >&2
    die "scripts/custom_plugin.sh failed (log: $work.log); or give CUSTOM_PLUGIN_LIB"
  fi
  rm -rf "$work" "$work.log"
fi

strip --strip-unneeded .gpu/bin/* .gpu/lib/*.so.* .gpu/plugins/*.so .gpu/test_plugins/*.so .gpu/custom_plugins/*.so 2>/dev/null || true
LD_LIBRARY_PATH=.gpu/lib bash "$KIT/collect-libs.sh" .gpu/lib "${progs[@]}" .gpu/lib/*.so.* .gpu/plugins/*.so \
  .gpu/custom_plugins/*.so >/dev/null
cp "$KIT/gpu-env.sh" .gpu/lib/

# torch-tb-profiler, pure Python, for the profiler dashboard check.
wheel=${TB_PROFILER_WHEEL:-$(ls .gpu-wheels/torch_tb_profiler-0.4.3-*.whl 2>/dev/null | head -1 || true)}
if [[ -z $wheel ]] && python3 -m pip download --no-deps -q -d .gpu-wheels torch-tb-profiler==0.4.3 >/dev/null 2>&1; then
  wheel=$(ls .gpu-wheels/torch_tb_profiler-0.4.3-*.whl | head -1)
fi
if [[ -n $wheel ]]; then cp "$wheel" .gpu/wheels/; else say "no torch-tb-profiler wheel: its check will be SKIPPED"; fi

# Size so far: what travels anyway (tracked and untracked, not ignored, files) and .gpu/.
tree_bytes() {
  { git ls-files -z; git ls-files -z -o --exclude-standard; } | xargs -0 -r stat -c %s -- 2>/dev/null |
    awk '{s += $1} END {print s + 0}'
}
gpu_bytes() { du -sb .gpu | cut -f1; }
tree=$(tree_bytes)

# Data: the text, the validation set, the training labels; as many training images as fit.
cp /usr/share/common-licenses/GPL-3 .gpu/data/GPL-3 2>/dev/null || say "no /usr/share/common-licenses/GPL-3: word_embeddings will use its default"
mkdir -p .gpu/data/fashion-mnist
[[ -f $FASHION_MNIST/train-images-idx3-ubyte.gz ]] || die "$FASHION_MNIST/train-images-idx3-ubyte.gz not found (apt install dataset-fashion-mnist)"
cp "$FASHION_MNIST"/t10k-images-idx3-ubyte.gz "$FASHION_MNIST"/t10k-labels-idx1-ubyte.gz .gpu/data/fashion-mnist/
images=$FASHION_MNIST/train-images-idx3-ubyte.gz labels=$FASHION_MNIST/train-labels-idx1-ubyte.gz
room=$((LIMIT - MARGIN - tree - $(gpu_bytes)))
full=$(( $(stat -c %s "$images") + $(stat -c %s "$labels") ))
if (( full <= room )); then
  cp "$images" "$labels" .gpu/data/fashion-mnist/
  say "data: all 60000 training images"
else
  # A prefix of the training set, in thousands; IDX headers rewritten to the new count.
  keep=$(( (60000 * room / full) / 1000 * 1000 ))
  (( keep >= 6400 )) || die "only $room bytes left for data: $keep training images would be too few"
  python3 - "$images" "$labels" "$keep" .gpu/data/fashion-mnist <<'PY'
import gzip, struct, sys
from pathlib import Path
images, labels, keep, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
for src, item in ((images, 28 * 28), (labels, 1)):
    data = gzip.open(src).read()
    ndim = data[3]
    dims = list(struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim]))
    dims[0] = keep
    head = data[:4] + struct.pack(f">{ndim}I", *dims)
    body = data[4 + 4 * ndim: 4 + 4 * ndim + keep * item]
    with gzip.open(out / Path(src).name, "wb", compresslevel=9) as f:
        f.write(head + body)
PY
  say "data: the first $keep of 60000 training images (the whole set would pass the 64 MiB limit)"
fi

total=$((tree + $(gpu_bytes)))
say "staged .gpu: $(du -sh .gpu | cut -f1) (bin $(du -sh .gpu/bin | cut -f1), lib $(du -sh .gpu/lib | cut -f1), plugins $(du -sh .gpu/plugins | cut -f1), data $(du -sh .gpu/data | cut -f1))"
awk -v t="$tree" -v g="$(gpu_bytes)" 'BEGIN {m = 1048576; printf "gpu_stage: carry set: working tree %.1f MiB + .gpu %.1f MiB = %.1f MiB of 64 MiB\n", t / m, g / m, (t + g) / m}'
(( total <= LIMIT )) || die "the carry set is over 64 MiB"
say "OK. On the GPU machine (device tool, carry [\".gpu\"]): bash scripts/gpu_check.sh"
