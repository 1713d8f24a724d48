#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang-14, ASan + UBSan) and runs each for
# SECONDS (default 30) on a copy of its seed corpus in tests/fuzz/corpus/<target>/. Fails on
# the first crash, leak, timeout or sanitizer report; the reproducer is left in
# build-fuzz/artifacts/<target>/ (replay: build-fuzz/<target> <file>).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_event_reader fuzz_elf_probe fuzz_config)
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/trainscope-ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake -S tests/fuzz -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_FUZZ" \
  "${launcher[@]}" >/dev/null
ninja -C "$BUILD" -j"${FUZZ_JOBS:-2}" "${TARGETS[@]}"

status=0
for t in "${TARGETS[@]}"; do
  corpus="$BUILD/corpus/$t"  # grows while fuzzing; the committed seeds stay as they are
  artifacts="$BUILD/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== $t: ${SECONDS_EACH}s"
  if ! ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
      "$BUILD/$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" 2>"$BUILD/$t.log"; then
    tail -n 60 "$BUILD/$t.log"
    echo "fuzz: $t FAILED (reproducer in $artifacts/)" >&2
    status=1
    continue
  fi
  # "#N DONE cov: .. corp: UNITS/SIZE": N executions, the corpus kept in memory at the end.
  grep -E "^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)" "$BUILD/$t.log" || true
  echo "corpus dir: $(ls "$corpus" | wc -l) files"
done
exit $status
