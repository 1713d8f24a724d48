// EvalMode: puts a model, every submodule, in eval mode for a scope and gives each submodule
// its own mode back when the scope ends, exceptions included (a part someone froze in eval
// stays in eval). For plugins that run the model on fixed samples through ctx.forward()
// without updating BatchNorm statistics or drawing dropout masks.
#pragma once

#include <torch/nn/module.h>

#include <utility>
#include <vector>

namespace trainscope {

class EvalMode {
 public:
  explicit EvalMode(torch::nn::Module& model) {
    model.apply([this](torch::nn::Module& sub) { modes_.emplace_back(&sub, sub.is_training()); });
    model.eval();
  }
  ~EvalMode() {
    for (auto& [sub, training] : modes_) sub->train(training);  // pre-order: parents first, children win
  }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  std::vector<std::pair<torch::nn::Module*, bool>> modes_;
};

}  // namespace trainscope
