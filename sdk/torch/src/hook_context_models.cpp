// HookContext's named models, optimizers, losses and outputs (plugin ABI 2.1). A context the
// core filled before 2.1 (or one built by hand, in tests) has null maps: it answers as a
// trainer of one model named "model" with no named losses.
#include "trainscope/hook_context.h"

namespace trainscope {
namespace {

const std::map<std::string, at::Tensor>& no_tensors() {
  static const std::map<std::string, at::Tensor> empty;
  return empty;
}

template <typename T>
T* find_named(const std::map<std::string, T*>& named, const std::string& name) {
  auto it = named.find(name);
  return it == named.end() ? nullptr : it->second;
}

}  // namespace

const std::map<std::string, torch::nn::Module*>& HookContext::models() const {
  if (models_ != nullptr) return *models_;
  thread_local std::map<std::string, torch::nn::Module*> one;
  one.clear();
  if (model_ != nullptr) one.emplace("model", model_);
  return one;
}

const std::map<std::string, torch::optim::Optimizer*>& HookContext::optimizers() const {
  if (optimizers_ != nullptr) return *optimizers_;
  thread_local std::map<std::string, torch::optim::Optimizer*> one;
  one.clear();
  if (optimizer_ != nullptr) one.emplace("model", optimizer_);
  return one;
}

torch::nn::Module* HookContext::model(const std::string& name) const { return find_named(models(), name); }

torch::optim::Optimizer* HookContext::optimizer(const std::string& name) const {
  return find_named(optimizers(), name);
}

const std::map<std::string, at::Tensor>& HookContext::losses() const {
  return losses_ != nullptr ? *losses_ : no_tensors();
}

const std::map<std::string, at::Tensor>& HookContext::named_outputs() const {
  return named_outputs_ != nullptr ? *named_outputs_ : no_tensors();
}

}  // namespace trainscope
