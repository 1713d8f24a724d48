#!/usr/bin/env bash
# Sanitizer jobs on the torch-free SDK (libtorch is not instrumented): ASan+UBSan over every
# torch-free unit test, then ThreadSanitizer over the event writer's concurrency tests.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${TRAINSCOPE_JOBS:-$(nproc)}
common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRAINSCOPE_BUILD_BENCH=OFF
        -DTRAINSCOPE_BUILD_EXAMPLES=OFF -DTRAINSCOPE_BUILD_PLUGINS=OFF)

cmake -S . -B build-asan "${common[@]}" -DTRAINSCOPE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$JOBS" --target torch_free_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L torchfree --no-tests=error --output-on-failure -j "$JOBS"

cmake -S . -B build-tsan "${common[@]}" -DTRAINSCOPE_TSAN=ON >/dev/null
cmake --build build-tsan -j "$JOBS" --target event_writer_test
TSAN_OPTIONS="halt_on_error=1" ctest --test-dir build-tsan -R 'EventWriter\.' --no-tests=error --output-on-failure
