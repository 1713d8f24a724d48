// Activation taps. C++ modules have no forward hooks (pytorch/pytorch#25888), so a model marks
// the activations it offers: `x = trainscope::tap("conv1", x);` or a `trainscope::Tap` module
// in a Sequential. A tap costs one thread-local branch unless a plugin asked for it this step.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <string>
#include <string_view>

#include "trainscope/export.h"

namespace trainscope {

// What the core collects during one forward pass. Plugins request names through
// HookContext::request_activation; the core installs a TapSet around the forward pass.
class TRAINSCOPE_API TapSet {
 public:
  struct Request {
    bool with_grad = false;
  };
  void request(const std::string& name, bool with_grad) { requested_[name].with_grad |= with_grad; }
  void request_all(bool on) { all_ = on; }  // every tap (and every Sequential child)
  bool empty() const { return requested_.empty() && !all_; }
  void clear_captures() {
    values_.clear();
    grads_.clear();
  }
  void clear() {
    requested_.clear();
    all_ = false;
    clear_captures();
  }
  // Called from tap(): stores x (detached) when requested; for with_grad also hooks its grad.
  at::Tensor capture(std::string_view name, const at::Tensor& x);
  const std::map<std::string, at::Tensor>& values() const { return values_; }
  const std::map<std::string, at::Tensor>& grads() const { return grads_; }

 private:
  std::map<std::string, Request, std::less<>> requested_;
  bool all_ = false;
  std::map<std::string, at::Tensor> values_;
  std::map<std::string, at::Tensor> grads_;
};

namespace detail {
TRAINSCOPE_API extern thread_local TapSet* active_taps;
}  // namespace detail

// Installs `taps` as the active set on this thread for the scope's lifetime.
class TRAINSCOPE_API TapScope {
 public:
  explicit TapScope(TapSet* taps) : prev_(detail::active_taps) { detail::active_taps = taps && !taps->empty() ? taps : nullptr; }
  ~TapScope() { detail::active_taps = prev_; }
  TapScope(const TapScope&) = delete;
  TapScope& operator=(const TapScope&) = delete;

 private:
  TapSet* prev_;
};

// Marks `x` as the activation `name`; returns x unchanged.
inline at::Tensor tap(std::string_view name, const at::Tensor& x) {
  if (detail::active_taps == nullptr) return x;  // the common case: one branch
  return detail::active_taps->capture(name, x);
}

// An identity module that taps its input under its name, for Sequential models.
class TRAINSCOPE_API TapImpl : public torch::nn::Cloneable<TapImpl> {
 public:
  explicit TapImpl(std::string name) : name_(std::move(name)) {}
  void reset() override {}
  at::Tensor forward(const at::Tensor& x) { return tap(name_, x); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};
TORCH_MODULE(Tap);

}  // namespace trainscope
