#!/usr/bin/env bash
# The plugin author's path, end to end: install the built tree into a fresh prefix, check the
# package (headers, libraries, CMake config, the `trainscope` CLI), build the out-of-tree
# plugin project examples/custom_plugin against that prefix alone, load it with the installed
# CLI in a short training run, and check that its summaries were written.
#
#   scripts/custom_plugin.sh [WORK_DIR]
#
# WORK_DIR (default: a new temporary directory) receives prefix/, plugin-build/ and runs/.
# Environment: TRAINSCOPE_BUILD_DIR (default build/), JOBS (default 2), DEVICE (run.device,
# default auto: CUDA when present). Needs the main build done (the CLI, the libraries).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TRAINSCOPE_BUILD_DIR:-$ROOT/build}
WORK=${1:-$(mktemp -d -t trainscope-custom-plugin.XXXXXX)}
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-auto}
PREFIX=$WORK/prefix
PLUGIN_BUILD=$WORK/plugin-build
LOGS=$WORK/runs

say() { printf 'custom_plugin.sh: %s\n' "$*"; }
die() { printf 'custom_plugin.sh: FAILED: %s\n' "$*" >&2; exit 1; }

[[ -x $BUILD/core/trainscope ]] || die "$BUILD/core/trainscope not found: build the project first (cmake --build $BUILD)"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
PREFIX=$WORK/prefix PLUGIN_BUILD=$WORK/plugin-build LOGS=$WORK/runs
rm -rf "$PREFIX" "$PLUGIN_BUILD" "$LOGS"

# 1. Install into a prefix of its own and check what a plugin author relies on.
say "installing $BUILD into $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 || { tail -20 "$WORK/install.log" >&2; die "cmake --install $BUILD (is everything built? cmake --build $BUILD)"; }
for f in include/trainscope/plugin.h include/trainscope/summary_writer.h include/trainscope/hook_context.h \
         include/trainscope/trainer.h include/trainscope/config.h \
         lib/libtrainscope_sdk.so lib/libtrainscope_events.so lib/libtrainscope_proto.so lib/libtrainscope_core.so \
         lib/cmake/trainscope/trainscopeConfig.cmake lib/cmake/trainscope/trainscopeConfigVersion.cmake \
         lib/cmake/trainscope/trainscopeTargets.cmake lib/cmake/trainscope/TrainscopePlugin.cmake bin/trainscope; do
  [[ -e $PREFIX/$f ]] || die "the install lacks $f"
done
ls "$PREFIX"/include/trainscope/proto/*.pb.h >/dev/null 2>&1 || die "the install lacks the generated proto headers"
"$PREFIX/bin/trainscope" plugins >"$WORK/plugins_installed.txt" 2>&1 || die "$PREFIX/bin/trainscope plugins failed"
grep -q "^  $PREFIX/lib/trainscope/plugins\$" "$WORK/plugins_installed.txt" ||
  die "the installed CLI does not search $PREFIX/lib/trainscope/plugins: $(head -4 "$WORK/plugins_installed.txt")"
say "install ok: headers, libraries, CMake package, bin/trainscope, $(grep -c '^[a-z_]* [0-9]' "$WORK/plugins_installed.txt") bundled plugins"

# 2. Configure and build the plugin project against the prefix only (no package registry, so
#    nothing can resolve to the build tree).
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
say "configuring examples/custom_plugin against $PREFIX"
cmake -S "$ROOT/examples/custom_plugin" -B "$PLUGIN_BUILD" "${GEN[@]}" "${LAUNCHER[@]}" \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  >"$WORK/configure.log" 2>&1 || { tail -40 "$WORK/configure.log" >&2; die "configuring the plugin project"; }
found=$(sed -n 's/^trainscope_DIR:PATH=//p' "$PLUGIN_BUILD/CMakeCache.txt")
[[ $found == "$PREFIX/lib/cmake/trainscope" ]] || die "find_package(trainscope) used $found, not the prefix"
say "building the plugin"
# ccache (when configured above) rewrites paths under WORK as relative ones, so a run in
# another WORK_DIR reuses the compilation.
CCACHE_BASEDIR=$WORK cmake --build "$PLUGIN_BUILD" -j "$JOBS" >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; die "building the plugin"; }
LIB=$PLUGIN_BUILD/plugins/libweight_norm.so
[[ -f $LIB ]] || die "$LIB was not built"
# Everything must come from the prefix: no include directory or library of the source tree.
if grep -rqsE "$ROOT/(sdk|core|proto)/|$BUILD/(sdk|core|proto)/" "$PLUGIN_BUILD"/build.ninja "$PLUGIN_BUILD"/CMakeFiles/*.dir/flags.make; then
  die "the plugin build refers to the source tree or its build directory instead of $PREFIX"
fi
"$PREFIX/bin/trainscope" plugins --path "$PLUGIN_BUILD/plugins" >"$WORK/plugins.txt" 2>&1 || die "trainscope plugins --path"
grep -q '^weight_norm 1.0.0' "$WORK/plugins.txt" || { cat "$WORK/plugins.txt" >&2; die "the installed CLI does not list weight_norm"; }
say "plugin ok: $LIB"

# 3. A short run with the installed CLI: 512 samples, one epoch, the plugin every 4 steps.
RUN=(run "$ROOT/examples/custom_plugin/run.toml" --path "$PLUGIN_BUILD/plugins"
     --set "run.log_dir=\"$LOGS\"" --set "run.device=\"$DEVICE\"" --set trainer.epochs=1
     --set data.train_limit=512 --set data.val_limit=256 --set plugin.weight_norm.every_n_steps=4)
"$PREFIX/bin/trainscope" validate "${RUN[@]:1}" || die "trainscope validate"
say "running: $PREFIX/bin/trainscope ${RUN[*]}"
"$PREFIX/bin/trainscope" "${RUN[@]}" || die "trainscope run"

# 4. The plugin's summaries are in the run (read back by the installed CLI's reader).
"$PREFIX/bin/trainscope" inspect "$LOGS/custom_plugin" >"$WORK/inspect.txt" || { cat "$WORK/inspect.txt" >&2; die "inspect"; }
grep -E '^  weight_norm/total +scalar +2 +4\.\.8 ' "$WORK/inspect.txt" >/dev/null ||
  { cat "$WORK/inspect.txt" >&2; die "weight_norm/total is not in the run (2 values at steps 4..8 expected)"; }
grep -E '^  weight_norm/conv1\.weight +scalar' "$WORK/inspect.txt" >/dev/null ||
  { cat "$WORK/inspect.txt" >&2; die "weight_norm/conv1.weight is not in the run"; }
grep -E '^  weight_norm/' "$WORK/inspect.txt"
say "OK: the out-of-tree plugin built against $PREFIX and logged to $LOGS/custom_plugin"
