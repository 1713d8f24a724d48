// The instrumented forward of a TorchScript module (private to the SDK): a copy of forward's
// graph with every submodule call inlined and its output tapped by module path.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>
#include <vector>

namespace trainscope::detail {

class TappedForward {
 public:
  explicit TappedForward(const torch::jit::Module& module);
  at::Tensor run(const torch::jit::Module& module, const at::Tensor& x) const;
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::shared_ptr<torch::jit::GraphFunction> function_;
  std::vector<std::string> paths_;
};

}  // namespace trainscope::detail
