#!/usr/bin/env bash
# Stages what the GPU machine needs into .gpu/ (ignored by git): the built programs and
# libraries from BUILD_DIR, the non-torch shared libraries they need (collect-libs.sh from the
# shared GPU kit) and gpu-env.sh. Then run scripts/gpu_check.sh there with .gpu carried.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
KIT=${TRAINSCOPE_GPU_KIT:-../shared/gpu}
rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib .gpu/plugins
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
progs=()
for p in tests/cuda_test tests/summary_writer_test examples/sdk_demo/sdk_demo core/trainscope; do
  [ -x "$BUILD_DIR/$p" ] && cp "$BUILD_DIR/$p" .gpu/bin/ && progs+=(".gpu/bin/$(basename "$p")")
done
find "$BUILD_DIR" -maxdepth 3 -name 'libtrainscope_*.so*' -exec cp -P {} .gpu/lib/ \;
[ -d "$BUILD_DIR/plugins" ] && find "$BUILD_DIR/plugins" -maxdepth 1 -name '*.so' -exec cp {} .gpu/plugins/ \;
strip --strip-unneeded .gpu/bin/* .gpu/lib/*.so.* .gpu/plugins/*.so 2>/dev/null || true
LD_LIBRARY_PATH=.gpu/lib bash "$KIT/collect-libs.sh" .gpu/lib "${progs[@]}" .gpu/lib/*.so.* >/dev/null
cp "$KIT/gpu-env.sh" .gpu/
du -sh .gpu
