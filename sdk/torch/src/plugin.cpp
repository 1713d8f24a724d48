// Out-of-line pieces of the plugin API: hook names, the host fingerprint, HookContext helpers,
// the thread-local tap set.
#include "trainscope/plugin.h"

#include <cstring>

#include "trainscope/tap.h"

namespace trainscope {

Plugin::~Plugin() = default;

namespace {
constexpr const char* kHookNames[kHookCount] = {
#define TRAINSCOPE_HOOK_NAME_(E, n, c, doc) #n,
    TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_NAME_)
#undef TRAINSCOPE_HOOK_NAME_
};
}  // namespace

const char* hook_name(Hook hook) {
  const int i = static_cast<int>(hook);
  return i >= 0 && i < kHookCount ? kHookNames[i] : "unknown";
}

bool hook_from_name(const char* name, Hook* out) {
  for (int i = 0; i < kHookCount; ++i) {
    if (std::strcmp(kHookNames[i], name) == 0) {
      if (out) *out = static_cast<Hook>(i);
      return true;
    }
  }
  return false;
}

const char* host_build_fingerprint() { return TRAINSCOPE_BUILD_FINGERPRINT; }

at::Tensor HookContext::activation(const std::string& name) const {
  auto it = taps_->values().find(name);
  return it == taps_->values().end() ? at::Tensor() : it->second;
}

at::Tensor HookContext::activation_grad(const std::string& name) const {
  auto it = taps_->grads().find(name);
  return it == taps_->grads().end() ? at::Tensor() : it->second;
}

at::Tensor HookContext::forward(const at::Tensor& x, TapSet* taps) const {
  if (forward_ == nullptr || !*forward_) throw std::logic_error("HookContext::forward: the core set no model forward");
  return (*forward_)(x, taps);
}

void HookContext::request_stop(const std::string& reason) {
  if (!*stop_requested_) *stop_reason_ = reason.empty() ? plugin_name() : plugin_name() + ": " + reason;
  *stop_requested_ = true;
}

namespace detail {
thread_local TapSet* active_taps = nullptr;
}  // namespace detail

at::Tensor TapSet::capture(std::string_view name, const at::Tensor& x) {
  bool with_grad = false;
  if (!all_) {
    auto it = requested_.find(name);
    if (it == requested_.end()) return x;
    with_grad = it->second.with_grad;
  }
  std::string key(name);
  values_[key] = x.detach();
  if (with_grad && x.requires_grad()) {
    // The hook runs during backward; it stores the gradient of this activation.
    auto* grads = &grads_;
    x.register_hook([grads, key](const at::Tensor& g) {
      (*grads)[key] = g.detach();
      return g;
    });
  }
  return x;
}

}  // namespace trainscope
