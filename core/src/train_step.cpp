// TrainStep: the user train step's view of one batch (train_step.h).
#include "trainscope/train_step.h"

#include <stdexcept>

#include "trainscope/hook_bus.h"
#include "trainscope/hook_context.h"

namespace trainscope {
namespace {

template <typename T>
T& named(const std::map<std::string, T*>* all, const std::string& name, const char* what) {
  if (all != nullptr) {
    auto it = all->find(name);
    if (it != all->end() && it->second != nullptr) return *it->second;
  }
  std::string known;
  if (all != nullptr) {
    for (const auto& [n, p] : *all) known += (known.empty() ? "" : ", ") + n;
  }
  throw std::out_of_range(std::string("TrainStep: no ") + what + " named '" + name + "' (there are: " +
                          (known.empty() ? "none" : known) + "; name them in Trainer::set_" + what + "s)");
}

}  // namespace

torch::nn::Module& TrainStep::model(const std::string& name) const { return named(models_, name, "model"); }

torch::optim::Optimizer& TrainStep::optimizer(const std::string& name) const {
  return named(optimizers_, name, "optimizer");
}

void TrainStep::report_loss(const std::string& name, const at::Tensor& loss) {
  if (!loss.defined()) throw std::invalid_argument("TrainStep::report_loss('" + name + "'): the tensor is undefined");
  if (loss.numel() != 1) {
    throw std::invalid_argument("TrainStep::report_loss('" + name + "'): a loss is one value, got " +
                                std::to_string(loss.numel()) + " (take its mean first)");
  }
  const at::Tensor value = loss.detach().reshape({});
  if (first_loss_ != nullptr && !first_loss_->defined()) *first_loss_ = value;
  (*losses_)[name] = value;
}

void TrainStep::report_output(const std::string& name, const at::Tensor& output) {
  (*outputs_)[name] = output.detach();
}

void TrainStep::emit(Hook hook, const std::string& model, const std::string& optimizer) {
  if (hook != Hook::kAfterForward && hook != Hook::kAfterBackward && hook != Hook::kBeforeOptimizerStep &&
      hook != Hook::kAfterOptimizerStep) {
    throw std::invalid_argument(std::string("TrainStep::emit: ") + hook_name(hook) +
                                " is not a hook inside a batch (after_forward, after_backward, "
                                "before_optimizer_step, after_optimizer_step)");
  }
  if (bus_ == nullptr || ctx_ == nullptr) return;
  HookContext& ctx = *ctx_;
  torch::nn::Module* const primary_model = ctx.model_;
  torch::optim::Optimizer* const primary_optimizer = ctx.optimizer_;
  if (!model.empty()) ctx.model_ = &this->model(model);
  if (!optimizer.empty()) ctx.optimizer_ = &this->optimizer(optimizer);
  ctx.loss_ = first_loss_ != nullptr ? *first_loss_ : at::Tensor();
  try {
    bus_->emit(hook, ctx);
  } catch (...) {
    ctx.model_ = primary_model;
    ctx.optimizer_ = primary_optimizer;
    throw;
  }
  ctx.model_ = primary_model;
  ctx.optimizer_ = primary_optimizer;
}

}  // namespace trainscope
