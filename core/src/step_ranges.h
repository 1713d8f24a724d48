// Named profiler ranges around the phases of a training step, under the names PyTorch gives
// them, so that trace viewers that classify by name (the PyTorch Profiler TensorBoard plugin,
// torch-tb-profiler) find the data loading and the optimizer step of a libtorch loop:
//
//   enumerate(DataLoader)#BatchLoader.__next__   fetching the batch (PyTorch's DataLoader
//                                                iterator: enumerate(DataLoader)#<iter>.__next__)
//   Optimizer.zero_grad#<Optimizer>.zero_grad    optimizer.zero_grad() (as torch.optim names it)
//   trainscope::forward                          the model's forward and the loss
//   trainscope::backward                         loss.backward(), gradient all-reduce, unscale
//   Optimizer.step#<Optimizer>.step              optimizer.step() (as torch.optim names it)
//
// They are recorded as operator ranges (RecordScope::FUNCTION, "cpu_op" in the trace), not as
// user annotations: torch-tb-profiler 0.4.3 drops every "user_annotation" event except the
// ProfilerStep#N ranges, which is why PyTorch 2's own DataLoader range shows 0 there.
//
// Cost: with no profiler (no RecordFunction callback) a range is one check of the callback
// lists on construction and nothing else (bench/bench_step_ranges.cpp measures it).
#pragma once

#include <ATen/record_function.h>
#include <c10/util/Type.h>
#include <torch/optim/optimizer.h>

#include <string>
#include <string_view>
#include <typeinfo>

namespace trainscope::detail {

inline constexpr std::string_view kDataLoaderRange = "enumerate(DataLoader)#BatchLoader.__next__";
inline constexpr std::string_view kForwardRange = "trainscope::forward";
inline constexpr std::string_view kBackwardRange = "trainscope::backward";

// A range from construction to end() (or destruction); nothing recorded when no profiler runs.
class StepRange {
 public:
  explicit StepRange(std::string_view name) : range_(at::RecordScope::FUNCTION) {
    if (C10_UNLIKELY(range_.isActive())) range_.before(name);
  }
  void end() { range_.end(); }  // idempotent: end() clears the callbacks it ran

 private:
  at::RecordFunction range_;
};

// The optimizer's ranges, named after its class as torch.optim does ("Optimizer.step#Adam.step").
struct OptimizerRanges {
  std::string zero_grad, step;

  explicit OptimizerRanges(const torch::optim::Optimizer& optimizer) {
    std::string name = c10::demangle(typeid(optimizer).name());  // e.g. torch::optim::Adam
    if (const auto colon = name.rfind("::"); colon != std::string::npos) name.erase(0, colon + 2);
    zero_grad = "Optimizer.zero_grad#" + name + ".zero_grad";
    step = "Optimizer.step#" + name + ".step";
  }
};

}  // namespace trainscope::detail
