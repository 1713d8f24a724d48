// HookBus::emit cost: a hook nobody subscribed to (the inline mask test; target <= 5 ns) and a
// hook 8 no-op plugins loaded from a real .so subscribe to (target <= 100 ns: 8 calls through
// the descriptor's invoke, cadence and a TSC read each).
//
// The plugins are tests/plugins/noop.cpp (libtest_noop.so, built with the tests), found in
// $TRAINSCOPE_BENCH_PLUGIN_DIR or the build's tests/plugins directory.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "trainscope/hook_bus.h"
#include "trainscope/plugin_loader.h"

#ifndef TRAINSCOPE_TEST_PLUGIN_DIR
#define TRAINSCOPE_TEST_PLUGIN_DIR ""
#endif

namespace {

std::string noop_library() {
  const char* env = std::getenv("TRAINSCOPE_BENCH_PLUGIN_DIR");
  const std::string dir = env && *env ? env : TRAINSCOPE_TEST_PLUGIN_DIR;
  return dir + "/libtest_noop.so";
}

// A bus with `n` noop instances (subscribed to train_batch_end), every_n_steps as given.
std::unique_ptr<trainscope::HookBus> make_bus(int n, int64_t every_n_steps, std::string* error) {
  auto bus = std::make_unique<trainscope::HookBus>();
  if (n == 0) return bus;
  try {
    auto library = trainscope::PluginLibrary::open(noop_library());
    for (int i = 0; i < n; ++i) {
      trainscope::PluginConfig config;
      config.name = "noop";
      config.cadence.every_n_steps = every_n_steps;
      bus->add(std::make_unique<trainscope::PluginInstance>(library, trainscope::Options{}), config);
    }
  } catch (const std::exception& e) {
    *error = std::string(e.what()) + " (build test_noop or set TRAINSCOPE_BENCH_PLUGIN_DIR)";
    return nullptr;
  }
  return bus;
}

void BM_EmitNoSubscriber(benchmark::State& state) {
  std::string error;
  auto bus = make_bus(static_cast<int>(state.range(0)), 0, &error);
  if (!bus) return state.SkipWithError(error.c_str());
  trainscope::HookContext ctx;
  for (auto _ : state) {
    bus->emit(trainscope::Hook::kAfterBackward, ctx);  // the noops subscribe to train_batch_end only
    benchmark::ClobberMemory();                        // reload the mask every iteration
  }
}
BENCHMARK(BM_EmitNoSubscriber)->Arg(0)->Arg(8)->ArgName("plugins_on_other_hooks");

void BM_Emit8NoopPlugins(benchmark::State& state) {
  std::string error;
  auto bus = make_bus(8, state.range(0), &error);
  if (!bus) return state.SkipWithError(error.c_str());
  trainscope::HookContext ctx;
  for (auto _ : state) {
    bus->emit(trainscope::Hook::kTrainBatchEnd, ctx);
    ++ctx.step_;
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * 8);
}
// every_n_steps = 0: all 8 called each time; 50: the cadence skips 49 of 50 steps.
BENCHMARK(BM_Emit8NoopPlugins)->Arg(0)->Arg(50)->ArgName("every_n_steps");

}  // namespace

BENCHMARK_MAIN();
