// The trainer's named profiler ranges (core/src/step_ranges.h: data loading, zero_grad,
// forward, backward, optimizer step) cost per training step: five ranges with no profiler
// running (the usual case: a RecordFunction that finds no callback), against an empty loop,
// and the same five while Kineto records them (what a profiled step pays for them).
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/optim/sgd.h>

#include <set>
#include <vector>

#include "step_ranges.h"

namespace {

namespace kp = torch::autograd::profiler;
namespace td = trainscope::detail;

void five_ranges(const td::OptimizerRanges& names) {
  td::StepRange data(td::kDataLoaderRange);
  data.end();
  { td::StepRange zero_grad(names.zero_grad); }
  td::StepRange forward(td::kForwardRange);
  forward.end();
  td::StepRange backward(td::kBackwardRange);
  backward.end();
  { td::StepRange step(names.step); }
}

const td::OptimizerRanges& names() {
  static const auto* n = [] {
    std::vector<at::Tensor> params{at::zeros({1})};
    torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.1));
    return new td::OptimizerRanges(sgd);
  }();
  return *n;
}

void BM_EmptyStep(benchmark::State& state) {
  for (auto _ : state) benchmark::ClobberMemory();
}
BENCHMARK(BM_EmptyStep);

void BM_FiveRangesNoProfiler(benchmark::State& state) {
  const auto& n = names();
  for (auto _ : state) {
    five_ranges(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_FiveRangesNoProfiler);

// Recorded: the events pile up until the profiler stops, so the iterations are bounded.
void BM_FiveRangesKinetoRecording(benchmark::State& state) {
  const auto& n = names();
  const kp::ProfilerConfig config(kp::ProfilerState::KINETO, false, false, false);
  const std::set<torch::profiler::impl::ActivityType> cpu{torch::profiler::impl::ActivityType::CPU};
  kp::prepareProfiler(config, cpu);
  kp::enableProfiler(config, cpu);
  for (auto _ : state) {
    five_ranges(n);
    benchmark::ClobberMemory();
  }
  kp::disableProfiler();  // after the timed loop: collecting the events is not counted
}
BENCHMARK(BM_FiveRangesKinetoRecording)->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
